package dev.troupe.node.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.troupe.node.ServeCommand;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
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
        Path model = ServeIT.shared("stories260K-f32.gguf");
        Assumptions.assumeTrue(model != null, "../shared/models/stories260K-f32.gguf not found beside the repository");
        Config c = ConfigFactory.parseString("troupe.http.port = 0\ntroupe.engine.threads = 1\ntroupe.engine.warm-up = 0s\n"
                        + "troupe.shutdown.grace = 2s\ntroupe.http.cors.allowed-origins = [\"https://chat.example.com\"]")
                .withFallback(ServeIT.tempDataDir()).withFallback(ServeCommand.nodeDefaults()).resolve();
        node = ServeCommand.start(model, "stories", c);
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

    @Test
    void theLegacyFunctionRoleIsAccepted() throws Exception {
        HttpResponse<String> r = send("POST", "/v1/chat/completions", "{\"model\":\"stories\",\"max_tokens\":2,\"messages\":["
                + "{\"role\":\"user\",\"content\":\"weather?\"},"
                + "{\"role\":\"assistant\",\"content\":null,\"function_call\":{\"name\":\"weather\",\"arguments\":\"{}\"}},"
                + "{\"role\":\"function\",\"name\":\"weather\",\"content\":\"sunny\"}]}");
        assertEquals(200, r.statusCode(), r.body());
    }
}
