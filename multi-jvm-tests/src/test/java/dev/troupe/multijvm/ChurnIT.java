package dev.troupe.multijvm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A worker killed, restarted and rejoining three times in a row under steady load from a tenant (a new
 * kill about every 20 s): no request lost or wrong, and the tenant's usage ledger counts exactly the
 * tokens its clients received.
 */
class ChurnIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int CLIENTS = 6;
    private static Path dir;
    private static ClusterJournal journal;
    private static final List<NodeProcess> nodes = new ArrayList<>();

    @BeforeAll
    static void startCluster() throws Exception {
        journal = ClusterJournal.create();
        dir = Files.createTempDirectory("troupe-churn-it");
        nodes.addAll(NodeLossIT.threeReplicas(dir, journal));
    }

    @AfterAll
    static void stopCluster() throws Exception {
        for (NodeProcess n : nodes) n.close();
        if (journal != null) journal.close();
    }

    private record Reference(String prompt, int maxTokens, String completion) {}

    @Test
    void killRestartAndRejoinThreeTimesUnderLoadLosesNothingAndBillsExactly() throws Exception {
        NodeProcess first = nodes.get(0);
        NodeProcess second = nodes.get(1);
        assertEquals(201, first.admin("POST", "/admin/tenants", "{\"id\":\"acme\"}").statusCode());
        String key = JSON.readTree(first.admin("POST", "/admin/tenants/acme/keys", null).body()).get("key").asText();
        for (NodeProcess g : List.of(first, second)) {
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (g.post("/v1/completions", ClusterIT.completion("Hi", 1), key).statusCode() == 401) {
                assertTrue(System.nanoTime() < until, g.name + " does not know the key");
                Thread.sleep(20);
            }
        }
        // The key probes above are billed too: start counting from the ledger's total now.
        long[] before = totals(first);

        List<Reference> refs = new ArrayList<>();
        for (String line : Files.readAllLines(NodeProcess.sharedModel("stories260K-greedy.jsonl"))) {
            if (line.isBlank()) continue;
            JsonNode r = JSON.readTree(line);
            refs.add(new Reference(r.get("prompt").asText(), r.get("max_tokens").asInt(), r.get("completion").asText()));
        }
        AtomicBoolean stop = new AtomicBoolean();
        ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
        long[][] received = new long[CLIENTS][3]; // per client: requests, prompt tokens, completion tokens
        ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
        List<Future<?>> running = new ArrayList<>();
        for (int c = 0; c < CLIENTS; c++) {
            int client = c;
            running.add(clients.submit(() -> {
                for (int i = 0; !stop.get(); i++) {
                    Reference ref = refs.get((client + i) % refs.size());
                    NodeProcess gateway = (client + i) % 2 == 0 ? first : second;
                    FailureDrill.Got g = FailureDrill.read(gateway, FailureDrill.body(ref.prompt(), ref.maxTokens(), null, true).toString(), key);
                    if (!g.errors.isEmpty() || !g.done) failures.add("client " + client + " request " + i + ": " + g.errors);
                    else if (!ref.completion().equals(g.text.toString())) failures.add("client " + client + " request " + i + " text: " + g.text);
                    received[client][0]++;
                    received[client][1] += Math.max(0, g.promptTokens);
                    received[client][2] += Math.max(0, g.completionTokens);
                }
            }));
        }

        NodeProcess victim = nodes.get(2);
        for (int round = 1; round <= 3; round++) {
            Thread.sleep(15_000);
            victim.kill();
            Thread.sleep(2_000);
            victim = NodeProcess.start("node3-" + round, dir, NodeProcess.sharedModel("stories260K-f32.gguf"), "stories", journal.url(),
                    victim.clusterPort, List.of(first.clusterPort), java.util.Map.of("TROUPE_MAX_NUM_SEQS", "4"));
            nodes.set(2, victim);
            victim.awaitReady(java.time.Duration.ofSeconds(120));
            String address = "127.0.0.1:" + victim.clusterPort;
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (!hasReplica(first, address)) {
                assertTrue(System.nanoTime() < until, "round " + round + ": no replica on the restarted node");
                Thread.sleep(200);
            }
            System.out.printf("churn: round %d: the restarted node serves again%n", round);
        }
        Thread.sleep(5_000);
        stop.set(true);
        for (Future<?> f : running) f.get(180, TimeUnit.SECONDS);
        clients.shutdown();

        long requests = 0, prompt = 0, completion = 0;
        for (long[] r : received) {
            requests += r[0];
            prompt += r[1];
            completion += r[2];
        }
        System.out.printf("churn: %d requests through 3 kills and restarts, %d failed; moved: %d retried, %d continued, %d lost%n",
                requests, failures.size(), FailureDrill.moved(first, "retried") + FailureDrill.moved(second, "retried"),
                FailureDrill.moved(first, "continued") + FailureDrill.moved(second, "continued"),
                FailureDrill.moved(first, "lost") + FailureDrill.moved(second, "lost"));
        assertEquals(List.of(), List.copyOf(failures));
        long[] after = totals(first);
        assertEquals(requests, after[0] - before[0], "requests in the ledger");
        assertEquals(prompt, after[1] - before[1], "prompt tokens in the ledger");
        assertEquals(completion, after[2] - before[2], "completion tokens in the ledger: each token once");
    }

    private static boolean hasReplica(NodeProcess view, String node) throws Exception {
        for (JsonNode r : JSON.readTree(view.admin("GET", "/admin/cluster", null).body()).get("replicas")) {
            if (r.get("node").asText().equals(node) && r.get("state").asText().equals("ready")) return true;
        }
        return false;
    }

    /** The tenant's ledger totals: requests, prompt tokens, completion tokens. */
    private static long[] totals(NodeProcess node) throws Exception {
        HttpResponse<String> r = node.admin("GET", "/admin/tenants/acme/usage", null);
        assertEquals(200, r.statusCode(), r.body());
        JsonNode t = JSON.readTree(r.body()).get("total");
        return new long[]{t.path("requests").asLong(), t.path("prompt_tokens").asLong(), t.path("completion_tokens").asLong()};
    }
}
