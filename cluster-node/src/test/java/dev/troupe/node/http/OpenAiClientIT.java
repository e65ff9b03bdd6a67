package dev.troupe.node.http;

import dev.troupe.node.hub.HubPackages;
import com.fasterxml.jackson.databind.JsonNode;
import dev.troupe.node.ServeCommand;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The official `openai` npm client (v6, installed from the npm registry into target/ on first use)
 * against a real node: completions and chat, streaming and not, errors and the model list.
 */
class OpenAiClientIT {
    @Test
    void theOfficialOpenAiClientWorksUnchanged() throws Exception {
        Assumptions.assumeTrue(HubPackages.exec(Path.of("."), 30, "node", "--version") == 0, "node is not installed: cannot run the openai client test");
        Path dir = Path.of("target", "openai-client").toAbsolutePath();
        Files.createDirectories(dir);
        Files.copy(Path.of("src/test/resources/openai-client/check.mjs"), dir.resolve("check.mjs"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        if (!Files.isDirectory(dir.resolve("node_modules/openai"))) {
            Files.writeString(dir.resolve("package.json"), "{\"name\":\"troupe-openai-check\",\"private\":true,\"type\":\"module\"}");
            int rc = HubPackages.exec(dir, 300, "npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "openai@6");
            assertEquals(0, rc, "npm install openai@6 failed (the npm registry must be reachable)");
        }
        JsonNode ref = ServeIT.JSON.readTree(Files.readAllLines(ServeIT.shared("stories260K-greedy.jsonl")).get(1));
        ServeCommand.Node node = ServeIT.startNode("stories260K-f32.gguf", "troupe.engine.threads = 2\ntroupe.engine.warm-up = 0s");
        try {
            Path out = dir.resolve("result.json");
            ProcessBuilder pb = new ProcessBuilder("node", "check.mjs", "http://127.0.0.1:" + node.port() + "/v1", "stories",
                    ref.get("prompt").asText(), ref.get("completion").asText()).directory(dir.toFile())
                    .redirectOutput(out.toFile()).redirectErrorStream(false);
            Process p = pb.start();
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the node client did not finish");
            String result = Files.readString(out, StandardCharsets.UTF_8);
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(0, p.exitValue(), "client checks failed: " + result + err);
            JsonNode r = ServeIT.JSON.readTree(result);
            assertEquals(ref.get("completion").asText(), r.get("completion").asText());
            assertEquals(ref.get("completion").asText(), r.get("completionStream").asText());
            assertEquals(r.get("chat").asText(), r.get("chatStream").asText());
            assertEquals(404, r.get("notFound").asInt());
        } finally {
            node.stop();
        }
    }
}
