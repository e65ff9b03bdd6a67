package dev.troupe.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** `bin/troupe serve` as a newcomer runs it: a real process, a real HTTP client, then SIGTERM. */
class ServeCommandIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @Test
    void servesTheReferenceCompletionAndDrainsOnSigterm() throws Exception {
        Path model = TroupeCli.sharedModel("stories260K-f32.gguf");
        Assumptions.assumeTrue(Files.isRegularFile(model), "../shared/models/stories260K-f32.gguf not found");
        JsonNode ref = JSON.readTree(Files.readAllLines(TroupeCli.sharedModel("stories260K-greedy.jsonl")).get(0));
        int port = TroupeCli.freePort();
        Path log = Files.createTempFile("troupe-serve", ".log");
        Process p = new ProcessBuilder(TroupeCli.root().resolve("bin/troupe").toString(), "serve", "--model", model.toString(),
                "--port", String.valueOf(port), "--threads", "2", "--data-dir", Files.createTempDirectory("troupe-data").toString())
                .directory(TroupeCli.root().toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            String base = "http://127.0.0.1:" + port;
            int status = TroupeCli.awaitReady(p, port, Duration.ofSeconds(60));
            assertEquals(200, status, "node never became ready:\n" + Files.readString(log));
            String body = "{\"model\":\"stories260K-f32\",\"prompt\":" + JSON.writeValueAsString(ref.get("prompt").asText())
                    + ",\"max_tokens\":80,\"temperature\":0}";
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            assertEquals(ref.get("completion").asText(), JSON.readTree(r.body()).get("choices").get(0).get("text").asText());

            // A stream in flight when SIGTERM arrives still ends properly.
            // The response has started (its headers came) before SIGTERM: on a busy machine a fixed pause was
            // sometimes too short, and the request arrived after the node had stopped accepting.
            HttpResponse<java.io.InputStream> started = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body.replace("\"temperature\":0", "\"temperature\":0,\"stream\":true"))).build(),
                    HttpResponse.BodyHandlers.ofInputStream());
            assertEquals(200, started.statusCode());
            p.destroy(); // SIGTERM
            CompletableFuture<String> rest = CompletableFuture.supplyAsync(() -> {
                try (java.io.InputStream in = started.body()) {
                    return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            String streamed = rest.get(60, TimeUnit.SECONDS);
            assertTrue(streamed.endsWith("data: [DONE]\n\n"), streamed);
            assertFalse(streamed.contains("\"error\""), streamed);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the node did not exit after SIGTERM:\n" + Files.readString(log));
            String out = Files.readString(log);
            assertTrue(out.contains("shutting down"), out);
            assertFalse(out.contains(ref.get("prompt").asText()), "the prompt text appeared in the log");
            assertFalse(out.contains(ref.get("completion").asText().substring(0, 30)), "completion text appeared in the log");
        } finally {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
    }
}
