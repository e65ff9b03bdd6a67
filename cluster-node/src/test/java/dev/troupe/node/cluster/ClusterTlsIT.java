package dev.troupe.node.cluster;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.troupe.node.ServeCommand;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Mutual TLS on the cluster port: nodes whose certificates the trust store holds form a cluster; a process
 * with a certificate of its own (not trusted) cannot join. Real actor systems over Artery TLS on loopback.
 */
class ClusterTlsIT {
    @TempDir Path dir;

    /** keytool from this JVM: a self-signed key pair in a PKCS12 store, its certificate exported. */
    private Path keyPair(String name) throws Exception {
        Path store = dir.resolve(name + ".p12");
        keytool("-genkeypair", "-alias", name, "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=" + name, "-validity", "2",
                "-storetype", "PKCS12", "-keystore", store.toString(), "-storepass", "pw-" + name, "-keypass", "pw-" + name);
        keytool("-exportcert", "-alias", name, "-keystore", store.toString(), "-storepass", "pw-" + name, "-file", dir.resolve(name + ".crt").toString());
        return store;
    }

    private Path trustStore(String name, String... certs) throws Exception {
        Path store = dir.resolve(name + ".p12");
        for (String c : certs) {
            keytool("-importcert", "-noprompt", "-alias", c, "-file", dir.resolve(c + ".crt").toString(), "-storetype", "PKCS12",
                    "-keystore", store.toString(), "-storepass", "trust-pw");
        }
        return store;
    }

    private static void keytool(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "keytool").toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), "keytool " + String.join(" ", args) + ": " + out);
    }

    private ActorSystem<Void> node(String name, Path keyStore, Path trust) {
        Config troupe = ConfigFactory.parseString("troupe.cluster { transport = tcp, port = 0, tls { key-store = \"" + keyStore
                + "\", key-store-password = \"pw-" + name + "\", trust-store = \"" + trust + "\", trust-store-password = \"trust-pw\" } }")
                .withFallback(ConfigFactory.parseResources("reference.conf")).resolve();
        ClusterSettings settings = ClusterSettings.from(troupe);
        assertEquals("tls-tcp", settings.pekko().getString("pekko.remote.artery.transport"));
        return ActorSystem.create(Behaviors.empty(), ClusterSettings.SYSTEM, settings.pekko()
                .withFallback(ConfigFactory.parseString("pekko.loglevel = WARNING\n"
                        // A refused handshake is retried until this; shutdown waits for it, so keep it short here.
                        + "pekko.remote.artery.advanced.handshake-timeout = 8 s")).withFallback(ServeCommand.nodeDefaults()).resolve());
    }

    private static long up(ActorSystem<?> s) {
        return java.util.stream.StreamSupport.stream(Cluster.get(s).state().getMembers().spliterator(), false)
                .filter(m -> m.status() == MemberStatus.up()).count();
    }

    @Test
    void trustedNodesJoinAndAStrangerCannot() throws Exception {
        Path a = keyPair("node-a"), b = keyPair("node-b"), x = keyPair("stranger");
        Path trust = trustStore("cluster-trust", "node-a", "node-b");
        Path strangerTrust = trustStore("stranger-trust", "node-a", "node-b", "stranger");
        List<ActorSystem<Void>> systems = new ArrayList<>();
        try {
            ActorSystem<Void> first = node("node-a", a, trust);
            systems.add(first);
            ActorSystem<Void> second = node("node-b", b, trust);
            systems.add(second);
            Cluster.get(first).manager().tell(Join.create(Cluster.get(first).selfMember().address()));
            Cluster.get(second).manager().tell(Join.create(Cluster.get(first).selfMember().address()));
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (up(first) < 2) {
                assertTrue(System.nanoTime() < until, "the trusted nodes did not form a cluster over TLS");
                Thread.sleep(20);
            }
            // The stranger trusts the cluster, but the cluster does not trust its certificate.
            ActorSystem<Void> stranger = node("stranger", x, strangerTrust);
            systems.add(stranger);
            Cluster.get(stranger).manager().tell(Join.create(Cluster.get(first).selfMember().address()));
            Thread.sleep(5000);
            assertEquals(2, up(first), "a node with an untrusted certificate joined");
            assertNotEquals(MemberStatus.up(), Cluster.get(stranger).selfMember().status());
        } finally {
            // All at once: the stranger's refused handshakes must not hold the others' shutdown behind its own.
            systems.forEach(ActorSystem::terminate);
            for (ActorSystem<Void> s : systems) {
                try {
                    s.getWhenTerminated().toCompletableFuture().get(60, TimeUnit.SECONDS);
                } catch (java.util.concurrent.TimeoutException e) {
                    fail(s.name() + " at " + Cluster.get(s).selfMember().address() + " did not terminate in 60 s");
                }
            }
        }
    }

    @Test
    void tlsLetsANodeLeaveLoopbackAndNeedsTcp() throws Exception {
        Path a = keyPair("node-a");
        Path trust = trustStore("t", "node-a");
        String tls = "tls { key-store = \"" + a + "\", key-store-password = \"pw-node-a\", trust-store = \"" + trust
                + "\", trust-store-password = \"trust-pw\" }";
        Config base = ConfigFactory.parseResources("reference.conf");
        ClusterSettings s = ClusterSettings.from(ConfigFactory.parseString("troupe.cluster { host = \"10.0.0.11\", port = 25520, transport = tcp, "
                + tls + " }").withFallback(base).resolve());
        assertEquals("10.0.0.11", s.host());
        assertFalse(s.toString().contains("pw-node-a"), "a password in the settings' text: " + s);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClusterSettings.from(ConfigFactory.parseString(
                "troupe.cluster { transport = aeron-udp, " + tls + " }").withFallback(base).resolve()));
        assertTrue(e.getMessage().contains("transport = tcp"), e.getMessage());
    }
}
