package dev.troupe.example;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The example host application against the reference model: both stories are the reference greedy texts. */
class HostAppTest {

    static Path shared(String name) {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path c = p.resolveSibling("shared").resolve("models").resolve(name);
            if (Files.isRegularFile(c)) return c;
        }
        return null;
    }

    @Test
    void theHostsActorGetsOneCompletionAndStreamsAnother() throws Exception {
        Path model = shared("stories260K-f32.gguf");
        Assumptions.assumeTrue(model != null, "../shared/models/stories260K-f32.gguf not found beside the repository");
        ObjectMapper json = new ObjectMapper();
        List<JsonNode> refs = new ArrayList<>();
        for (String l : Files.readAllLines(shared("stories260K-greedy.jsonl"))) if (!l.isBlank()) refs.add(json.readTree(l));
        JsonNode a = refs.get(1), b = refs.get(2);
        assertEquals(a.get("max_tokens").asInt(), b.get("max_tokens").asInt());

        Path data = Files.createTempDirectory("troupe-example");
        HostApp.Running app = HostApp.start(model, ConfigFactory.parseString(
                "troupe.data-dir = \"" + data.toString().replace('\\', '/') + "\"\ntroupe.engine.threads = 1").withFallback(ConfigFactory.load()));
        try {
            Storyteller.Stories s = app.tell(a.get("prompt").asText(), b.get("prompt").asText(), a.get("max_tokens").asInt());
            assertEquals(a.get("completion").asText(), s.first());
            assertEquals(b.get("completion").asText(), s.second());
            // Tokens that arrive while the actor is behind are merged into one event (docs/embedding.md), and this
            // model is faster than the actor: at least one token event and the end.
            assertTrue(s.streamedEvents() >= 2, "the second story came as a stream of events: " + s.streamedEvents());
        } finally {
            app.stop();
        }
    }
}
