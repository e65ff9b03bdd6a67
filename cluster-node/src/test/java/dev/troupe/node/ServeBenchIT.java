package dev.troupe.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The load generator against a real node: one JSON line per level, every request counted, the figures consistent. */
class ServeBenchIT {

    @Test
    void printsALinePerConcurrencyWithEveryTokenCounted() throws Exception {
        Path model = null;
        for (Path p = Path.of("").toAbsolutePath(); p != null && model == null; p = p.getParent()) {
            Path c = p.resolveSibling("shared").resolve("models").resolve("stories260K-f32.gguf");
            if (Files.isRegularFile(c)) model = c;
        }
        Assumptions.assumeTrue(model != null, "../shared/models/stories260K-f32.gguf not found beside the repository");
        Config c = ConfigFactory.parseString("troupe.http.port = 0\ntroupe.engine.threads = 1\ntroupe.engine.warm-up = 1s\n"
                        + "troupe.data-dir = \"" + Files.createTempDirectory("troupe-data").toString().replace('\\', '/') + "\"")
                .withFallback(ServeCommand.nodeDefaults()).resolve();
        ServeCommand.Node node = ServeCommand.start(model, "stories", c);
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            int rc = ServeBench.run(new String[]{"bench", "serve", "--url", "http://127.0.0.1:" + node.port() + "/", "--model", "stories",
                    "--concurrency", "1,4", "--max-tokens", "16", "--requests", "12", "--warm-up-s", "0.5"},
                    new PrintStream(out, true, StandardCharsets.UTF_8), System.err);
            assertEquals(0, rc);
            List<JsonNode> lines = new ArrayList<>();
            ObjectMapper json = new ObjectMapper();
            for (String l : out.toString(StandardCharsets.UTF_8).split("\n")) if (!l.isBlank()) lines.add(json.readTree(l));
            assertEquals(2, lines.size(), out.toString(StandardCharsets.UTF_8));
            int[] levels = {1, 4};
            for (int i = 0; i < 2; i++) {
                JsonNode j = lines.get(i);
                assertEquals("serve", j.get("test").asText());
                assertEquals(levels[i], j.get("concurrency").asInt());
                assertEquals(12, j.get("requests").asInt());
                assertEquals(0, j.get("failed").asInt(), j.toString());
                assertEquals(12 * 16, j.get("output_tokens").asInt(), "fixed-length generations, every token counted: " + j);
                double ttft50 = j.get("ttft_p50_ms").asDouble(), ttft99 = j.get("ttft_p99_ms").asDouble();
                double itl50 = j.get("itl_p50_ms").asDouble(), itl99 = j.get("itl_p99_ms").asDouble();
                assertTrue(ttft50 > 0 && ttft50 <= ttft99, j.toString());
                // Tokens that arrive merged in one chunk (the tiny model outruns the stream) have 0 gaps between them.
                assertTrue(itl50 >= 0 && itl50 <= itl99, j.toString());
                // wall_s is printed to the millisecond: the rate lies within what the rounded wall allows.
                double wall = j.get("wall_s").asDouble(), rate = j.get("output_tokens_per_s").asDouble();
                assertTrue(wall > 0 && rate >= 12 * 16 / (wall + 0.0006) && rate <= 12 * 16 / Math.max(1e-6, wall - 0.0006), j.toString());
            }
        } finally {
            node.stop();
        }
    }
}
