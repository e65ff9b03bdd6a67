package dev.troupe.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

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
 * completion it produced. Each finished request has its line on troupe.requests, its facts as structured
 * key-value fields (request id, tenant, model, version, node, outcome, tokens, timings, trace id).
 */
class LogFormatIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final String SECRET_PROMPT = "Zebra quartz seven four three one";
    private static final String TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";

    @Test
    void jsonLinesAndNoPromptOrCompletionText() throws Exception {
        Path model = TroupeCli.sharedModel("stories260K-f32.gguf");
        Assumptions.assumeTrue(Files.isRegularFile(model), "../shared/models/stories260K-f32.gguf not found");
        int port = TroupeCli.freePort();
        Path log = Files.createTempFile("troupe-json", ".log");
        ProcessBuilder pb = new ProcessBuilder(TroupeCli.root().resolve("bin/troupe").toString(), "serve", "--model", model.toString(),
                "--port", String.valueOf(port), "--threads", "1", "--data-dir", Files.createTempDirectory("troupe-data").toString())
                .directory(TroupeCli.root().toFile()).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("TROUPE_LOG_FORMAT", "JSON");
        Process p = pb.start();
        String completion;
        try {
            String base = "http://127.0.0.1:" + port;
            int status = TroupeCli.awaitReady(p, port, Duration.ofSeconds(60));
            assertEquals(200, status, Files.readString(log));
            String prompt = JSON.writeValueAsString(SECRET_PROMPT);
            completion = JSON.readTree(HTTP.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                    .header("Content-Type", "application/json").header("X-Request-Id", "log-it-1")
                    .header("traceparent", "00-" + TRACE_ID + "-00f067aa0ba902b7-01")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"stories260K-f32\",\"prompt\":" + prompt
                            + ",\"max_tokens\":30,\"temperature\":0}")).build(), HttpResponse.BodyHandlers.ofString()).body())
                    .get("choices").get(0).get("text").asText();
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
        List<java.util.Map<String, String>> requests = new java.util.ArrayList<>();
        for (String line : lines) {
            if (line.isBlank() || line.startsWith("WARNING:")) continue;   // the JVM's own notices are not ours
            JsonNode n = JSON.readTree(line);
            assertTrue(n.has("level") && n.has("loggerName") && n.has("formattedMessage") && n.has("timestamp"), line);
            json++;
            if (n.get("loggerName").asText().equals("troupe.requests")) requests.add(fields(n));
        }
        assertTrue(json >= 5, "JSON lines: " + json + "\n" + String.join("\n", lines));
        // One line per request that reached the model: the three generations (the bad request was refused before).
        assertEquals(3, requests.size(), requests.toString());
        java.util.Map<String, String> first = requests.stream().filter(r -> "log-it-1".equals(r.get("request_id"))).findFirst()
                .orElseThrow(() -> new AssertionError("no line for X-Request-Id log-it-1: " + requests));
        assertEquals(TRACE_ID, first.get("trace_id"), first.toString());
        assertEquals("anonymous", first.get("tenant"));
        assertEquals("stories260K-f32", first.get("model"));
        assertEquals("completions", first.get("endpoint"));
        assertEquals("200", first.get("status"));
        assertTrue(first.get("outcome").equals("stop") || first.get("outcome").equals("length"), first.toString());
        assertTrue(first.get("id").startsWith("cmpl-"), first.toString());
        assertTrue(Integer.parseInt(first.get("prompt_tokens")) > 0 && Integer.parseInt(first.get("completion_tokens")) > 0, first.toString());
        assertTrue(Double.parseDouble(first.get("queue_ms")) >= 0 && Double.parseDouble(first.get("ttft_ms")) > 0
                && Double.parseDouble(first.get("total_ms")) >= Double.parseDouble(first.get("ttft_ms")), first.toString());
        for (java.util.Map<String, String> r : requests) {
            for (String k : List.of("request_id", "tenant", "model", "version", "node", "outcome", "prompt_tokens", "completion_tokens", "total_ms")) {
                assertNotNull(r.get(k), k + " in " + r);
            }
        }
        assertEquals(java.util.Set.of("completions", "chat"), requests.stream().map(r -> r.get("endpoint")).collect(java.util.stream.Collectors.toSet()));
        String all = String.join("\n", lines);
        assertFalse(all.contains(SECRET_PROMPT), "the prompt's text is in the log");
        assertFalse(completion.length() > 12 && all.contains(completion.substring(0, 12)), "the completion's text is in the log");
    }

    /** A line's structured fields: logback's JsonEncoder writes SLF4J key-value pairs as kvpList, [{"key": value}, ...]. */
    private static java.util.Map<String, String> fields(JsonNode line) {
        java.util.Map<String, String> out = new java.util.TreeMap<>();
        JsonNode kvp = line.get("kvpList");
        assertNotNull(kvp, "no key-value pairs in " + line);
        for (JsonNode pair : kvp) pair.fields().forEachRemaining(e -> out.put(e.getKey(), e.getValue().asText()));
        return out;
    }

    private static String post(String url, String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(url)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString()).body();
    }
}
