package dev.troupe.node.http;

import com.fasterxml.jackson.databind.JsonNode;
import dev.troupe.node.ServeCommand;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Availability and safety of a real node against hostile clients: connection floods, stalled headers and
 * bodies, secrets in logs, the metrics' tenant series, browser-driven requests. Raw sockets where the JDK
 * client would not misbehave on purpose.
 */
class HardeningIT {
    static final String ADMIN_TOKEN = "adm!n#Secret-Token-42";
    static final String SCRAPE_TOKEN = "scrape-Secret-Token-7";
    static ServeCommand.Node node;
    static int port;

    @BeforeAll
    static void start() throws Exception {
        node = ServeIT.startNode("stories260K-f32.gguf", "troupe.http.max-body-bytes = 65536\ntroupe.shutdown.grace = 2s\n"
                        + "troupe.http.idle-timeout = 2s\ntroupe.http.shed-idle-after = 300ms\ntroupe.http.body-timeout = 1s\n"
                        + "troupe.weights.model-dirs = []\n" // the default: the model's directory and data-dir/models
                        + "troupe.admin.token = \"" + ADMIN_TOKEN + "\"\ntroupe.metrics.scrape-token = \"" + SCRAPE_TOKEN + "\"");
        port = node.port();
    }

    @AfterAll
    static void stop() {
        if (node != null) node.stop();
    }

