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
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Tensor-parallel groups across real node JVMs: node1 has two slices, node2 and node3 one each. Deployed with
 * two replicas split over two slices, one group runs on node1's two slices (Aeron IPC) and the other spans
 * node2 and node3 (Aeron UDP). Both serve the reference greedy completions exactly; then the spanning group's
 * follower node is SIGKILLed while it streams, and every request completes with its uninterrupted text (the
 * group's requests continue on the other group).
 */
class TensorParallelIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static Path dir;
    private static ClusterJournal journal;
    private static final List<NodeProcess> nodes = new ArrayList<>();

    @BeforeAll
    static void startCluster() throws Exception {
        Path model = NodeProcess.referenceModel();
        journal = ClusterJournal.create();
        dir = Files.createTempDirectory("troupe-tp-it");
        Path twoSlices = dir.resolve("two-slices.conf");
        Files.writeString(twoSlices, "troupe.worker.slices = 2\n");
        Map<String, String> env = Map.of("TROUPE_MAX_NUM_SEQS", "4", "TROUPE_THREADS", "2");
        int seed = NodeProcess.freePort();
        nodes.add(NodeProcess.start("node1", dir, model, "stories", journal.url(), seed, List.of(), env, "--config", twoSlices.toString())
                .awaitReady(java.time.Duration.ofSeconds(120)));
        nodes.add(NodeProcess.start("node2", dir, model, "stories", journal.url(), NodeProcess.freePort(), List.of(seed), env));
        nodes.add(NodeProcess.start("node3", dir, model, "stories", journal.url(), NodeProcess.freePort(), List.of(seed), env));
        for (NodeProcess n : nodes) n.awaitReady(java.time.Duration.ofSeconds(120));
    }

    @AfterAll
    static void stopCluster() throws Exception {
        for (NodeProcess n : nodes) n.close();
        if (journal != null) journal.close();
    }

    /** The placed groups, once both replicas run as groups of two. */
    private static List<JsonNode> awaitGroups() throws Exception {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (true) {
            JsonNode assignments = JSON.readTree(nodes.get(0).admin("GET", "/admin/cluster", null).body()).get("placement").get("assignments");
            List<JsonNode> groups = new ArrayList<>();
            for (JsonNode a : assignments) if (a.has("group") && a.get("group").size() == 2) groups.add(a);
            if (groups.size() == 2 && assignments.size() == 2) return groups;
            assertTrue(System.nanoTime() < until, "the replicas were not placed as two groups of two: " + assignments);
            Thread.sleep(200);
        }
    }

    private static NodeProcess node(String address) {
        for (NodeProcess n : nodes) if (n.clusterAddress().equals(address)) return n;
        throw new AssertionError("no node " + address);
    }

    @Test
    void aGroupSpanningTwoNodesServesExactlyAndItsRequestsSurviveTheLossOfAFollowerNode() throws Exception {
        HttpResponse<String> deployed = nodes.get(0).admin("POST", "/admin/models/stories/deployments",
                "{\"version\":\"v1\",\"replicas\":2,\"tensorParallel\":2}");
        assertEquals(202, deployed.statusCode(), deployed.body());
        List<JsonNode> groups = awaitGroups();
        JsonNode local = null, spanning = null;
        for (JsonNode g : groups) {
            boolean oneNode = g.get("group").get(0).get("node").asText().equals(g.get("group").get(1).get("node").asText());
            if (oneNode) local = g;
            else spanning = g;
        }
        assertNotNull(local, "a group on node1's two slices: " + groups);
        assertNotNull(spanning, "a group over two nodes: " + groups);
        assertEquals(nodes.get(0).clusterAddress(), local.get("node").asText());
        NodeProcess leader = node(spanning.get("group").get(0).get("node").asText());
        NodeProcess follower = node(spanning.get("group").get(1).get("node").asText());
        // A new split replaces the whole replica (released, then the groups load): wait for both groups to serve.
        Set<String> ready = Set.of(nodes.get(0).clusterAddress(), leader.clusterAddress());
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        for (Set<String> seen = new TreeSet<>(); !seen.containsAll(ready); Thread.sleep(20)) {
            assertTrue(System.nanoTime() < until, "served only by " + seen + ", expected " + ready);
            HttpResponse<String> r = nodes.get(0).post("/v1/completions", ClusterIT.completion("Hi", 1));
            if (r.statusCode() == 200) seen.add(r.headers().firstValue("X-Troupe-Node").orElse("?"));
        }
        ClusterIT.awaitReplicasOn(nodes, ready);

        // Both groups serve the references exactly (the gateways spread requests over them).
        Set<String> servedBy = new TreeSet<>();
        for (String line : Files.readAllLines(NodeProcess.sharedModel("stories260K-greedy.jsonl"))) {
            if (line.isBlank()) continue;
            JsonNode ref = JSON.readTree(line);
            for (int rep = 0; rep < 4; rep++) {
                HttpResponse<String> r = nodes.get(rep % 3).post("/v1/completions", ClusterIT.completion(ref.get("prompt").asText(), ref.get("max_tokens").asInt()));
                assertEquals(200, r.statusCode(), r.body());
                assertEquals(ref.get("completion").asText(), JSON.readTree(r.body()).get("choices").get(0).get("text").asText());
                servedBy.add(r.headers().firstValue("X-Troupe-Node").orElse("?"));
            }
        }
        assertEquals(Set.of(nodes.get(0).clusterAddress(), leader.clusterAddress()), servedBy, "both groups served");

        FailureDrill.Report r = FailureDrill.run(nodes.get(0), leader, leader, follower, 120, NodeProcess::kill);
        System.out.printf("tensor-parallel follower node loss (SIGKILL): 120 requests, %d streams cut mid-way, %d continued, %d retried; "
                + "longest pause of a cut stream p50 %d ms, p99 %d ms, max %d ms%n", r.cutStreams(), r.continued(), r.retried(),
                r.pause(50), r.pause(99), r.pause(100));
        assertTrue(r.cutStreams() > 0, "the kill cut no stream of the spanning group mid-way");
        assertTrue(r.continued() >= r.cutStreams(), r.continued() + " continued, " + r.cutStreams() + " streams cut");
        assertEquals(0, r.lost());
    }
}
