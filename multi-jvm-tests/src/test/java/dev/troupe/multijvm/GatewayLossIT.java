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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A gateway SIGKILLed mid-stream: the sequences it had running on other nodes' replicas stop within the
 * liveness bound (troupe.routing.liveness-timeout, 2 s, plus one check), their KV blocks free again, long
 * before the generations would have ended by themselves.
 */
class GatewayLossIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int REQUESTS = 150;
    private static final int MAX_TOKENS = 100;
    private static Path dir;
    private static ClusterJournal journal;
    private static final List<NodeProcess> nodes = new ArrayList<>();

    @BeforeAll
    static void startCluster() throws Exception {
        // The 15M model (context 128): generations of 100 tokens, one at a time per replica, run for many seconds.
        Path model = NodeProcess.modelForNodes("random15M-q8_0.gguf");
        journal = ClusterJournal.create();
        dir = Files.createTempDirectory("troupe-gateway-loss-it");
        nodes.addAll(NodeProcess.startCluster(3, dir, model, "noise", journal.url(), Map.of("TROUPE_MAX_NUM_SEQS", "1")));
        HttpResponse<String> scaled = nodes.get(0).admin("POST", "/admin/models/noise/deployments", "{\"version\":\"v1\",\"replicas\":3}");
        assertEquals(202, scaled.statusCode(), scaled.body());
    }

    @AfterAll
    static void stopCluster() throws Exception {
        for (NodeProcess n : nodes) n.close();
        if (journal != null) journal.close();
    }

    /** Per worker node: {running + queued, kv blocks free, kv blocks total}, as node1 sees the cluster. */
    private static Map<String, long[]> load() throws Exception {
        Map<String, long[]> out = new java.util.TreeMap<>();
        for (JsonNode r : JSON.readTree(nodes.get(0).admin("GET", "/admin/cluster", null).body()).get("replicas")) {
            out.put(r.get("node").asText(), new long[]{r.get("outstanding").asLong(), r.get("kv_blocks_free").asLong(), r.get("kv_blocks_total").asLong()});
        }
        return out;
    }

    @Test
    void aDeadGatewaysSequencesStopOnTheWorkersWithinTheLivenessBound() throws Exception {
        NodeProcess gateway = nodes.get(2);
        Set<String> workers = Set.of("127.0.0.1:" + nodes.get(0).clusterPort, "127.0.0.1:" + nodes.get(1).clusterPort);
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (!load().keySet().containsAll(workers)) {
            assertTrue(System.nanoTime() < until, "replicas on " + workers + ": " + load().keySet());
            Thread.sleep(100);
        }
        String body = "{\"model\":\"noise\",\"prompt\":\"Hello\",\"max_tokens\":" + MAX_TOKENS + ",\"temperature\":0,\"ignore_eos\":true,\"stream\":true}";
        List<CompletableFuture<HttpResponse<Stream<String>>>> streams = new ArrayList<>();
        for (int i = 0; i < REQUESTS; i++) streams.add(gateway.stream("/v1/completions", body));
        // Both other workers busy with this gateway's requests.
        until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            Map<String, long[]> l = load();
            if (workers.stream().allMatch(w -> l.containsKey(w) && l.get(w)[0] >= 2)) break;
            assertTrue(System.nanoTime() < until, "the workers never got busy");
            Thread.sleep(20);
        }
        String atKill = describe(load());
        long stepsAtKill = steps(nodes.get(0)) + steps(nodes.get(1));
        long killed = System.nanoTime();
        gateway.kill();
        // The workers' announcements trail by up to 250 ms: the bound checked is liveness (2 s) + one check (0.5 s) + 1.5 s.
        long freedMillis = -1;
        until = killed + TimeUnit.MILLISECONDS.toNanos(4000);
        while (System.nanoTime() < until) {
            Map<String, long[]> l = load();
            if (workers.stream().allMatch(w -> l.get(w)[0] == 0 && l.get(w)[1] == l.get(w)[2])) {
                freedMillis = (System.nanoTime() - killed) / 1_000_000;
                break;
            }
            Thread.sleep(50);
        }
        System.out.printf("gateway loss: its sequences on the workers (at the kill: %s) stopped and their KV blocks were free %d ms after the kill%n",
                atKill, freedMillis);
        assertTrue(freedMillis >= 0, "the dead gateway's sequences still run on the workers 4 s after the kill: " + describe(load()));
        // Stopped, not finished: the workers computed far fewer tokens than the requests wanted.
        long computed = steps(nodes.get(0)) + steps(nodes.get(1)) - stepsAtKill;
        System.out.printf("gateway loss: %d decode steps after the kill, of about %d the requests still wanted%n", computed, (long) REQUESTS * MAX_TOKENS * 2 / 3);
        assertTrue(computed < (long) REQUESTS * MAX_TOKENS / 3, computed + " steps after the kill: the generations ran on");
        for (var s : streams) s.cancel(true);
    }

    /** Forward steps a node's replica ran (one token per step here: one sequence at a time). */
    private static long steps(NodeProcess node) throws Exception {
        for (String line : node.get("/metrics").body().split("\n")) {
            if (line.startsWith("troupe_engine_steps_total{")) return (long) Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
        }
        return 0;
    }

    private static String describe(Map<String, long[]> l) {
        StringBuilder b = new StringBuilder();
        l.forEach((n, v) -> b.append(n).append(": outstanding ").append(v[0]).append(", kv free ").append(v[1]).append('/').append(v[2]).append("; "));
        return b.toString();
    }
}