    static HttpResponse<String> get(String path) throws Exception {
        return ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(5))
                .GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Sends raw bytes on a fresh connection and reads until the server closes it or readFor passes. */
    static String raw(String request, Duration readFor) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 2000);
            s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            return readUntilClosed(s, readFor);
        }
    }

    /** One raw request on a fresh connection to port, read for up to 3 s. */
    static String rawTo(int port, String request) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 2000);
            s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            return readUntilClosed(s, Duration.ofSeconds(3));
        }
    }

    static String readUntilClosed(Socket s, Duration readFor) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        long until = System.nanoTime() + readFor.toNanos();
        InputStream in = s.getInputStream();
        byte[] buf = new byte[8192];
        while (System.nanoTime() < until) {
            s.setSoTimeout((int) Math.max(1, (until - System.nanoTime()) / 1_000_000));
            try {
                int n = in.read(buf);
                if (n < 0) break;
                out.write(buf, 0, n);
            } catch (SocketTimeoutException e) {
                break;
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    static int status(String rawResponse) {
        assertTrue(rawResponse.startsWith("HTTP/1.1 "), "no response: '" + rawResponse + "'");
        return Integer.parseInt(rawResponse.substring(9, 12));
    }

    static JsonNode errorBody(String rawResponse) throws Exception {
        String body = rawResponse.substring(rawResponse.indexOf("\r\n\r\n") + 4);
        JsonNode e = ServeIT.JSON.readTree(body).get("error");
        assertNotNull(e, rawResponse);
        assertTrue(e.has("message") && e.has("type") && e.has("code"), rawResponse);
        return e;
    }

    // ------------------------------------------------------------------ connections

    @Test
    void aFloodOfIdleConnectionsLeavesRoomForHealthChecks() throws Exception {
        List<Socket> flood = new ArrayList<>();
        try {
            // More than Pekko's 1,024 connections, all idle: before shedding, the node answered no one for 300 s.
            for (int i = 0; i < 1100; i++) {
                Socket s = new Socket();
                s.connect(new InetSocketAddress("127.0.0.1", port), 2000);
                flood.add(s);
            }
            long t0 = System.nanoTime();
            HttpResponse<String> r = get("/health/live");
            assertEquals(200, r.statusCode(), r.body());
            assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(4).toNanos());
        } finally {
            for (Socket s : flood) s.close();
        }
        // The node lets go of the closed connections.
        long until = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        double open;
        while ((open = metric("troupe_http_connections_open")) > 5 && System.nanoTime() < until) Thread.sleep(50);
        assertTrue(open <= 5, open + " connections still open");
    }

    static double metric(String name) throws Exception {
        for (String line : get("/metrics").body().split("\n")) {
            if (line.startsWith(name + " ")) return Double.parseDouble(line.substring(name.length() + 1).trim());
        }
        return -1;
    }

    @Test
    void aStreamedFileKeepsItsContentLength() throws Exception {
        Path file = ServeIT.shared("stories260K-f32.gguf");
        String r = raw("GET /internal/weights/" + dev.troupe.node.deploy.Sha256.of(file) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                + ADMIN_TOKEN + "\r\nRange: bytes=0-99\r\nConnection: close\r\n\r\n", Duration.ofSeconds(5));
        assertEquals(206, status(r), r.substring(0, Math.min(400, r.length())));
        String head = r.substring(0, r.indexOf("\r\n\r\n")).toLowerCase();
        assertTrue(head.contains("content-length: 100"), head);
        assertFalse(head.contains("transfer-encoding"), head);
        HttpResponse<byte[]> whole = ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/internal/weights/"
                + dev.troupe.node.deploy.Sha256.of(file))).header("Authorization", "Bearer " + ADMIN_TOKEN).GET().build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(200, whole.statusCode());
        assertEquals(String.valueOf(java.nio.file.Files.size(file)), whole.headers().firstValue("content-length").orElse(null));
        assertEquals(java.nio.file.Files.size(file), whole.body().length);
    }

    @Test
    void headersThatNeverFinishAreCutOffAtTheIdleTimeout() throws Exception {
        long t0 = System.nanoTime();
        String r = raw("GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", Duration.ofSeconds(6));
        long took = System.nanoTime() - t0;
        assertTrue(took < Duration.ofSeconds(5).toNanos(), "the connection was held " + took / 1_000_000 + " ms");
        assertFalse(r.contains("200 OK"), r);
    }

    @Test
    void aStalledBodyGets408Json() throws Exception {
        long t0 = System.nanoTime();
        String r = raw("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                + "{\"model\":", Duration.ofSeconds(6));
        assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(5).toNanos());
        assertEquals(408, status(r), r);
        errorBody(r);
    }

    @Test
    void aDeclaredOversizeBodyThatNeverArrivesIsNotHeld() throws Exception {
        long t0 = System.nanoTime();
        String r = raw("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n"
                + "{\"model\":", Duration.ofSeconds(6));
        assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(5).toNanos(), "held " + (System.nanoTime() - t0) / 1_000_000 + " ms");
        assertEquals(413, status(r), r);
        errorBody(r);
    }

    // ------------------------------------------------------------------ secrets

    @Test
    void noSecretReachesTheLogOnMalformedOrValidCalls() throws Exception {
        ch.qos.logback.classic.Logger root = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> logs = new ch.qos.logback.core.read.ListAppender<>();
        logs.start();
        root.addAppender(logs);
        try {
            // A valid admin call whose token has characters outside token68: Pekko warned with the header in full.
            HttpResponse<String> admin = ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/admin/models"))
                    .header("Authorization", "Bearer " + ADMIN_TOKEN).timeout(Duration.ofSeconds(5)).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, admin.statusCode(), admin.body());
            // A wrong API key, illegal syntax.
            HttpResponse<String> key = ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                    .header("Authorization", "Bearer sk-Leaked!Key#1").header("Content-Type", "application/json").timeout(Duration.ofSeconds(5))
                    .POST(HttpRequest.BodyPublishers.ofString(ServeIT.completionBody("x", 1, false))).build(), HttpResponse.BodyHandlers.ofString());
            assertTrue(key.statusCode() < 500, key.body()); // keyless loopback mode: no tenants, so the key is not checked
            // Headers Pekko cannot parse at all: a control character, an oversize value, a broken header line.
            String bad1 = raw("GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk-Leaked\u0001Ctl\r\n\r\n", Duration.ofSeconds(3));
            String bad2 = raw("GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk-Leaked" + "x".repeat(9000)
                    + "\r\n\r\n", Duration.ofSeconds(3));
            String bad3 = raw("GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization Bearer sk-LeakedNoColon\r\n\r\n", Duration.ofSeconds(3));
            for (String r : List.of(bad1, bad2, bad3)) {
                if (status(r) >= 400) {
                    assertTrue(status(r) < 500, r);
                    errorBody(r);
                }
            }
            Thread.sleep(500); // Pekko logs asynchronously
            for (ch.qos.logback.classic.spi.ILoggingEvent e : logs.list) {
                String text = e.getFormattedMessage() + (e.getThrowableProxy() == null ? "" : e.getThrowableProxy().getMessage());
                assertFalse(text.contains("Secret-Token") || text.contains("sk-Leaked"), "a secret was logged: " + text);
            }
        } finally {
            root.detachAppender(logs);
        }
    }

    // ------------------------------------------------------------------ metrics

    @Test
    void tenantSeriesNeedTheScrapeToken() throws Exception {
        HttpResponse<String> done = ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                .header("Content-Type", "application/json").timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofString(ServeIT.completionBody("Once", 2, false))).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, done.statusCode(), done.body());
        HttpResponse<String> anyone = get("/metrics");
        assertEquals(200, anyone.statusCode());
        assertTrue(anyone.body().contains("troupe_requests_total"), anyone.body());
        assertFalse(anyone.body().contains("tenant="), "tenant series shown to an anonymous scraper");
        HttpResponse<String> wrong = ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                .header("Authorization", "Bearer nope").GET().build(), HttpResponse.BodyHandlers.ofString());
        assertFalse(wrong.body().contains("tenant="));
        HttpResponse<String> scraper = ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                .header("Authorization", "Bearer " + SCRAPE_TOKEN).GET().build(), HttpResponse.BodyHandlers.ofString());
        assertTrue(scraper.body().contains("troupe_tenant_generated_tokens_total{"), scraper.body());
    }

    // ------------------------------------------------------------------ browsers (keyless loopback mode)

    @Test
    void aWebPageCannotDriveAKeylessNode() throws Exception {
        String body = ServeIT.completionBody("Once", 1, false);
        // A cross-origin "simple" request: text/plain needs no CORS preflight.
        String plain = raw("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nContent-Type: text/plain\r\nContent-Length: "
                + body.length() + "\r\nConnection: close\r\n\r\n" + body, Duration.ofSeconds(5));
        assertEquals(415, status(plain), plain);
        errorBody(plain);
        // DNS rebinding: the page's own name now points at 127.0.0.1.
        String rebound = raw("POST /v1/completions HTTP/1.1\r\nHost: evil.example:" + port + "\r\nContent-Type: application/json\r\n"
                + "Content-Length: " + body.length() + "\r\nConnection: close\r\n\r\n" + body, Duration.ofSeconds(5));
        assertEquals(403, status(rebound), rebound);
        assertEquals("host_not_allowed", errorBody(rebound).get("code").asText());
        String local = raw("GET /health/live HTTP/1.1\r\nHost: localhost:" + port + "\r\nConnection: close\r\n\r\n", Duration.ofSeconds(5));
        assertEquals(200, status(local), local);
        String v6 = raw("GET /health/live HTTP/1.1\r\nHost: [::1]:" + port + "\r\nConnection: close\r\n\r\n", Duration.ofSeconds(5));
        assertEquals(200, status(v6), v6);
        // The web console is behind the same Host check: a rebound page cannot load it (or read the token it holds).
        String console = raw("GET /console HTTP/1.1\r\nHost: evil.example:" + port + "\r\nConnection: close\r\n\r\n", Duration.ofSeconds(5));
        assertEquals(403, status(console), console);
        String ownConsole = raw("GET /console HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nConnection: close\r\n\r\n", Duration.ofSeconds(5));
        assertEquals(200, status(ownConsole), ownConsole);
        assertTrue(ownConsole.contains("Content-Security-Policy: default-src 'none'"), ownConsole);
    }

    // ------------------------------------------------------------------ bad input: 4xx with an OpenAI body, never 5xx

    static HttpResponse<String> send(String method, String path, String contentType, String body, String bearer) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(10))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (contentType != null) b.header("Content-Type", contentType);
        if (bearer != null) b.header("Authorization", "Bearer " + bearer);
        return ServeIT.HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void numbersBeyondDoubleAreA400() throws Exception {
        for (String field : List.of("max_tokens", "seed", "logprobs", "top_k")) {
            HttpResponse<String> r = send("POST", "/v1/completions", "application/json",
                    "{\"model\":\"stories\",\"prompt\":\"x\",\"" + field + "\":1e309}", null);
            ServeIT.assertError(r, 400, field);
        }
    }

    @Test
    void chunkedBodiesOverTheLimitOrMalformedAre4xx() throws Exception {
        String chunk = "x".repeat(8192);
        StringBuilder big = new StringBuilder("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
        for (int i = 0; i < 10; i++) big.append(Integer.toHexString(chunk.length())).append("\r\n").append(chunk).append("\r\n");
        big.append("0\r\n\r\n");
        String r = raw(big.toString(), Duration.ofSeconds(5));
        assertEquals(413, status(r), r);
        errorBody(r);
        // Bad chunk framing after the request started: Pekko's parser fails the connection itself (it cannot
        // answer within a broken framing); the body read fails, and never as a 5xx.
        String bad;
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 2000);
            s.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n").getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            Thread.sleep(200);
            s.getOutputStream().write("zz\r\n{}\r\n0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            bad = readUntilClosed(s, Duration.ofSeconds(5));
        }
        assertTrue(bad.isEmpty() || (status(bad) >= 400 && status(bad) < 500), bad);
        String badAtOnce = raw("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", Duration.ofSeconds(5));
        assertTrue(badAtOnce.isEmpty() || (status(badAtOnce) >= 400 && status(badAtOnce) < 500), badAtOnce);
        // Pekko's own parse errors come as OpenAI JSON.
        String garbage = raw("GET /a%zz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", Duration.ofSeconds(5));
        assertEquals(400, status(garbage), garbage);
        errorBody(garbage);
        String noVersion = raw("BLAH\r\n\r\n", Duration.ofSeconds(5));
        assertTrue(noVersion.isEmpty() || (status(noVersion) >= 400 && status(noVersion) < 500), noVersion);
    }

    @Test
    void adminBodiesAreBoundedInSizeAndTime() throws Exception {
        HttpResponse<String> big = send("POST", "/admin/models/m/versions", "application/json",
                "{\"version\":\"v1\",\"pad\":\"" + "x".repeat(70_000) + "\"}", ADMIN_TOKEN);
        ServeIT.assertError(big, 413, null);
        long t0 = System.nanoTime();
        String stalled = raw("POST /admin/models/m/versions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + ADMIN_TOKEN
                + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", Duration.ofSeconds(6));
        assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(5).toNanos());
        assertEquals(408, status(stalled), stalled);
        errorBody(stalled);
    }

    @Test
    void versionPathsAreValidatedAndConfinedToTheModelDirectories() throws Exception {
        String sha = "0".repeat(64);
        HttpResponse<String> nul = send("POST", "/admin/models/m/versions", "application/json",
                "{\"version\":\"v1\",\"path\":\"/tmp/a\\u0000b.gguf\",\"sha256\":\"" + sha + "\"}", ADMIN_TOKEN);
        ServeIT.assertError(nul, 400, "path");
        HttpResponse<String> outside = send("POST", "/admin/models/m/versions", "application/json",
                "{\"version\":\"v1\",\"path\":\"/etc/passwd\",\"sha256\":\"" + sha + "\"}", ADMIN_TOKEN);
        ServeIT.assertError(outside, 400, "path");
        assertTrue(outside.body().contains("model-dirs"), outside.body());
        assertFalse(outside.body().contains("0x"), "the file's bytes were revealed: " + outside.body());
        HttpResponse<String> escape = send("POST", "/admin/models/m/versions", "application/json",
                "{\"version\":\"v1\",\"path\":\"" + ServeIT.shared("stories260K-f32.gguf").getParent() + "/../../../etc/passwd\",\"sha256\":\""
                        + sha + "\"}", ADMIN_TOKEN);
        ServeIT.assertError(escape, 400, "path");
        assertTrue(escape.body().contains("model-dirs"), escape.body());
        // NUL and other odd characters in the URL's names.
        for (String[] call : List.of(new String[] {"DELETE", "/admin/models/stories/versions/v%00"}, new String[] {"GET", "/admin/models/a%00b"},
                new String[] {"GET", "/admin/models/a%00b/history"}, new String[] {"GET", "/admin/models/stories/state?at=%00"},
                new String[] {"POST", "/admin/models/a%00b/versions"}, new String[] {"GET", "/v1/models/a%00b"},
                new String[] {"GET", "/admin/tenants/a%00b"}, new String[] {"GET", "/admin/tenants/a%00b/usage"})) {
            HttpResponse<String> r = send(call[0], call[1], call[0].equals("POST") ? "application/json" : null,
                    call[0].equals("POST") ? "{\"version\":\"v1\",\"path\":\"/x\",\"sha256\":\"" + sha + "\"}" : null, ADMIN_TOKEN);
            assertTrue(r.statusCode() >= 400 && r.statusCode() < 500, call[0] + " " + call[1] + ": " + r.statusCode() + " " + r.body());
            ServeIT.assertError(r, r.statusCode(), null);
        }
    }

    @Test
    void aWrongMethodIs405WithAllow() throws Exception {
        HttpResponse<String> r = send("GET", "/v1/completions", null, null, null);
        ServeIT.assertError(r, 405, null);
        assertEquals("POST", r.headers().firstValue("allow").orElse(null));
        ServeIT.assertError(send("DELETE", "/health/live", null, null, null), 405, null);
        ServeIT.assertError(send("GET", "/v1/nothing-here", null, null, null), 404, null);
    }

    // ------------------------------------------------------------------ fuzz

    static final List<String> ENDPOINTS = List.of("/v1/completions", "/v1/chat/completions", "/v1/embeddings", "/tokenize", "/detokenize");
    static final List<String> SEEDS = List.of(
            "{\"model\":\"stories\",\"prompt\":\"Once upon\",\"max_tokens\":3,\"temperature\":0.5,\"top_p\":0.9,\"stop\":[\"x\"],\"seed\":1,\"logprobs\":2,\"stream\":false}",
            "{\"model\":\"stories\",\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}],\"max_tokens\":3,\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
            "{\"model\":\"stories\",\"input\":[\"a\",\"b\"],\"encoding_format\":\"float\"}",
            "{\"model\":\"stories\",\"prompt\":\"hello\",\"add_special_tokens\":true}",
            "{\"model\":\"stories\",\"tokens\":[1,2,3]}");
    static final List<String> VALUES = List.of("null", "true", "-1", "0", "1e309", "-1e309", "1e-400", "9223372036854775808", "2.5", "\"\"",
            "\"\\u0000\"", "\"\\ud800\"", "[]", "{}", "[[[[[[[[[[1]]]]]]]]]]", "\"x\"", "[1e309]", "[\"a\",1]", "{\"a\":{}}", "-0", "1.0",
            "100000", "\"stories\"", "[{\"role\":\"user\"}]", "[{\"role\":\"function\",\"content\":\"x\",\"name\":\"f\"}]");
    static final List<String> FIELDS = List.of("model", "prompt", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
            "top_k", "min_p", "n", "stop", "seed", "logprobs", "top_logprobs", "stream", "stream_options", "input", "tokens",
            "presence_penalty", "frequency_penalty", "repetition_penalty", "logit_bias", "tools", "tool_choice", "response_format",
            "encoding_format", "dimensions", "user", "echo", "suffix", "best_of", "ignore_eos", "add_special_tokens", "chat_template_kwargs");

    /** One mutated body: fields of a valid request replaced, added, removed, or the bytes themselves damaged. */
    static byte[] mutate(java.util.Random rnd) throws Exception {
        com.fasterxml.jackson.databind.node.ObjectNode o = (com.fasterxml.jackson.databind.node.ObjectNode) ServeIT.JSON.readTree(
                SEEDS.get(rnd.nextInt(SEEDS.size())));
        int edits = 1 + rnd.nextInt(3);
        StringBuilder extra = new StringBuilder();
        for (int i = 0; i < edits; i++) {
            String f = FIELDS.get(rnd.nextInt(FIELDS.size()));
            switch (rnd.nextInt(3)) {
                case 0 -> o.remove(f);
                default -> extra.append(",\"").append(f).append("\":").append(VALUES.get(rnd.nextInt(VALUES.size())));
            }
        }
        // Raw values are spliced in as text: they include numbers Jackson would not write (1e309).
        String text = o.toString();
        text = text.substring(0, text.length() - 1) + (o.isEmpty() && extra.length() > 0 ? extra.substring(1) : extra) + "}";
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        switch (rnd.nextInt(8)) {
            case 0 -> b = java.util.Arrays.copyOf(b, rnd.nextInt(b.length + 1));         // truncated
            case 1 -> b[rnd.nextInt(b.length)] = (byte) rnd.nextInt(256);                // one byte damaged
            case 2 -> b = (text + text).getBytes(StandardCharsets.UTF_8);               // trailing data
            default -> { }
        }
        return b;
    }

    @Test
    void fuzzedBodiesAndFramingsNeverGetA5xx() throws Exception {
        java.util.Random rnd = new java.util.Random(20261206L);
        long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        java.util.Map<Integer, Integer> statuses = new java.util.TreeMap<>();
        int sent = 0;
        // Bodies through the JDK client, 16 at a time.
        while (sent < 2500 && System.nanoTime() < until) {
            List<java.util.concurrent.CompletableFuture<HttpResponse<String>>> batch = new ArrayList<>();
            List<String> shown = new ArrayList<>();
            for (int i = 0; i < 16; i++, sent++) {
                byte[] body = mutate(rnd);
                String path = ENDPOINTS.get(rnd.nextInt(ENDPOINTS.size()));
                shown.add(path + " " + new String(body, StandardCharsets.UTF_8));
                batch.add(ServeIT.HTTP.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                        .timeout(Duration.ofSeconds(30)).header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofString()));
            }
            for (int i = 0; i < batch.size(); i++) {
                HttpResponse<String> r = batch.get(i).get();
                statuses.merge(r.statusCode(), 1, Integer::sum);
                assertTrue(r.statusCode() < 500, "a 5xx for " + shown.get(i) + ": " + r.body());
                if (r.statusCode() >= 400) ServeIT.assertError(r, r.statusCode(), null);
            }
        }
        // Framings over raw sockets: methods, declared lengths that lie (short), chunking, odd headers.
        List<String> methods = List.of("POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD");
        for (int i = 0; i < 300 && System.nanoTime() < until; i++) {
            byte[] body = mutate(rnd);
            String path = rnd.nextInt(10) == 0 ? "/admin/models/m/versions" : ENDPOINTS.get(rnd.nextInt(ENDPOINTS.size()));
            String method = methods.get(rnd.nextInt(methods.size()));
            StringBuilder req = new StringBuilder(method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
            if (path.startsWith("/admin")) req.append("Authorization: Bearer ").append(ADMIN_TOKEN).append("\r\n");
            req.append("Content-Type: ").append(rnd.nextInt(6) == 0 ? "text/plain" : "application/json").append("\r\n");
            String payload = new String(body, StandardCharsets.ISO_8859_1);
            if (rnd.nextBoolean()) {
                req.append("Transfer-Encoding: chunked\r\n\r\n");
                int at = 0;
                while (at < payload.length()) {
                    int n = Math.min(payload.length() - at, 1 + rnd.nextInt(40));
                    req.append(Integer.toHexString(n)).append("\r\n").append(payload, at, at + n).append("\r\n");
                    at += n;
                }
                req.append("0\r\n\r\n");
            } else {
                // A declared length up to 3 bytes short (the rest is a next "request"), or the exact one.
                int declared = Math.max(0, payload.length() - (rnd.nextInt(4) == 0 ? rnd.nextInt(4) : 0));
                req.append("Content-Length: ").append(declared).append("\r\n\r\n").append(payload);
            }
            String r = raw(req.toString(), Duration.ofSeconds(5));
            if (r.isEmpty()) continue; // the server closed a connection it could not make sense of
            int st = status(r);
            statuses.merge(st, 1, Integer::sum);
            assertTrue(st < 500, "a 5xx for " + req + ": " + r);
        }
        assertTrue(statuses.keySet().stream().anyMatch(st -> st == 200), "nothing valid was sent: " + statuses);
        assertTrue(statuses.values().stream().mapToInt(Integer::intValue).sum() > 1000, "too few requests in time: " + statuses);
    }
}
