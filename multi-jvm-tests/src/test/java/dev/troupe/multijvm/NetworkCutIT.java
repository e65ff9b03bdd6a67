package dev.troupe.multijvm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A worker in its own network namespace, cut off (its link down) while it streams: its requests move to the
 * other replicas and end exactly as uninterrupted; the split-brain resolver downs the cut-off minority (its
 * JVM exits); after the link returns the node, started again, rejoins and serves. Needs root and network
 * namespaces ({@code ip netns}); skipped with a message otherwise.
 */
class NetworkCutIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String NS = "troupe-cut";
    private static final String HOST_IP = "10.213.0.1";
    private static final String NS_IP = "10.213.0.2";
    private static Path dir;
    private static ClusterJournal journal;
    private static TcpForwarder postgres;
    private static final List<NodeProcess> nodes = new ArrayList<>();

    private static int sh(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        return p.waitFor(30, TimeUnit.SECONDS) ? p.exitValue() : -1;
    }

    private static void must(String... cmd) throws Exception {
        assertEquals(0, sh(cmd), String.join(" ", cmd));
    }

    @BeforeAll
    static void start() throws Exception {
        Path model = NodeProcess.referenceModel();
        sh("ip", "netns", "del", NS);
        sh("ip", "link", "del", "tr-host");
        Assumptions.assumeTrue(sh("ip", "netns", "add", NS) == 0,
                "network namespaces are not available here (needs root and ip netns): the network-cut scenario is skipped");
        must("ip", "link", "add", "tr-host", "type", "veth", "peer", "name", "tr-ns");
        must("ip", "link", "set", "tr-ns", "netns", NS);
        must("ip", "addr", "add", HOST_IP + "/24", "dev", "tr-host");
        must("ip", "link", "set", "tr-host", "up");
        must("ip", "netns", "exec", NS, "ip", "addr", "add", NS_IP + "/24", "dev", "tr-ns");
        must("ip", "netns", "exec", NS, "ip", "link", "set", "tr-ns", "up");
        must("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up");

        journal = ClusterJournal.create();
        // The namespace reaches this machine's PostgreSQL (loopback only) through the veth link.
        postgres = new TcpForwarder(HOST_IP, 15432, "127.0.0.1", 5432);
        dir = Files.createTempDirectory("troupe-network-cut-it");
        // Off loopback a node without tenants refuses to start unless anonymous access is meant, and its cluster port
        // unless the network is declared trusted (the namespace's veth link is this test's own): here both are.
        Map<String, String> env = Map.of("TROUPE_MAX_NUM_SEQS", "4", "TROUPE_ALLOW_ANONYMOUS", "on", "TROUPE_CLUSTER_TRUSTED_NETWORK", "on");
        NodeProcess.Where host = new NodeProcess.Where(HOST_IP, HOST_IP, List.of());
        int seed = NodeProcess.freePort();
        nodes.add(NodeProcess.start("node1", dir, model, "stories", journal.url(), seed, List.of(), env, host).awaitReady(java.time.Duration.ofSeconds(120)));
        nodes.add(NodeProcess.start("node2", dir, model, "stories", journal.url(), NodeProcess.freePort(), List.of(seed), env, host));
        nodes.add(startCutOff("node3", NodeProcess.freePort(), seed, model));
        for (NodeProcess n : nodes) n.awaitReady(java.time.Duration.ofSeconds(120));
        HttpResponse<String> scaled = nodes.get(0).admin("POST", "/admin/models/stories/deployments", "{\"version\":\"v1\",\"replicas\":3}");
        assertEquals(202, scaled.statusCode(), scaled.body());
        awaitReplica(nodes.get(2).clusterAddress());
    }

    /** A node inside the namespace: it listens on the namespace's address, its journal through the forwarder. */
    private static NodeProcess startCutOff(String name, int clusterPort, int seed, Path model) throws Exception {
        Map<String, String> env = Map.of("TROUPE_MAX_NUM_SEQS", "4", "TROUPE_ALLOW_ANONYMOUS", "on", "TROUPE_CLUSTER_TRUSTED_NETWORK", "on");
        String url = journal.url().replace("127.0.0.1:5432", HOST_IP + ":15432");
        return NodeProcess.start(name, dir, model, "stories", url, clusterPort, List.of(seed), env,
                new NodeProcess.Where(NS_IP, HOST_IP, List.of("ip", "netns", "exec", NS)));
    }

    private static void awaitReplica(String node) throws Exception {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (true) {
            for (JsonNode r : JSON.readTree(nodes.get(0).admin("GET", "/admin/cluster", null).body()).get("replicas")) {
                if (r.get("node").asText().equals(node) && r.get("state").asText().equals("ready")) return;
            }
            assertTrue(System.nanoTime() < until, "no ready replica on " + node);
            Thread.sleep(200);
        }
    }

    @AfterAll
    static void stop() throws Exception {
        for (NodeProcess n : nodes) n.close();
        if (postgres != null) postgres.close();
        if (journal != null) journal.close();
        sh("ip", "link", "del", "tr-host");
        sh("ip", "netns", "del", NS);
    }

    @Test
    void aCutOffWorkersRequestsMoveTheMinorityIsDownedAndTheNodeRejoinsAfterARestart() throws Exception {
        NodeProcess cut = nodes.get(2);
        long[] cutAt = new long[1];
        FailureDrill.Report r = FailureDrill.run(nodes.get(0), nodes.get(1), cut, 100, v -> {
            cutAt[0] = System.nanoTime();
            must("ip", "link", "set", "tr-host", "down");
        });
        System.out.printf("network cut: 100 requests, %d streams cut mid-way, %d continued, %d retried; longest pause max %d ms%n",
                r.cutStreams(), r.continued(), r.retried(), r.pause(100));
        assertEquals(0, r.lost());
        assertTrue(r.continued() + r.retried() > 0, "nothing moved off the cut-off node");

        // keep-majority: the two connected nodes down the cut-off one, which downs itself and exits.
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (cut.alive()) {
            assertTrue(System.nanoTime() < until, "the cut-off node did not down itself: " + cut.tail());
            Thread.sleep(500);
        }
        System.out.printf("network cut: the cut-off node exited %d s after the cut%n", (System.nanoTime() - cutAt[0]) / 1_000_000_000);

        must("ip", "link", "set", "tr-host", "up");
        NodeProcess again = startCutOff("node3-again", cut.clusterPort, nodes.get(0).clusterPort, NodeProcess.sharedModel("stories260K-f32.gguf"));
        nodes.set(2, again);
        again.awaitReady(java.time.Duration.ofSeconds(120));
        awaitReplica(again.clusterAddress());
        JsonNode c = JSON.readTree(nodes.get(0).admin("GET", "/admin/cluster", null).body());
        for (JsonNode m : c.get("members")) {
            assertEquals("up", m.get("status").asText(), c.get("members").toString());
            assertTrue(m.get("reachable").asBoolean(), c.get("members").toString());
        }
        assertEquals(3, c.get("members").size(), c.get("members").toString());
    }
}
