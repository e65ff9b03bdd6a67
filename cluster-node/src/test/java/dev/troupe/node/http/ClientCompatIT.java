package dev.troupe.node.http;

import com.fasterxml.jackson.databind.JsonNode;
import dev.troupe.node.ServeCommand;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Base64;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** What the OpenAI SDKs and browsers expect of the API, against a real node over HTTP. */
class ClientCompatIT {
    static ServeCommand.Node node;
    static int port;

    @BeforeAll
    static void start() throws Exception {
        node = ServeIT.startNode("stories260K-f32.gguf", "troupe.shutdown.grace = 2s\ntroupe.http.cors.allowed-origins = [\"https://chat.example.com\"]");
        port = node.port();
    }

    @AfterAll
    static void stop() {
        if (node != null) node.stop();
    }

    static HttpResponse<String> send(String method, String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(30))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) b.header("Content-Type", "application/json");
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        return ServeIT.HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void base64EmbeddingsAreLittleEndianFloat32OfTheSameVector() throws Exception {
        HttpResponse<String> f = send("POST", "/v1/embeddings", "{\"model\":\"stories\",\"input\":[\"a cat\",\"a dog\"]}");
        HttpResponse<String> b = send("POST", "/v1/embeddings", "{\"model\":\"stories\",\"input\":[\"a cat\",\"a dog\"],\"encoding_format\":\"base64\"}");
        assertEquals(200, f.statusCode(), f.body());
        assertEquals(200, b.statusCode(), b.body());
        JsonNode fd = ServeIT.JSON.readTree(f.body()).get("data");
        JsonNode bd = ServeIT.JSON.readTree(b.body()).get("data");
        for (int i = 0; i < 2; i++) {
            JsonNode floats = fd.get(i).get("embedding");
            assertTrue(bd.get(i).get("embedding").isTextual(), b.body());
            ByteBuffer bytes = ByteBuffer.wrap(Base64.getDecoder().decode(bd.get(i).get("embedding").asText())).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(floats.size() * 4, bytes.remaining());
            for (int k = 0; k < floats.size(); k++) assertEquals((float) floats.get(k).asDouble(), bytes.getFloat(), 0f, "component " + k);
        }
    }

    @Test
    void oneModelById() throws Exception {
        HttpResponse<String> r = send("GET", "/v1/models/stories", null);
        assertEquals(200, r.statusCode(), r.body());
        JsonNode m = ServeIT.JSON.readTree(r.body());
        assertEquals("stories", m.get("id").asText());
        assertEquals("model", m.get("object").asText());
        assertTrue(m.get("created").asLong() > 0);
        HttpResponse<String> missing = send("GET", "/v1/models/nope", null);
        ServeIT.assertError(missing, 404, "model");
        assertEquals("model_not_found", ServeIT.JSON.readTree(missing.body()).get("error").get("code").asText());
    }

    @Test
    void corsForLocalhostAndConfiguredOriginsOnly() throws Exception {
        for (String origin : List.of("http://localhost:3000", "https://chat.example.com")) {
            HttpResponse<String> pre = send("OPTIONS", "/v1/chat/completions", null, "Origin", origin,
                    "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type");
            assertEquals(204, pre.statusCode(), pre.body());
            assertEquals(origin, pre.headers().firstValue("access-control-allow-origin").orElse(null));
            assertTrue(pre.headers().firstValue("access-control-allow-headers").orElse("").contains("Authorization"));
            assertTrue(pre.headers().firstValue("access-control-allow-methods").orElse("").contains("POST"));
            HttpResponse<String> get = send("GET", "/v1/models", null, "Origin", origin);
            assertEquals(origin, get.headers().firstValue("access-control-allow-origin").orElse(null));
            assertTrue(get.headers().firstValue("access-control-expose-headers").orElse("").contains("X-Request-Id"));
        }
        HttpResponse<String> pre = send("OPTIONS", "/v1/chat/completions", null, "Origin", "https://evil.example",
                "Access-Control-Request-Method", "POST");
        ServeIT.assertError(pre, 403, null);
        assertTrue(pre.headers().firstValue("access-control-allow-origin").isEmpty());
        HttpResponse<String> get = send("GET", "/v1/models", null, "Origin", "https://evil.example");
        assertEquals(200, get.statusCode());
        assertTrue(get.headers().firstValue("access-control-allow-origin").isEmpty());
    }

    @Test
    void everyResponseCarriesARequestId() throws Exception {
        for (HttpResponse<String> r : List.of(send("GET", "/health/live", null), send("GET", "/nowhere", null),
                send("POST", "/v1/completions", "{\"model\":\"stories\"}"), send("GET", "/v1/models", null),
                send("POST", "/v1/completions", "{\"model\":\"stories\",\"prompt\":\"a\",\"max_tokens\":1}"))) {
            assertTrue(r.headers().firstValue("x-request-id").filter(v -> !v.isBlank()).isPresent(), r.uri() + " " + r.statusCode());
        }
        HttpResponse<String> mine = send("GET", "/health/live", null, "X-Request-Id", "my-id-42");
        assertEquals(List.of("my-id-42"), mine.headers().allValues("x-request-id"));
        String raw = HardeningIT.rawTo(port, "GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n");
        assertTrue(raw.toLowerCase().contains("\r\nx-request-id: "), raw);
    }

    @Test
    void contextOverflowHasOpenAisCode() throws Exception {
        HttpResponse<String> r = send("POST", "/v1/completions", "{\"model\":\"stories\",\"prompt\":\"Once upon a time\",\"max_tokens\":100000}");
        ServeIT.assertError(r, 400, "max_tokens");
        assertEquals("context_length_exceeded", ServeIT.JSON.readTree(r.body()).get("error").get("code").asText());
        HttpResponse<String> chat = send("POST", "/v1/chat/completions", "{\"model\":\"stories\",\"max_tokens\":100000,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        assertEquals("context_length_exceeded", ServeIT.JSON.readTree(chat.body()).get("error").get("code").asText(), chat.body());
    }

    /** The text of each choice of an SSE body, by index, and the usage chunk's completion tokens (-1 when none). */
    private static String[] streamedChoices(String sse, int n, boolean chat, int[] usage) throws Exception {
        StringBuilder[] texts = new StringBuilder[n];
        for (int i = 0; i < n; i++) texts[i] = new StringBuilder();
        usage[0] = -1;
        for (String line : sse.split("\n")) {
            if (!line.startsWith("data: {")) continue;
            JsonNode chunk = ServeIT.JSON.readTree(line.substring(6));
            if (chunk.hasNonNull("usage")) usage[0] = chunk.get("usage").get("completion_tokens").asInt();
            for (JsonNode c : chunk.get("choices")) {
                JsonNode text = chat ? c.path("delta").path("content") : c.path("text");
                if (text.isTextual()) texts[c.get("index").asInt()].append(text.asText());
            }
        }
        String[] out = new String[n];
        for (int i = 0; i < n; i++) out[i] = texts[i].toString();
        return out;
    }

    @Test
    void severalChoicesAreIndependentSamplesBilledWithThePromptOnce() throws Exception {
        String one = "{\"model\":\"stories\",\"prompt\":\"Once upon a time\",\"max_tokens\":12,\"temperature\":1,\"seed\":";
        JsonNode three = ServeIT.JSON.readTree(send("POST", "/v1/completions", one + "7,\"n\":3}").body());
        assertEquals(3, three.get("choices").size(), three.toString());
        int completion = 0;
        for (int i = 0; i < 3; i++) {
            JsonNode c = three.get("choices").get(i);
            assertEquals(i, c.get("index").asInt());
            // Choice i samples with seed + i: the same as a single request with that seed.
            JsonNode alone = ServeIT.JSON.readTree(send("POST", "/v1/completions", one + (7 + i) + "}").body());
            assertEquals(alone.get("choices").get(0).get("text").asText(), c.get("text").asText(), "choice " + i + " of " + three);
            completion += alone.get("usage").get("completion_tokens").asInt();
            assertEquals(alone.get("usage").get("prompt_tokens").asInt(), three.get("usage").get("prompt_tokens").asInt(), "the prompt once");
        }
        assertEquals(completion, three.get("usage").get("completion_tokens").asInt());
        assertNotEquals(three.get("choices").get(0).get("text").asText(), three.get("choices").get(1).get("text").asText());

        // Streamed: the same choices, chunk by chunk under their index, and the usage of all.
        int[] usage = new int[1];
        String[] streamed = streamedChoices(send("POST", "/v1/completions",
                one + "7,\"n\":3,\"stream\":true,\"stream_options\":{\"include_usage\":true}}").body(), 3, false, usage);
        for (int i = 0; i < 3; i++) assertEquals(three.get("choices").get(i).get("text").asText(), streamed[i], "streamed choice " + i);
        assertEquals(completion, usage[0]);

        // Chat, greedy: every choice is the greedy reply.
        String chat = "{\"model\":\"stories\",\"max_tokens\":10,\"temperature\":0,\"n\":2,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
        JsonNode plain = ServeIT.JSON.readTree(send("POST", "/v1/chat/completions", chat + "}").body());
        assertEquals(2, plain.get("choices").size());
        String reply = plain.get("choices").get(0).get("message").get("content").asText();
        assertEquals(reply, plain.get("choices").get(1).get("message").get("content").asText());
        String[] chatStreamed = streamedChoices(send("POST", "/v1/chat/completions", chat + ",\"stream\":true}").body(), 2, true, usage);
        assertArrayEquals(new String[] {reply, reply}, chatStreamed);
        ServeIT.assertError(send("POST", "/v1/completions", one + "7,\"n\":17}"), 400, "n");
    }

    @Test
    void theLegacyFunctionRoleIsAccepted() throws Exception {
        HttpResponse<String> r = send("POST", "/v1/chat/completions", "{\"model\":\"stories\",\"max_tokens\":2,\"messages\":["
                + "{\"role\":\"user\",\"content\":\"weather?\"},"
                + "{\"role\":\"assistant\",\"content\":null,\"function_call\":{\"name\":\"weather\",\"arguments\":\"{}\"}},"
                + "{\"role\":\"function\",\"name\":\"weather\",\"content\":\"sunny\"}]}");
        assertEquals(200, r.statusCode(), r.body());
    }
}
