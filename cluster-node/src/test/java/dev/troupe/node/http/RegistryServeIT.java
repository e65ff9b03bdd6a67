package dev.troupe.node.http;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.troupe.actors.registry.ModelRegistry;
import dev.troupe.node.ServeCommand;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Instant;

import static org.junit.jupiter.api.Assertions.*;

/** `serve` records its model as v1 in the journal under the data directory, once. */
class RegistryServeIT {
    @Test
    void serveRegistersV1OnceAcrossRestarts() throws Exception {
        Path model = ServeIT.shared("stories260K-f32.gguf");
        Assumptions.assumeTrue(model != null, "../shared/models/stories260K-f32.gguf not found");
        Config c = ConfigFactory.parseString("troupe.http.port = 0\ntroupe.engine.threads = 1\ntroupe.engine.warm-up = 0s\n"
                        + "troupe.admin.token = s3cret")
                .withFallback(ServeIT.tempDataDir()).withFallback(ServeCommand.nodeDefaults()).resolve();
        ServeCommand.Node first = ServeCommand.start(model, "stories", c);
        ModelRegistry.State before;
        try {
            before = first.registryState();
            assertEquals("v1", before.live());
            assertEquals(model.toAbsolutePath().toString(), before.versions().get("v1").path());
            assertEquals("047bf46455a544931cff6fef14d7910154c56afbc23ab1c5e56a72e69912c04b", before.versions().get("v1").sha256());
            assertEquals(3, before.history().size(), before.history().toString());
            adminApiShowsTheRegistry(first);
        } finally {
            first.stop();
        }
        ServeCommand.Node second = ServeCommand.start(model, "stories", c);
        try {
            assertEquals(before, second.registryState(), "restarting with the same file must add no events");
        } finally {
            second.stop();
        }
    }

    private static HttpResponse<String> admin(ServeCommand.Node node, String path, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.port() + path)).GET();
        if (token != null) b.header("Authorization", "Bearer " + token);
        return ServeIT.HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static void adminApiShowsTheRegistry(ServeCommand.Node node) throws Exception {
        ServeIT.assertError(admin(node, "/admin/models/stories", null), 401, null);
        ServeIT.assertError(admin(node, "/admin/models/stories", "wrong"), 403, null);
        ServeIT.assertError(admin(node, "/admin/models/nope", "s3cret"), 404, null);
        ServeIT.assertError(admin(node, "/admin/models/stories/state?at=yesterday", "s3cret"), 400, "at");

        JsonNode state = ServeIT.JSON.readTree(admin(node, "/admin/models/stories", "s3cret").body());
        assertEquals("v1", state.get("live").asText());
        assertEquals(100, state.get("traffic").get("v1").asInt());
        assertEquals(1, state.get("deployments").get("v1").get("replicas").asInt());

        JsonNode history = ServeIT.JSON.readTree(admin(node, "/admin/models/stories/history", "s3cret").body()).get("events");
        assertEquals(3, history.size());
        for (int i = 0; i < 3; i++) {
            assertEquals(i + 1, history.get(i).get("seq").asInt());
            assertEquals("serve", history.get(i).get("actor").asText());
            assertFalse(history.get(i).get("at").asText().isEmpty());
        }
        assertEquals("VersionRegistered", history.get(0).get("type").asText());

        Instant beforeAll = Instant.parse(history.get(0).get("at").asText()).minusSeconds(1);
        JsonNode empty = ServeIT.JSON.readTree(admin(node, "/admin/models/stories/state?at=" + beforeAll, "s3cret").body());
        assertTrue(empty.get("live").isNull(), empty.toString());
        assertEquals(0, empty.get("versions").size());
        JsonNode now = ServeIT.JSON.readTree(admin(node, "/admin/models/stories/state?at=" + Instant.now(), "s3cret").body());
        assertEquals("v1", now.get("live").asText());

        JsonNode list = ServeIT.JSON.readTree(admin(node, "/admin/models", "s3cret").body());
        assertEquals("stories", list.get("data").get(0).get("name").asText());
    }
}
