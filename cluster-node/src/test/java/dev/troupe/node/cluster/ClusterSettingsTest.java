package dev.troupe.node.cluster;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class ClusterSettingsTest {
    private static ClusterSettings parse(String hocon) {
        return ClusterSettings.from(ConfigFactory.parseString(hocon).withFallback(ConfigFactory.parseResources("reference.conf")).resolve());
    }

    @Test
    void defaultsFormOwnClusterOverAeronWithBothRoles() {
        ClusterSettings s = parse("troupe.cluster.transport = aeron-udp");
        assertTrue(s.formsOwnCluster());
        assertEquals(Set.of("gateway", "worker"), s.roles());
        Config p = s.pekko();
        assertEquals("aeron-udp", p.getString("pekko.remote.artery.transport"));
        assertTrue(p.getBoolean("pekko.remote.artery.advanced.aeron.embedded-media-driver"));
        assertTrue(p.getBoolean("pekko.remote.artery.advanced.aeron.delete-aeron-dir"));
        assertTrue(p.getString("pekko.remote.artery.advanced.aeron.aeron-dir").contains("troupe-aeron-"));
        assertEquals(1, p.getInt("pekko.remote.artery.advanced.aeron.idle-cpu-level"));
        assertEquals(List.of(), p.getStringList("pekko.cluster.seed-nodes"));
        assertEquals("keep-majority", p.getString("pekko.cluster.split-brain-resolver.active-strategy"));
    }

    @Test
    void seedsBecomePekkoAddressesAndEnvironmentListsAreCommaSeparated() {
        ClusterSettings s = parse("troupe.cluster { port = 25521, seeds = \"10.0.0.1:25520, 10.0.0.2:25520\", roles = \"worker\", transport = tcp }");
        assertEquals(List.of("pekko://troupe@10.0.0.1:25520", "pekko://troupe@10.0.0.2:25520"), s.pekko().getStringList("pekko.cluster.seed-nodes"));
        assertEquals(Set.of("worker"), s.roles());
        assertFalse(s.isGateway());
        assertEquals(25521, s.pekko().getInt("pekko.remote.artery.canonical.port"));
        assertFalse(s.pekko().hasPath("pekko.remote.artery.advanced.aeron.aeron-dir"));
    }

    @Test
    void badSettingsAreRefusedWithWhatIsWrong() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse("troupe.cluster { port = 25521, seeds = [\"nohost\"] }"))
                .getMessage().contains("HOST:PORT"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse("troupe.cluster { port = 25521, seeds = [\"h:0\"] }"))
                .getMessage().contains("1..65535"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse("troupe.cluster.roles = [gateway, chef]"))
                .getMessage().contains("chef"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse("troupe.cluster.transport = quic"))
                .getMessage().contains("quic"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse("troupe.cluster.seeds = [\"h:25520\"]"))
                .getMessage().contains("--cluster-port"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse("troupe.cluster.roles = []"))
                .getMessage().contains("roles"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse("troupe.cluster.aeron-idle-cpu-level = 11"))
                .getMessage().contains("1..10"));
    }

    @Test
    void anUnauthenticatedClusterPortOffLoopbackNeedsADeclaredTrustedNetwork() {
        String off = "troupe.cluster { host = \"10.0.0.11\", port = 25520, transport = tcp }";
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse(off));
        assertTrue(e.getMessage().contains("troupe.cluster.trusted-network"), e.getMessage());
        assertEquals("10.0.0.11", parse(off + "\ntroupe.cluster.trusted-network = on").host());
        assertEquals("localhost", parse("troupe.cluster.host = localhost").host());
        assertEquals("::1", parse("troupe.cluster.host = \"::1\"").host());
        assertThrows(IllegalArgumentException.class, () -> parse("troupe.cluster.host = \"node1.internal\""));
    }
}
