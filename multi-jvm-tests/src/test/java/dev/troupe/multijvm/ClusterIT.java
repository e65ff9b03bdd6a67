package dev.troupe.multijvm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Three real node JVMs on 127.0.0.1 form one cluster over Aeron UDP with a shared PostgreSQL journal; a
 * fourth joins and leaves. Everything is driven over HTTP, as a user would.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MODEL = "stories";
    private static final Duration READY = Duration.ofSeconds(120);
    private static Path dir;
    private static ClusterJournal journal;
    private static final List<NodeProcess> nodes = new ArrayList<>();

    @BeforeAll
    static void startCluster() throws Exception {
        Path model = NodeProcess.referenceModel();
        journal = ClusterJournal.create();
        dir = Files.createTempDirectory("troupe-cluster-it");
        int seed = NodeProcess.freePort();
        nodes.add(NodeProcess.start("node1", dir, model, MODEL, journal.url(), seed, List.of()).awaitReady(READY));
        nodes.add(NodeProcess.start("node2", dir, model, MODEL, journal.url(), NodeProcess.freePort(), List.of(seed)));
        nodes.add(NodeProcess.start("node3", dir, model, MODEL, journal.url(), NodeProcess.freePort(), List.of(seed)));
        for (NodeProcess n : nodes) n.awaitReady(READY);
    }

    @AfterAll
    static void stopCluster() throws Exception {
        for (NodeProcess n : nodes) n.close();
        if (journal != null) journal.close();
    }

    static String completion(String prompt, int maxTokens) {
        return "{\"model\":\"" + MODEL + "\",\"prompt\":" + JSON.valueToTree(prompt) + ",\"max_tokens\":" + maxTokens + ",\"temperature\":0}";
    }

    private static String header(HttpResponse<?> r, String name) {
        return r.headers().firstValue(name).orElse(null);
    }

    /** Until every gateway has routed requests to all of these nodes' replicas (announcements take a moment). */
    static void awaitReplicasOn(List<NodeProcess> gateways, Set<String> nodesExpected) throws Exception {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        for (NodeProcess g : gateways) {
            Set<String> seen = new TreeSet<>();
            while (!seen.containsAll(nodesExpected)) {
                assertTrue(System.nanoTime() < until, g.name + " routed only to " + seen + ", expected " + nodesExpected);
                HttpResponse<String> r = g.post("/v1/completions", completion("Hi", 1));
                assertEquals(200, r.statusCode(), r.body());
                seen.add(header(r, "X-Troupe-Node"));
            }
        }
    }

    static Set<String> clusterAddresses(List<NodeProcess> ns) {
        Set<String> out = new TreeSet<>();
        for (NodeProcess n : ns) out.add("127.0.0.1:" + n.clusterPort);
        return out;
    }

    @Test
    @Order(1)
    void aModelDeployedWithThreeReplicasGetsOnePerNodeAndEveryGatewayServesTheReferenceTexts() throws Exception {
        // `serve` deploys v1 with one replica: scaling it to three puts one on every node.
        HttpResponse<String> scaled = nodes.get(1).admin("POST", "/admin/models/" + MODEL + "/deployments", "{\"version\":\"v1\",\"replicas\":3}");
        assertEquals(202, scaled.statusCode(), scaled.body());
        awaitReplicasOn(nodes, clusterAddresses(nodes));
        List<String> lines = Files.readAllLines(NodeProcess.sharedModel("stories260K-greedy.jsonl"));
        Set<String> served = new TreeSet<>();
        for (NodeProcess g : nodes) {
            for (String line : lines) {
                if (line.isBlank()) continue;
                JsonNode ref = JSON.readTree(line);
                for (int rep = 0; rep < 2; rep++) {
                    HttpResponse<String> r = g.post("/v1/completions", completion(ref.get("prompt").asText(), ref.get("max_tokens").asInt()));
                    assertEquals(200, r.statusCode(), r.body());
                    assertEquals(ref.get("completion").asText(), JSON.readTree(r.body()).get("choices").get(0).get("text").asText(),
                            "reference text through " + g.name + " from " + header(r, "X-Troupe-Node"));
                    assertEquals("v1", header(r, "X-Troupe-Version"));
                    served.add(header(r, "X-Troupe-Node"));
                }
            }
        }
        assertEquals(clusterAddresses(nodes), served, "replicas on all three nodes served");
        for (NodeProcess g : nodes) {
            assertEquals(401, g.get("/admin/cluster").statusCode());
            JsonNode c = JSON.readTree(g.admin("GET", "/admin/cluster", null).body());
            assertEquals("127.0.0.1:" + g.clusterPort, c.get("self").asText());
            Set<String> up = new TreeSet<>();
            for (JsonNode m : c.get("members")) {
                if (m.get("status").asText().equals("up") && m.get("reachable").asBoolean()) up.add(m.get("node").asText());
                assertEquals("[\"gateway\",\"worker\"]", m.get("roles").toString());
            }
            assertEquals(clusterAddresses(nodes), up);
            Set<String> replicaNodes = new TreeSet<>();
            for (JsonNode r : c.get("replicas")) {
                assertEquals(MODEL, r.get("model").asText());
                assertEquals("v1", r.get("version").asText());
                assertEquals("ready", r.get("state").asText());
                assertTrue(r.get("kv_blocks_total").asInt() > 0);
                assertEquals(r.get("node").asText() + "/0", r.get("slice").asText(), r.toString());
                replicaNodes.add(r.get("node").asText());
            }
            assertEquals(clusterAddresses(nodes), replicaNodes, "one replica per node in " + g.name + "'s view");
            // Each replica holds its memory on a slice of its node, granted by the slice entity.
            Set<String> holding = new TreeSet<>();
            for (JsonNode sl : c.get("slices")) {
                long reserved = sl.get("memory_reserved_bytes").asLong();
                assertTrue(sl.get("threads").asInt() >= 1, sl.toString());
                assertTrue(reserved <= sl.get("memory_total_bytes").asLong(), sl.toString());
                if (sl.get("replicas").toString().contains("\"" + MODEL + "@v1\"")) {
                    assertTrue(reserved > 0, sl.toString());
                    holding.add(sl.get("node").asText());
                }
            }
            assertEquals(replicaNodes, holding, c.get("slices").toString());
        }
    }

    @Test
    @Order(2)
    void aRollbackThroughOneGatewayTakesEffectOnEveryGateway() throws Exception {
        NodeProcess first = nodes.get(0);
        String m = "/admin/models/" + MODEL;
        String path = NodeProcess.sharedModel("stories260K-f32.gguf").toAbsolutePath().toString();
        String sha = JSON.readTree(first.admin("GET", m, null).body()).get("versions").get("v1").get("sha256").asText();
        assertEquals(201, first.admin("POST", m + "/versions", "{\"version\":\"v2\",\"path\":\"" + path + "\",\"sha256\":\"" + sha + "\"}").statusCode());
        assertEquals(202, first.admin("POST", m + "/deployments", "{\"version\":\"v2\",\"replicas\":3}").statusCode());
        List<Long> millis = new ArrayList<>();
        for (int round = 0; round < 6; round++) {
            NodeProcess via = nodes.get(round % 3);
            HttpResponse<String> promoted = via.admin("POST", m + "/promote", "{\"version\":\"v2\"}");
            assertEquals(200, promoted.statusCode(), promoted.body());
            for (NodeProcess g : nodes) awaitVersion(g, "v2", Duration.ofSeconds(60));
            HttpResponse<String> back = via.admin("POST", m + "/rollback", "{\"reason\":\"round " + round + "\"}");
            assertEquals(200, back.statusCode(), back.body());
            long t0 = System.nanoTime();
            for (NodeProcess g : nodes) awaitVersion(g, "v1", Duration.ofSeconds(10));
            millis.add(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        }
        Collections.sort(millis);
        System.out.println("rollback propagation to every gateway (ms, sorted): " + millis + " p50 " + millis.get(millis.size() / 2)
                + " max " + millis.get(millis.size() - 1));
        assertTrue(millis.get(millis.size() - 1) < 5_000, "rollback reached every gateway within 5 s: " + millis);
    }

    private static void awaitVersion(NodeProcess g, String version, Duration limit) throws Exception {
        long until = System.nanoTime() + limit.toNanos();
        while (true) {
            HttpResponse<String> r = g.post("/v1/completions", completion("Hi", 1));
            if (r.statusCode() == 200 && version.equals(header(r, "X-Troupe-Version"))) return;
            assertTrue(System.nanoTime() < until, g.name + " still serves " + header(r, "X-Troupe-Version") + " (" + r.statusCode()
                    + "), expected " + version);
            Thread.sleep(5);
        }
    }

    @Test
    @Order(3)
    void aJoiningNodeTakesTheNewReplicaThenLeavesOnSigtermWithRequestsInFlightAndNoneFailsAndAnotherJoiningNodeTakesItsReplica()
            throws Exception {
        Path model = NodeProcess.sharedModel("stories260K-f32.gguf");
        NodeProcess fourth = NodeProcess.start("node4", dir, model, MODEL, journal.url(), NodeProcess.freePort(),
                List.of(nodes.get(0).clusterPort)).awaitReady(READY);
        List<NodeProcess> all = new ArrayList<>(nodes);
        all.add(fourth);
        try {
            // Three replicas on three nodes: the fourth runs none until the deployment is scaled to four.
            assertEquals(Set.of(), replicaNodesOf(fourth, "v1").stream().filter(n -> n.endsWith(":" + fourth.clusterPort)).collect(
                    java.util.stream.Collectors.toSet()));
            assertEquals(202, nodes.get(2).admin("POST", "/admin/models/" + MODEL + "/deployments", "{\"version\":\"v1\",\"replicas\":4}").statusCode());
            awaitReplicasOn(nodes, clusterAddresses(all));
            ExecutorService clients = Executors.newFixedThreadPool(24);
            List<Future<HttpResponse<String>>> inFlight = new ArrayList<>();
            CompletableFuture<Integer> stopping = null;
            String reference = JSON.readTree(Files.readAllLines(NodeProcess.sharedModel("stories260K-greedy.jsonl")).get(1))
                    .get("completion").asText();
            for (int i = 0; i < 72; i++) {
                NodeProcess g = nodes.get(i % 3);
                inFlight.add(clients.submit(() -> g.post("/v1/completions", completion("Once upon a time", 80))));
                if (i == 24) stopping = CompletableFuture.supplyAsync(() -> {
                    try {
                        return fourth.stop(Duration.ofSeconds(60));
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                });
            }
            for (Future<HttpResponse<String>> f : inFlight) {
                HttpResponse<String> r = f.get(120, TimeUnit.SECONDS);
                assertEquals(200, r.statusCode(), r.body());
                assertEquals(reference, JSON.readTree(r.body()).get("choices").get(0).get("text").asText());
            }
            clients.shutdown();
            assertEquals(NodeProcess.SIGTERM_EXIT, stopping.get(90, TimeUnit.SECONDS), "node4 ended its shutdown:\n" + fourth.tail());
            // The survivors keep serving; the fourth replica has nowhere to go (one per node) and says why.
            for (NodeProcess g : nodes) assertEquals(200, g.post("/v1/completions", completion("Hi", 4)).statusCode());
            awaitUnplaceable(nodes.get(0), MODEL + "@v1#3");
        } finally {
            fourth.close();
        }
        // A new node joins: the replica is placed there; measure from its start to its replica serving.
        long t0 = System.nanoTime();
        NodeProcess fifth = NodeProcess.start("node5", dir, model, MODEL, journal.url(), NodeProcess.freePort(),
                List.of(nodes.get(0).clusterPort));
        try {
            List<NodeProcess> now = new ArrayList<>(nodes);
            now.add(fifth);
            awaitReplicasOn(nodes, clusterAddresses(now));
            System.out.println("re-placement onto a joining node: " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0)
                    + " ms from its start to its replica serving");
        } finally {
            assertEquals(NodeProcess.SIGTERM_EXIT, fifth.stop(Duration.ofSeconds(60)), fifth.tail());
            fifth.close();
        }
    }

    @Test
    @Order(4)
    void aTenantsQuotaHoldsAcrossThreeGateways() throws Exception {
        NodeProcess first = nodes.get(0);
        HttpResponse<String> created = first.admin("POST", "/admin/tenants",
                "{\"id\":\"metered\",\"quotas\":{\"requests_per_minute\":60},\"models\":[\"" + MODEL + "\"]}");
        assertEquals(201, created.statusCode(), created.body());
        String key = JSON.readTree(first.admin("POST", "/admin/tenants/metered/keys", null).body()).get("key").asText();
        awaitKeyEverywhere(key); // before the flood starts
        // Three clients, one per gateway, as fast as they can for 8 s: one minute's quota is 60 requests in all
        // (the three probes above included).
        java.util.concurrent.atomic.AtomicInteger ok = new java.util.concurrent.atomic.AtomicInteger(nodes.size());
        java.util.concurrent.atomic.AtomicInteger limited = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.atomic.AtomicInteger other = new java.util.concurrent.atomic.AtomicInteger();
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(8);
        List<Thread> clients = new ArrayList<>();
        for (NodeProcess g : nodes) {
            Thread t = new Thread(() -> {
                try {
                    while (System.nanoTime() < end) {
                        HttpResponse<String> r = g.post("/v1/completions", completion("Hi", 1), key);
                        if (r.statusCode() == 200) ok.incrementAndGet();
                        else if (r.statusCode() == 429 && r.headers().firstValue("Retry-After").isPresent()) limited.incrementAndGet();
                        else other.incrementAndGet();
                    }
                } catch (Exception e) {
                    other.incrementAndGet();
                }
            });
            t.start();
            clients.add(t);
        }
        for (Thread t : clients) t.join();
        System.out.println("quota of 60 requests/minute through three gateways: " + ok.get() + " admitted, " + limited.get()
                + " refused with 429");
        assertEquals(0, other.get(), "every request ends with 200 or 429 + Retry-After");
        assertTrue(ok.get() <= 66, "the quota held across gateways within 10%: " + ok.get() + " admitted");
        assertTrue(ok.get() >= 54, "the quota was usable: " + ok.get() + " admitted");
        assertTrue(limited.get() > 0);
    }

    @Test
    @Order(5)
    void aNodeThatLeavesHasItsReplicaPlacedAgainOnASurvivorWithRoom() throws Exception {
        // v2 (warm since the rollbacks) scaled down to two replicas: one of the three nodes has room for one.
        NodeProcess first = nodes.get(0);
        assertEquals(202, first.admin("POST", "/admin/models/" + MODEL + "/deployments", "{\"version\":\"v2\",\"replicas\":2}").statusCode());
        Set<String> hosts = awaitReadyReplicas(first, "v2", 2, Set.of());
        // A node running v2 other than the first (the first holds the placement singleton as the oldest).
        NodeProcess leaving = nodes.stream().filter(n -> n != first && hosts.contains("127.0.0.1:" + n.clusterPort)).findFirst().orElseThrow();
        long t0 = System.nanoTime();
        assertEquals(NodeProcess.SIGTERM_EXIT, leaving.stop(Duration.ofSeconds(90)), leaving.tail());
        long stopped = System.nanoTime();
        Set<String> after = awaitReadyReplicas(first, "v2", 2, Set.of("127.0.0.1:" + leaving.clusterPort));
        long done = System.nanoTime();
        System.out.println("re-placement onto a survivor: " + TimeUnit.NANOSECONDS.toMillis(done - t0) + " ms from SIGTERM ("
                + TimeUnit.NANOSECONDS.toMillis(stopped - t0) + " ms of them the node's own drain and exit) to two ready replicas of v2 on "
                + after);
        nodes.remove(leaving);
    }

    @Test
    @Order(6)
    void aMessageOfAnUnregisteredClassFromAnotherJvmIsRefusedAndTheClusterKeepsWorking() throws Exception {
        NodeProcess target = nodes.get(0);
        Path root = NodeProcess.root();
        String cp = root.resolve("multi-jvm-tests/target/test-classes") + java.io.File.pathSeparator
                + root.resolve("cluster-node/target/troupe-cluster-node.jar") + java.io.File.pathSeparator
                + root.resolve("cluster-node/target/lib") + "/*";
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(java, "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED"));
        if (Runtime.version().feature() >= 24) cmd.addAll(List.of("--sun-misc-unsafe-memory-access=allow", "--enable-native-access=ALL-UNNAMED"));
        cmd.addAll(List.of("-cp", cp, "dev.troupe.multijvm.Intruder", "127.0.0.1:" + target.clusterPort, "127.0.0.1:" + target.clusterPort));
        Path out = dir.resolve("intruder.log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the intruder did not finish:\n" + Files.readString(out));
        assertEquals(0, p.exitValue(), Files.readString(out));
        assertTrue(Files.readString(out).contains("intruder: sent"), Files.readString(out));
        // The node refused it on reading, naming the unknown id, and said how to register a class.
        String log = Files.readString(target.log);
        assertTrue(log.contains("Refused a message of") && log.contains("not registered for the wire"), target.tail());
        // The cluster keeps working: every node up and reachable, every gateway answers (as a tenant with no quota:
        // the metered one used its minute up in test 4), and a tenant created now is known everywhere.
        assertEquals(201, target.admin("POST", "/admin/tenants", "{\"id\":\"after\",\"models\":[\"" + MODEL + "\"]}").statusCode());
        String key = JSON.readTree(target.admin("POST", "/admin/tenants/after/keys", null).body()).get("key").asText();
        awaitKeyEverywhere(key);
        for (NodeProcess g : nodes) {
            JsonNode c = JSON.readTree(g.admin("GET", "/admin/cluster", null).body());
            for (JsonNode m : c.get("members")) {
                if (m.get("roles").toString().contains("gateway")) assertTrue(m.get("reachable").asBoolean(), c.toString());
            }
            assertEquals(200, g.post("/v1/completions", completion("Hi", 2), key).statusCode());
        }
    }

    /** Until every gateway knows a newly issued key (keys reach the nodes by pub-sub); each probe is one request. */
    private static void awaitKeyEverywhere(String key) throws Exception {
        for (NodeProcess g : nodes) {
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (g.post("/v1/completions", completion("Hi", 1), key).statusCode() == 401) {
                assertTrue(System.nanoTime() < until, g.name + " does not know the key");
                Thread.sleep(20);
            }
        }
    }

    /** Until n replicas of the version are ready on distinct nodes, none of them excluded; returns those nodes. */
    private static Set<String> awaitReadyReplicas(NodeProcess g, String version, int n, Set<String> excluded) throws Exception {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (true) {
            Set<String> ready = new TreeSet<>();
            for (JsonNode r : JSON.readTree(g.admin("GET", "/admin/cluster", null).body()).get("replicas")) {
                if (r.get("version").asText().equals(version) && r.get("state").asText().equals("ready")) ready.add(r.get("node").asText());
            }
            if (ready.size() == n && java.util.Collections.disjoint(ready, excluded)) return ready;
            assertTrue(System.nanoTime() < until, version + " ready on " + ready + ", expected " + n + " nodes without " + excluded);
            Thread.sleep(50);
        }
    }

    private static Set<String> replicaNodesOf(NodeProcess g, String version) throws Exception {
        Set<String> out = new TreeSet<>();
        for (JsonNode r : JSON.readTree(g.admin("GET", "/admin/cluster", null).body()).get("replicas")) {
            if (r.get("version").asText().equals(version)) out.add(r.get("node").asText());
        }
        return out;
    }

    private static void awaitUnplaceable(NodeProcess g, String replica) throws Exception {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            JsonNode why = JSON.readTree(g.admin("GET", "/admin/cluster", null).body()).get("placement").get("unplaceable").get(replica);
            if (why != null) {
                assertTrue(why.asText().contains("one per node"), why.asText());
                return;
            }
            assertTrue(System.nanoTime() < until, replica + " not reported unplaceable");
            Thread.sleep(100);
        }
    }
}
