package dev.troupe.node.http;

import com.fasterxml.jackson.databind.JsonNode;
import dev.troupe.node.ServeCommand;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A node whose slices are too small for the model whole: placement splits the live version over two of its
 * slices (automatically: the deployment names no tensorParallel), the group serves the reference greedy
 * completions exactly, and the admin API shows the group.
 */
class TensorParallelDeploymentIT {

    @Test
    void aModelTooLargeForOneSliceIsSplitOverTwoAndServesTheReferences() throws Exception {
        // stories260K whole: ~1 MiB of weights + a 1.4 MiB KV pool; a 1.6 MB slice holds half of that, not all.
        ServeCommand.Node node = DeploymentsIT.start("troupe.worker.slices = 2\ntroupe.worker.slice-memory = 1600000\n"
                + "troupe.engine.threads = 2\n");
        try {
            Path refs = ServeIT.shared("stories260K-greedy.jsonl");
            for (String line : Files.readAllLines(refs)) {
                if (line.isBlank()) continue;
                JsonNode ref = ServeIT.JSON.readTree(line);
                HttpResponse<String> r = ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.port() + "/v1/completions"))
                        .timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(ServeIT.completionBody(ref.get("prompt").asText(), ref.get("max_tokens").asInt(), false)))
                        .build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, r.statusCode(), r.body());
                assertEquals(ref.get("completion").asText(), ServeIT.JSON.readTree(r.body()).get("choices").get(0).get("text").asText());
            }
            JsonNode cluster = DeploymentsIT.ok(DeploymentsIT.admin(node, "GET", "/admin/cluster", null, DeploymentsIT.TOKEN), 200);
            JsonNode assignment = cluster.get("placement").get("assignments").get(0);
            assertEquals("stories@v1#0", assignment.get("replica").asText(), cluster.toString());
            JsonNode group = assignment.get("group");
            assertNotNull(group, "the replica runs as a group: " + assignment);
            assertEquals(2, group.size());
            assertNotEquals(group.get(0).get("slice").asText(), group.get(1).get("slice").asText());
            assertTrue(assignment.get("memory_bytes").asLong() <= 1600000, "each slice holds its share: " + assignment);
            JsonNode slices = cluster.get("slices");
            for (JsonNode s : slices) assertTrue(s.get("memory_reserved_bytes").asLong() > 0, "both slices hold a share: " + slices);

            JsonNode model = DeploymentsIT.ok(DeploymentsIT.admin(node, "GET", "/admin/models/stories", null, DeploymentsIT.TOKEN), 200);
            assertTrue(model.path("versions").path("v1").path("follower_slices").path("1").asText().startsWith("following "), model.toString());

            // Whole, it fits no slice of this cluster: refused with the numbers.
            HttpResponse<String> whole = DeploymentsIT.admin(node, "POST", "/admin/models/stories/deployments",
                    "{\"version\":\"v1\",\"tensorParallel\":1}", DeploymentsIT.TOKEN);
            assertEquals(409, whole.statusCode(), whole.body());
            assertTrue(whole.body().contains("on each of 1 slice; the cluster has 2 slices, the largest of 1 MiB"), whole.body());
        } finally {
            node.stop();
        }
    }
}
