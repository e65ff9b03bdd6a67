package dev.troupe.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A node run with TROUPE_LOG_FORMAT=JSON logs one JSON object per line (level, logger, message), and a whole
 * run (start, completions streamed and not, chat, a bad request, shutdown) never logs a prompt's text or the
 * completion it produced.
 */
class LogFormatIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final String SECRET_PROMPT = "Zebra quartz seven four three one";

    @Test
    void jsonLinesAndNoPromptOrCompletionText() throws Exception {
        Path model = TroupeCli.sharedModel("stories260K-f32.gguf");
        Assumptions.assumeTrue(Files.isRegularFile(model), "../shared/models/stories260K-f32.gguf not found");
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path log = Files.createTempFile("troupe-json", ".log");
        ProcessBuilder pb = new ProcessBuilder(TroupeCli.root().resolve("bin/troupe").toString(), "serve", "--model", model.toString(),
                "--port", String.valueOf(port), "--threads", "1", "--data-dir", Files.createTempDirectory("troupe-data").toString())
                .directory(TroupeCli.root().toFile()).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("TROUPE_LOG_FORMAT", "JSON");
        Process p = pb.start();
        String completion;
        try {
            String base = "http://127.0.0.1:" + port;
            long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            int status = 0;
            while (System.nanoTime() < until && status != 200 && p.isAlive()) {
                try {
                    status = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/health/ready")).build(), HttpResponse.BodyHandlers.ofString()).statusCode();
                } catch (IOException notYet) {
                    Thread.sleep(200);
                }
            }
            assertEquals(200, status, Files.readString(log));
            String prompt = JSON.writeValueAsString(SECRET_PROMPT);
            completion = JSON.readTree(post(base + "/v1/completions", "{\"model\":\"stories260K-f32\",\"prompt\":" + prompt
                    + ",\"max_tokens\":30,\"temperature\":0}")).get("choices").get(0).get("text").asText();
            post(base + "/v1/completions", "{\"model\":\"stories260K-f32\",\"prompt\":" + prompt + ",\"max_tokens\":10,\"stream\":true}");
            post(base + "/v1/chat/completions", "{\"model\":\"stories260K-f32\",\"messages\":[{\"role\":\"user\",\"content\":" + prompt
                    + "}],\"max_tokens\":10}");
            post(base + "/v1/completions", "{\"model\":\"stories260K-f32\",\"prompt\":" + prompt + ",\"max_tokens\":-3}");
        } finally {
            p.destroy();
            assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        }
        List<String> lines = Files.readAllLines(log);
        int json = 0;
        for (String line : lines) {
            if (line.isBlank() || line.startsWith("WARNING:")) continue;   // the JVM's own notices are not ours
            JsonNode n = JSON.readTree(line);
            assertTrue(n.has("level") && n.has("loggerName") && n.has("formattedMessage") && n.has("timestamp"), line);
            json++;
        }
        assertTrue(json >= 5, "JSON lines: " + json + "\n" + String.join("\n", lines));
        String all = String.join("\n", lines);
        assertFalse(all.contains(SECRET_PROMPT), "the prompt's text is in the log");
        assertFalse(completion.length() > 12 && all.contains(completion.substring(0, 12)), "the completion's text is in the log");
    }

    private static String post(String url, String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(url)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString()).body();
    }
}
