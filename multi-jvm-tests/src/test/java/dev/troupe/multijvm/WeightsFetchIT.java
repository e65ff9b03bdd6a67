package dev.troupe.multijvm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A version registered on one node from a file only that node has is deployed to a node without it: that
 * node fetches the file from its peer (sha256-verified), loads it and serves it.
 */
class WeightsFetchIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MODEL = "stories";

    private static String sha256(Path file) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        md.update(Files.readAllBytes(file));
        return HexFormat.of().formatHex(md.digest());
    }

    @Test
    void aNodeFetchesAVersionsFileFromThePeerThatHasItAndServesIt() throws Exception {
        Path stories = NodeProcess.sharedModel("stories260K-f32.gguf");
        Path other = NodeProcess.sharedModel("random15M-q8_0.gguf");
        Assumptions.assumeTrue(Files.isRegularFile(stories) && Files.isRegularFile(other), "../shared/models not found");
        Assumptions.assumeTrue(Files.isRegularFile(NodeProcess.root().resolve("cluster-node/target/troupe-cluster-node.jar")),
                "the build is not packaged (mvn -DskipTests package)");
        Path dir = Files.createTempDirectory("troupe-weights-it");
        // v2's file: a copy only node 1 is told about (node 2 does not use other nodes' paths).
        Path v2 = Files.copy(other, dir.resolve("v2-only-on-node1.gguf"));
        String sha = sha256(v2);
        try (ClusterJournal journal = ClusterJournal.create();
             NodeProcess a = NodeProcess.start("node1", dir, stories, MODEL, journal.url(), NodeProcess.freePort(), List.of())
                     .awaitReady(Duration.ofSeconds(120));
             NodeProcess b = NodeProcess.start("node2", dir, stories, MODEL, journal.url(), NodeProcess.freePort(), List.of(a.clusterPort),
                     Map.of("TROUPE_WEIGHTS_SHARED_PATHS", "off")).awaitReady(Duration.ofSeconds(120))) {
            String m = "/admin/models/" + MODEL;
            assertEquals(201, a.admin("POST", m + "/versions", "{\"version\":\"v2\",\"path\":\"" + v2 + "\",\"sha256\":\"" + sha + "\"}").statusCode());
            assertEquals(202, a.admin("POST", m + "/deployments", "{\"version\":\"v2\",\"replicas\":2}").statusCode());
            HttpResponse<String> promoted = a.admin("POST", m + "/promote", "{\"version\":\"v2\"}");
            assertEquals(200, promoted.statusCode(), promoted.body());
            // Both nodes serve v2: node 2 from the copy it fetched.
            Set<String> served = new TreeSet<>();
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (served.size() < 2) {
                assertTrue(System.nanoTime() < until, "v2 served only by " + served + "\nnode2:\n" + b.tail());
                for (NodeProcess g : List.of(a, b)) {
                    HttpResponse<String> r = g.post("/v1/completions", "{\"model\":\"" + MODEL + "\",\"prompt\":\"Hi\",\"max_tokens\":2}");
                    if (r.statusCode() == 200 && "v2".equals(r.headers().firstValue("X-Troupe-Version").orElse(""))) {
                        served.add(r.headers().firstValue("X-Troupe-Node").orElseThrow());
                    }
                }
                Thread.sleep(100);
            }
            assertEquals(Set.of("127.0.0.1:" + a.clusterPort, "127.0.0.1:" + b.clusterPort), served);
            Path fetched = dir.resolve("node2").resolve("models").resolve(sha + ".gguf");
            assertTrue(Files.isRegularFile(fetched), "node 2 keeps the fetched copy");
            assertEquals(sha, sha256(fetched));
            assertFalse(Files.exists(dir.resolve("node2").resolve("models").resolve(sha + ".gguf.part")));
            assertTrue(Files.readString(b.log).contains("fetched the file with sha256 " + sha.substring(0, 12)), b.tail());
            // The file is served to peers only with the admin token.
            assertEquals(401, a.get("/internal/weights/" + sha).statusCode());
            assertEquals(404, a.admin("GET", "/internal/weights/" + "0".repeat(64), null).statusCode());
            JsonNode cluster = JSON.readTree(a.admin("GET", "/admin/cluster", null).body());
            assertNotNull(cluster.get("replicas"));
        }
    }
}
