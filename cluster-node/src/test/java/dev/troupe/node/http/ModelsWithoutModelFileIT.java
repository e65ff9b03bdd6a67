package dev.troupe.node.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.troupe.node.ServeCommand;
import dev.troupe.node.deploy.Sha256;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A node started without a model file serves whatever the registry holds: two models registered, deployed
 * and promoted through its admin API are both listed and served (each with its reference text), unknown
 * models get 404, and a restart of the node on the same journal serves both again without any admin call.
 */
class ModelsWithoutModelFileIT {
    static final String TOKEN = "adm-token";

    static ServeCommand.Node start(Path dataDir) throws Exception {
        Config c = ConfigFactory.parseString("troupe.http.port = 0\ntroupe.engine.threads = 1\ntroupe.engine.warm-up = 0s\n"
                        + "troupe.admin.token = " + TOKEN + "\ntroupe.data-dir = \"" + dataDir.toString().replace("\\", "/") + "\"")
                .withFallback(ServeCommand.nodeDefaults()).resolve();
        return ServeCommand.start(null, null, c);
    }

    @Test
    void aNodeWithoutAModelServesEveryRegisteredModelAndFindsThemAgainAfterARestart() throws Exception {
        Path stories = ServeIT.shared("stories260K-f32.gguf");
        Path random = ServeIT.shared("random15M-q8_0.gguf");
        Assumptions.assumeTrue(stories != null && random != null, "../shared/models not found");
        Path dataDir = Files.createTempDirectory("troupe-data");
        String reference = reference("Once upon a time");

        ServeCommand.Node node = start(dataDir);
        try {
            assertEquals(200, get(node, "/health/ready").statusCode(), "a node with no model yet is ready for admin calls");
            assertEquals(0, ServeIT.JSON.readTree(get(node, "/v1/models").body()).get("data").size());
            HttpResponse<String> none = complete(node, "stories", 5);
            assertEquals(404, none.statusCode(), none.body());
            assertEquals("model_not_found", ServeIT.JSON.readTree(none.body()).get("error").get("code").asText());

            deploy(node, "stories", stories);
            deploy(node, "noise", random);

            assertEquals(new TreeSet<>(List.of("noise", "stories")), modelIds(node));
            HttpResponse<String> s = complete(node, "stories", 20);
            assertEquals(200, s.statusCode(), s.body());
            assertGreedyPrefix(reference, s);
            HttpResponse<String> n = complete(node, "noise", 5);
            assertEquals(200, n.statusCode(), n.body());
            assertEquals("noise", ServeIT.JSON.readTree(n.body()).get("model").asText());
            assertEquals(5, ServeIT.JSON.readTree(n.body()).get("usage").get("completion_tokens").asInt());
            assertEquals(200, get(node, "/health/ready").statusCode(), get(node, "/health/ready").body());
            JsonNode admin = ServeIT.JSON.readTree(DeploymentsIT.admin(node, "GET", "/admin/models", null, TOKEN).body());
            assertEquals(2, admin.get("data").size(), admin.toString());
            HttpResponse<String> unknown = DeploymentsIT.admin(node, "GET", "/admin/models/absent", null, TOKEN);
            assertEquals(404, unknown.statusCode(), unknown.body());
            HttpResponse<String> badName = DeploymentsIT.admin(node, "POST", "/admin/models/a%20b/versions",
                    "{\"version\":\"v1\",\"path\":\"" + stories + "\",\"sha256\":\"" + Sha256.of(stories) + "\"}", TOKEN);
            assertEquals(400, badName.statusCode(), badName.body());
        } finally {
            node.stop();
        }

        ServeCommand.Node again = start(dataDir);
        try {
            awaitReady(again);
            assertEquals(new TreeSet<>(List.of("noise", "stories")), modelIds(again));
            HttpResponse<String> s = complete(again, "stories", 20);
            assertEquals(200, s.statusCode(), s.body());
            assertGreedyPrefix(reference, s);
            assertEquals(200, complete(again, "noise", 3).statusCode());
        } finally {
            again.stop();
        }
    }

    /** The 80-token greedy reference completion of the prompt (../shared/models/stories260K-greedy.jsonl). */
    static String reference(String prompt) throws Exception {
        for (String line : Files.readAllLines(ServeIT.shared("stories260K-greedy.jsonl"))) {
            JsonNode ref = ServeIT.JSON.readTree(line);
            if (ref.get("prompt").asText().equals(prompt)) return ref.get("completion").asText();
        }
        throw new AssertionError("no reference for " + prompt);
    }

    /** A shorter greedy completion is the reference's beginning. */
    static void assertGreedyPrefix(String reference, HttpResponse<String> r) throws Exception {
        assertEquals(200, r.statusCode(), r.body());
        String text = ServeIT.JSON.readTree(r.body()).get("choices").get(0).get("text").asText();
        assertTrue(text.length() > 20 && reference.startsWith(text), "'" + text + "' is not the start of '" + reference + "'");
    }

    /** Registers the file as v1 of the model, deploys and promotes it, and waits until the model serves. */
    static void deploy(ServeCommand.Node node, String model, Path file) throws Exception {
        DeploymentsIT.ok(DeploymentsIT.admin(node, "POST", "/admin/models/" + model + "/versions",
                "{\"version\":\"v1\",\"path\":\"" + file + "\",\"sha256\":\"" + Sha256.of(file) + "\"}", TOKEN), 201);
        DeploymentsIT.ok(DeploymentsIT.admin(node, "POST", "/admin/models/" + model + "/deployments", "{\"version\":\"v1\"}", TOKEN), 202);
        DeploymentsIT.ok(DeploymentsIT.admin(node, "POST", "/admin/models/" + model + "/promote", "{\"version\":\"v1\"}", TOKEN), 200);
        long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < until) {
            if (complete(node, model, 1).statusCode() == 200) return;
            Thread.sleep(100);
        }
        fail(model + " did not start serving");
    }

    static void awaitReady(ServeCommand.Node node) throws Exception {
        long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        HttpResponse<String> r;
        do {
            r = get(node, "/health/ready");
            if (r.statusCode() == 200 && r.body().contains("noise") && r.body().contains("stories")) return;
            Thread.sleep(100);
        } while (System.nanoTime() < until);
        fail("not ready: " + r.body());
    }

    static TreeSet<String> modelIds(ServeCommand.Node node) throws Exception {
        TreeSet<String> ids = new TreeSet<>();
        for (JsonNode m : ServeIT.JSON.readTree(get(node, "/v1/models").body()).get("data")) ids.add(m.get("id").asText());
        return ids;
    }

    static HttpResponse<String> get(ServeCommand.Node node, String path) throws Exception {
        return ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.port() + path))
                .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> complete(ServeCommand.Node node, String model, int maxTokens) throws Exception {
        String body = "{\"model\":\"" + model + "\",\"prompt\":\"Once upon a time\",\"max_tokens\":" + maxTokens + ",\"temperature\":0}";
        return ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.port() + "/v1/completions"))
                .timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
