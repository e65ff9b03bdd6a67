package dev.troupe.node.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.troupe.node.ServeCommand;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

import static org.junit.jupiter.api.Assertions.*;

/** A real node (actor system, sharding, step loop, engine) on a free port, driven by a real HTTP client. */
class ServeIT {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    static ServeCommand.Node node;
    static String base;
    static List<JsonNode> refs = new ArrayList<>();

    static Path shared(String name) {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path c = p.resolveSibling("shared").resolve("models").resolve(name);
            if (Files.isRegularFile(c)) return c;
        }
        return null;
    }

    @BeforeAll
    static void start() throws Exception {
        Path model = shared("stories260K-f32.gguf");
        Assumptions.assumeTrue(model != null, "../shared/models/stories260K-f32.gguf not found beside the repository");
        for (String l : Files.readAllLines(shared("stories260K-greedy.jsonl"))) if (!l.isBlank()) refs.add(JSON.readTree(l));
        Config c = ConfigFactory.parseString("troupe.http.port = 0\ntroupe.engine.threads = 2\ntroupe.engine.warm-up = 1s\n"
                        + "troupe.scheduler.max-queued = 64\ntroupe.http.max-body-bytes = 65536\ntroupe.shutdown.grace = 10s")
                .withFallback(tempDataDir()).withFallback(ServeCommand.nodeDefaults()).resolve();
        node = ServeCommand.start(model, "stories", c);
        base = "http://127.0.0.1:" + node.port();
    }

    /** A fresh data directory (the node's journal) for one test node. */
    static Config tempDataDir() throws java.io.IOException {
        Path dir = Files.createTempDirectory("troupe-data");
        return ConfigFactory.parseString("troupe.data-dir = \"" + dir.toString().replace("\\", "/") + "\"");
    }

    /**
     * A node serving a shared model as "stories", with {@code config} over the tests' defaults (any free port, one
     * engine thread, no warm-up) and a fresh data directory; the calling test is skipped when the model is absent.
     */
    static ServeCommand.Node startNode(String modelFile, String config) throws Exception {
        Path model = shared(modelFile);
        Assumptions.assumeTrue(model != null, "../shared/models/" + modelFile + " not found beside the repository");
        Config c = ConfigFactory.parseString(config)
                .withFallback(ConfigFactory.parseString("troupe.http.port = 0\ntroupe.engine.threads = 1\ntroupe.engine.warm-up = 0s"))
                .withFallback(tempDataDir()).withFallback(ServeCommand.nodeDefaults()).resolve();
        return ServeCommand.start(model, "stories", c);
    }

    @AfterAll
    static void stop() {
        if (node != null) node.stop();
    }

    static HttpResponse<String> post(String path, String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(120))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> post(String path, byte[] body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(120))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> get(String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static String completionBody(String prompt, int maxTokens, boolean stream) {
        ObjectNode b = JSON.createObjectNode().put("model", "stories").put("prompt", prompt).put("max_tokens", maxTokens)
                .put("temperature", 0).put("stream", stream);
        return b.toString();
    }

    /** Data lines of an SSE body, [DONE] included. */
    static List<String> sseData(String body) {
        List<String> out = new ArrayList<>();
        for (String block : body.split("\n\n")) {
            if (block.startsWith("data: ")) out.add(block.substring(6));
        }
        return out;
    }

    static String streamedText(String body, boolean chat) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (String d : sseData(body)) {
            if (d.equals("[DONE]")) continue;
            JsonNode j = JSON.readTree(d);
            assertFalse(j.has("error"), d);
            if (j.get("choices").size() == 0) continue;
            JsonNode c = j.get("choices").get(0);
            JsonNode t = chat ? c.get("delta").get("content") : c.get("text");
            if (t != null && !t.isNull()) sb.append(t.asText());
        }
        return sb.toString();
    }

    @Test
    void completionsEqualTheReferenceGreedyTexts() throws Exception {
        for (JsonNode ref : refs) {
            HttpResponse<String> r = post("/v1/completions", completionBody(ref.get("prompt").asText(), ref.get("max_tokens").asInt(), false));
            assertEquals(200, r.statusCode(), r.body());
            JsonNode j = JSON.readTree(r.body());
            assertEquals("text_completion", j.get("object").asText());
            assertEquals("stories", j.get("model").asText());
            assertEquals(ref.get("completion").asText(), j.get("choices").get(0).get("text").asText());
            assertEquals("length", j.get("choices").get(0).get("finish_reason").asText());
            assertEquals(80, j.get("usage").get("completion_tokens").asInt());
            assertEquals(j.get("usage").get("prompt_tokens").asInt() + 80, j.get("usage").get("total_tokens").asInt());
        }
    }

    @Test
    void streamingDeliversTheSameTextEndingInDoneWithUsage() throws Exception {
        JsonNode ref = refs.get(1);
        ObjectNode b = (ObjectNode) JSON.readTree(completionBody(ref.get("prompt").asText(), 80, true));
        b.putObject("stream_options").put("include_usage", true);
        HttpResponse<String> r = post("/v1/completions", b.toString());
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("text/event-stream"));
        List<String> data = sseData(r.body());
        assertEquals("[DONE]", data.get(data.size() - 1));
        assertEquals(ref.get("completion").asText(), streamedText(r.body(), false));
        JsonNode usage = JSON.readTree(data.get(data.size() - 2));
        assertEquals(0, usage.get("choices").size());
        assertEquals(80, usage.get("usage").get("completion_tokens").asInt());
        JsonNode last = JSON.readTree(data.get(data.size() - 3));
        assertEquals("length", last.get("choices").get(0).get("finish_reason").asText());
    }

    @Test
    void chatCompletionsStreamAndNot() throws Exception {
        String body = "{\"model\":\"stories\",\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story\"}],"
                + "\"max_tokens\":20,\"temperature\":0}";
        HttpResponse<String> r = post("/v1/chat/completions", body);
        assertEquals(200, r.statusCode(), r.body());
        JsonNode j = JSON.readTree(r.body());
        assertEquals("chat.completion", j.get("object").asText());
        assertEquals("assistant", j.get("choices").get(0).get("message").get("role").asText());
        String content = j.get("choices").get(0).get("message").get("content").asText();
        assertFalse(content.isEmpty());
        HttpResponse<String> s = post("/v1/chat/completions", body.replace("\"temperature\":0", "\"temperature\":0,\"stream\":true"));
        assertEquals(200, s.statusCode(), s.body());
        assertEquals(content, streamedText(s.body(), true));
        assertEquals("chat.completion.chunk", JSON.readTree(sseData(s.body()).get(0)).get("object").asText());
    }

    @Test
    void concurrentStreamsGetExactlyTheTextTheyGetAlone() throws Exception {
        String[] words = {"Once upon a time", "The little dog", "Zoo", "Lily and Tom went to the park", "A big red ball",
                "The sun was", "Tim had a cat", "One day"};
        int n = 32;
        String[] prompts = new String[n];
        int[] lengths = new int[n];
        for (int i = 0; i < n; i++) {
            prompts[i] = words[i % words.length] + (i >= words.length ? " and" : "") + (i >= 2 * words.length ? " then" : "");
            lengths[i] = 10 + (i * 7) % 50;
        }
        String[] alone = new String[n];
        for (int i = 0; i < n; i++) {
            HttpResponse<String> r = post("/v1/completions", completionBody(prompts[i], lengths[i], false));
            assertEquals(200, r.statusCode(), r.body());
            alone[i] = JSON.readTree(r.body()).get("choices").get(0).get("text").asText();
        }
        List<CompletableFuture<HttpResponse<String>>> together = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            together.add(HTTP.sendAsync(HttpRequest.newBuilder(URI.create(base + "/v1/completions")).timeout(Duration.ofSeconds(120))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(completionBody(prompts[i], lengths[i], true))).build(),
                    HttpResponse.BodyHandlers.ofString()));
        }
        for (int i = 0; i < n; i++) {
            HttpResponse<String> r = together.get(i).get();
            assertEquals(200, r.statusCode(), r.body());
            assertEquals(alone[i], streamedText(r.body(), false), "request " + i + " differs when batched");
        }
    }

    @Test
    void oversizeBodiesGetTheir413EveryTime() throws Exception {
        // Larger than any socket buffer: the client is still sending when the 413 is decided. Without the
        // server reading (and dropping) the rest, closing resets the connection and the client loses the 413.
        String huge = "{\"model\":\"stories\",\"prompt\":\"" + "a".repeat(4 << 20) + "\"}";
        for (int i = 0; i < 5; i++) assertError(post("/v1/completions", huge), 413, null);
        assertEquals(200, post("/v1/completions", "{\"model\":\"stories\",\"prompt\":\"x\",\"max_tokens\":2}").statusCode());
    }

    @Test
    void errorsAreOpenAiShapedWithTheRightStatus() throws Exception {
        assertError(post("/v1/completions", "{\"model\":\"stories\",\"prompt\":"), 400, null);
        assertError(post("/v1/completions", "{\"model\":\"stories\",\"prompt\":\"x\",\"temperature\":\"hot\"}"), 400, "temperature");
        assertError(post("/v1/completions", "{\"model\":\"nope\",\"prompt\":\"x\"}"), 404, "model");
        assertError(post("/v1/completions", "{\"model\":\"stories\",\"prompt\":\"x\",\"best_of\":2}"), 400, "best_of");
        HttpResponse<String> ctx = post("/v1/completions", "{\"model\":\"stories\",\"prompt\":\"Once upon a time\",\"max_tokens\":500}");
        assertError(ctx, 400, "max_tokens");
        assertTrue(ctx.body().contains("maximum context length is 128 tokens") && ctx.body().contains("5 in the prompt, 500 for the completion"), ctx.body());
        assertError(post("/v1/completions", "{\"model\":\"stories\",\"prompt\":\"" + "a".repeat(70_000) + "\"}"), 413, null);
        byte[] bad = "{\"model\":\"stories\",\"prompt\":\"caf\u00e9\"}".getBytes(StandardCharsets.UTF_8);
        byte[] invalid = new byte[bad.length];
        System.arraycopy(bad, 0, invalid, 0, bad.length);
        invalid[bad.length - 3] = (byte) 0x28; // é's second byte replaced: C3 28 is not UTF-8
        assertError(post("/v1/completions", invalid), 400, null);
        assertError(post("/v1/nothing", "{}"), 404, null);
        assertError(post("/v1/chat/completions", "{\"model\":\"stories\",\"messages\":[]}"), 400, "messages");
        HttpResponse<String> unknownFields = post("/v1/completions", "{\"model\":\"stories\",\"prompt\":\"x\",\"max_tokens\":2,\"whatever\":1}");
        assertEquals(200, unknownFields.statusCode(), "unknown fields are ignored: " + unknownFields.body());
    }

    @Test
    void tokenizeAndDetokenize() throws Exception {
        dev.troupe.engine.tokenizer.Tokenizer tok;
        long context;
        try (dev.troupe.engine.gguf.GgufFile f = dev.troupe.engine.gguf.GgufFile.open(shared("stories260K-f32.gguf"))) {
            tok = dev.troupe.engine.tokenizer.Tokenizer.fromGguf(f);
            context = f.getLong("llama.context_length");
        }
        HttpResponse<String> r = post("/tokenize", "{\"model\":\"stories\",\"prompt\":\"Once upon a time </s>\"}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode t = JSON.readTree(r.body());
        int[] expected = tok.encode("Once upon a time </s>", true); // BOS as the model wants; </s> typed stays text
        assertEquals(JSON.valueToTree(expected), t.get("tokens"));
        assertEquals(expected.length, t.get("count").asInt());
        assertEquals(context, t.get("max_model_len").asLong());
        JsonNode noBos = JSON.readTree(post("/tokenize", "{\"model\":\"stories\",\"prompt\":\"Once\",\"add_special_tokens\":false}").body());
        assertEquals(JSON.valueToTree(tok.encode("Once", false)), noBos.get("tokens"));

        // a conversation goes through the chat format (this model has no template: the plain fallback)
        JsonNode chat = JSON.readTree(post("/tokenize", "{\"model\":\"stories\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}").body());
        assertEquals(JSON.valueToTree(tok.encode("User: hi\n\nAssistant:", true)), chat.get("tokens"));

        HttpResponse<String> d = post("/detokenize", "{\"model\":\"stories\",\"tokens\":" + t.get("tokens") + "}");
        assertEquals(200, d.statusCode(), d.body());
        // byte-exact: BOS decodes to nothing, SentencePiece's space prefix is kept
        assertEquals(" Once upon a time </s>", JSON.readTree(d.body()).get("prompt").asText());

        assertError(post("/tokenize", "{\"model\":\"stories\"}"), 400, "prompt");
        assertError(post("/tokenize", "{\"model\":\"stories\",\"prompt\":\"x\",\"add_special_tokens\":\"yes\"}"), 400, "add_special_tokens");
        assertError(post("/tokenize", "{\"model\":\"missing\",\"prompt\":\"x\"}"), 404, "model");
        assertError(post("/detokenize", "{\"model\":\"stories\",\"tokens\":[1,100000]}"), 400, "tokens");
        assertError(post("/detokenize", "{\"model\":\"stories\"}"), 400, "tokens");
        assertError(post("/v1/chat/completions", "{\"model\":\"stories\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                + "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}"), 400, "tools");
    }

    static void assertError(HttpResponse<String> r, int status, String param) throws Exception {
        assertEquals(status, r.statusCode(), r.body());
        JsonNode e = JSON.readTree(r.body()).get("error");
        assertNotNull(e, r.body());
        assertTrue(e.has("message") && e.has("type") && e.has("param") && e.has("code"), r.body());
        assertFalse(e.get("message").asText().isEmpty());
        if (param != null) assertEquals(param, e.get("param").asText(), r.body());
    }

    @Test
    void clientDisconnectMidStreamFreesTheSequence() throws Exception {
        // Other long streams share the batch, so ours is certainly still generating when we hang up.
        List<CompletableFuture<HttpResponse<String>>> others = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            others.add(HTTP.sendAsync(HttpRequest.newBuilder(URI.create(base + "/v1/completions")).timeout(Duration.ofSeconds(120))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(completionBody("The little dog", 120, true))).build(),
                    HttpResponse.BodyHandlers.ofString()));
        }
        double cancelledBefore = counter("troupe_requests_total{endpoint=\"completions\",model=\"stories\",outcome=\"cancelled\",version=\"v1\"}");
        String body = "{\"model\":\"stories\",\"prompt\":\"Once upon a time\",\"max_tokens\":120,\"ignore_eos\":true,\"temperature\":0,\"stream\":true}";
        HttpResponse<InputStream> r = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, r.statusCode());
        BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8));
        assertTrue(in.readLine().startsWith("data: "));
        r.body().close();
        for (CompletableFuture<HttpResponse<String>> f : others) assertEquals(200, f.get().statusCode());
        long until = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while ((node.stepLoop().stats().kvBlocksUsed() != 0
                || counter("troupe_requests_total{endpoint=\"completions\",model=\"stories\",outcome=\"cancelled\",version=\"v1\"}") <= cancelledBefore)
                && System.nanoTime() < until) {
            Thread.sleep(20);
        }
        assertTrue(counter("troupe_requests_total{endpoint=\"completions\",model=\"stories\",outcome=\"cancelled\",version=\"v1\"}") > cancelledBefore,
                "the disconnect was not recorded as a cancellation");
        assertEquals(0, node.stepLoop().stats().kvBlocksUsed(), "KV blocks of the cancelled stream were not freed");
        assertEquals(0, node.stepLoop().stats().running());
    }

    /** A counter's value from /metrics (0 when absent). */
    static double counter(String series) throws Exception {
        for (String line : get("/metrics").body().split("\n")) {
            if (line.startsWith(series + " ")) return Double.parseDouble(line.substring(series.length() + 1).trim());
        }
        return 0;
    }

    @Test
    void modelsHealthMetricsAndEmbeddings() throws Exception {
        JsonNode models = JSON.readTree(get("/v1/models").body());
        assertEquals("stories", models.get("data").get(0).get("id").asText());
        assertEquals(200, get("/health/live").statusCode());
        HttpResponse<String> ready = get("/health/ready");
        assertEquals(200, ready.statusCode(), ready.body());
        post("/v1/completions", completionBody("Zoo", 3, false));
        String metrics = get("/metrics").body();
        assertTrue(metrics.contains("troupe_requests_total{endpoint=\"completions\",model=\"stories\",outcome=\"ok\",version=\"v1\"}"), metrics);
        assertTrue(metrics.contains("troupe_kv_blocks_free"), metrics);
        HttpResponse<String> e = post("/v1/embeddings", "{\"model\":\"stories\",\"input\":[\"a cat\",\"a dog\"]}");
        assertEquals(200, e.statusCode(), e.body());
        JsonNode data = JSON.readTree(e.body()).get("data");
        assertEquals(2, data.size());
        for (JsonNode d : data) {
            double norm = 0;
            for (JsonNode v : d.get("embedding")) norm += v.asDouble() * v.asDouble();
            assertEquals(1.0, norm, 1e-4);
            assertEquals(64, d.get("embedding").size());
        }
    }

    static long usedHeap() {
        System.gc();
        return Runtime.getRuntime().totalMemory() - Runtime.getRuntime().freeMemory();
    }
}
