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
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A whole cluster stopped (SIGTERM, every node) and started again on the same journal: deployments, traffic
 * weights, tenants, keys and history are as before, the same replicas are placed, and the cluster serves.
 */
class ClusterRestartIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MODEL = "stories";
    private static final Duration READY = Duration.ofSeconds(120);
    private static Path dir;
    private static Path model;
    private static ClusterJournal journal;
    private static final List<NodeProcess> nodes = new ArrayList<>();
    private static final List<Integer> clusterPorts = new ArrayList<>();

    @BeforeAll
    static void prepare() throws Exception {
        model = NodeProcess.referenceModel();
        journal = ClusterJournal.create();
        dir = Files.createTempDirectory("troupe-cluster-restart-it");
        for (int i = 0; i < 3; i++) clusterPorts.add(NodeProcess.freePort());
    }

    @AfterAll
    static void cleanUp() throws Exception {
        for (NodeProcess n : nodes) n.close();
        if (journal != null) journal.close();
    }

    /** Three nodes on the same cluster ports and data dirs each time; node1 is the others' seed. */
    private static void startCluster() throws Exception {
        nodes.clear();
        nodes.add(NodeProcess.start("node1", dir, model, MODEL, journal.url(), clusterPorts.get(0), List.of()).awaitReady(READY));
        for (int i = 1; i < 3; i++) {
            nodes.add(NodeProcess.start("node" + (i + 1), dir, model, MODEL, journal.url(), clusterPorts.get(i), List.of(clusterPorts.get(0))));
        }
        for (NodeProcess n : nodes) n.awaitReady(READY);
    }

    private static void stopCluster() throws Exception {
        for (int i = nodes.size() - 1; i >= 0; i--) {
            assertEquals(NodeProcess.SIGTERM_EXIT, nodes.get(i).stop(Duration.ofSeconds(90)), nodes.get(i).tail());
        }
    }

    private static JsonNode admin(String method, String path, String body, int expected) throws Exception {
        HttpResponse<String> r = nodes.get(0).admin(method, path, body);
        assertEquals(expected, r.statusCode(), method + " " + path + ": " + r.body());
        return r.body().isEmpty() ? null : JSON.readTree(r.body());
    }

    /** What must survive: the registry's state and history, the placement, the tenant and its history. */
    private static String snapshot() throws Exception {
        JsonNode m = admin("GET", "/admin/models/" + MODEL, null, 200);
        // Each version's phase on this node ("node") is the node's, not the registry's: it restarts.
        m.get("versions").forEach(v -> ((com.fasterxml.jackson.databind.node.ObjectNode) v).remove("node"));
        ObjectMapper sorted = new ObjectMapper().configure(com.fasterxml.jackson.databind.SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, true);
        StringBuilder out = new StringBuilder();
        for (String field : List.of("versions", "deployments", "traffic", "live")) out.append(field).append('=').append(sorted.writeValueAsString(
                sorted.treeToValue(m.get(field), Object.class))).append('\n');
        out.append("history=").append(admin("GET", "/admin/models/" + MODEL + "/history", null, 200)).append('\n');
        out.append("tenant=").append(admin("GET", "/admin/tenants/acme", null, 200)).append('\n');
        out.append("tenant-history=").append(admin("GET", "/admin/tenants/acme/history", null, 200)).append('\n');
        return out.toString();
    }

    private static int completion(NodeProcess g, String key) throws Exception {
        return g.post("/v1/completions", "{\"model\":\"" + MODEL + "\",\"prompt\":\"Hi\",\"max_tokens\":4,\"temperature\":0}", key).statusCode();
    }

    @Test
    void aStoppedAndRestartedClusterComesBackAsItWas() throws Exception {
        startCluster();
        String m = "/admin/models/" + MODEL;
        String sha = admin("GET", m, null, 200).get("versions").get("v1").get("sha256").asText();
        admin("POST", m + "/deployments", "{\"version\":\"v1\",\"replicas\":3}", 202);
        admin("POST", m + "/versions", "{\"version\":\"v2\",\"path\":\"" + model.toAbsolutePath() + "\",\"sha256\":\"" + sha + "\"}", 201);
        admin("POST", m + "/deployments", "{\"version\":\"v2\",\"replicas\":1}", 202);
        admin("PUT", m + "/traffic", "{\"weights\":{\"v1\":90,\"v2\":10}}", 200);
        admin("POST", "/admin/tenants", "{\"id\":\"acme\",\"weight\":2,\"quotas\":{\"requests_per_minute\":1000},\"models\":[\"" + MODEL + "\"]}", 201);
        String key = admin("POST", "/admin/tenants/acme/keys", null, 201).get("key").asText();
        String revoked = admin("POST", "/admin/tenants/acme/keys", null, 201).get("keyId").asText();
        admin("DELETE", "/admin/tenants/acme/keys/" + revoked, null, 200);
        for (NodeProcess g : nodes) assertEquals(200, completion(g, key));
        // v1 with three replicas and v2 with one: four replicas, at most one of each version per node.
        String before = snapshot();
        Set<String> placedBefore = placedVersions();

        stopCluster();
        startCluster();

        String after = snapshot();
        assertEquals(before, after, "registry, tenant and their histories after the restart");
        // The same replicas are placed, one per node for each version. Nodes that stopped one after the other
        // left in turn, and the last ones running took the replicas they could: which node runs which may differ.
        Set<String> placedAfter = placedVersions();
        assertEquals(keys(placedBefore), keys(placedAfter), "the same replicas placed: " + placedAfter);
        assertEquals(placedAfter.size(), new TreeSet<>(placedAfter.stream().map(p -> p.replaceAll("#\\d+", "")).toList()).size(),
                "at most one replica of a version per node: " + placedAfter);
        for (NodeProcess g : nodes) {
            assertEquals(200, completion(g, key), "the key still works through " + g.name);
            assertEquals(401, completion(g, "tk-not-a-key"));
        }
        stopCluster();
    }

    private static Set<String> keys(Set<String> placed) {
        Set<String> out = new TreeSet<>();
        for (String p : placed) out.add(p.substring(0, p.indexOf(" on ")));
        return out;
    }

    /** model@version#index on node, for every placed replica (placement publishes within a second or two). */
    private static Set<String> placedVersions() throws Exception {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            Set<String> out = new TreeSet<>();
            for (JsonNode a : admin("GET", "/admin/cluster", null, 200).get("placement").get("assignments")) {
                out.add(a.get("replica").asText() + " on " + a.get("node").asText());
            }
            if (out.size() >= 4) return out;
            assertTrue(System.nanoTime() < until, "placement: " + out);
            Thread.sleep(200);
        }
    }
}
