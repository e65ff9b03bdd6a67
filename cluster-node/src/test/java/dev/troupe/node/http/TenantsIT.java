package dev.troupe.node.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.troupe.actors.registry.JournalConfig;
import dev.troupe.actors.tenant.ApiKeys;
import dev.troupe.node.ServeCommand;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.*;

/** Tenants end to end: a real node on the stories260K model, the admin API and /v1 over real HTTP. */
class TenantsIT {
    static final String ADMIN = "admin-s3cret";
    static ServeCommand.Node node;
    static Path dataDir;
    static Path model;

    static Config config(Path data) {
        return ConfigFactory.parseString("troupe.http.port = 0\ntroupe.engine.threads = 1\ntroupe.engine.warm-up = 0s\n"
                        + "troupe.admin.token = \"" + ADMIN + "\"\ntroupe.data-dir = \"" + data.toString().replace("\\", "/") + "\"")
                .withFallback(ServeCommand.nodeDefaults()).resolve();
    }

    @BeforeAll
    static void start() throws Exception {
        model = ServeIT.shared("stories260K-f32.gguf");
        Assumptions.assumeTrue(model != null, "../shared/models/stories260K-f32.gguf not found");
        dataDir = java.nio.file.Files.createTempDirectory("troupe-tenants");
        node = ServeCommand.start(model, "stories", config(dataDir));
    }

    @AfterAll
    static void stop() {
        if (node != null) node.stop();
    }

    // ------------------------------------------------------------------ HTTP helpers

    static HttpResponse<String> call(ServeCommand.Node n, String method, String path, String bearer, String body, String... headers)
            throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + n.port() + path)).timeout(Duration.ofSeconds(60))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) b.header("Content-Type", "application/json");
        if (bearer != null) b.header("Authorization", "Bearer " + bearer);
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        return ServeIT.HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> call(String method, String path, String bearer, String body, String... headers) throws Exception {
        return call(node, method, path, bearer, body, headers);
    }

    static JsonNode json(HttpResponse<String> r, int status) throws Exception {
        assertEquals(status, r.statusCode(), r.body());
        return ServeIT.JSON.readTree(r.body());
    }

    /** Status, OpenAI error body, and the param and code when given. */
    static JsonNode error(HttpResponse<String> r, int status, String param, String code) throws Exception {
        ServeIT.assertError(r, status, param);
        JsonNode e = ServeIT.JSON.readTree(r.body()).get("error");
        if (code != null) assertEquals(code, e.get("code").asText(), r.body());
        return e;
    }

    static void createTenant(ServeCommand.Node n, String body) throws Exception {
        json(call(n, "POST", "/admin/tenants", ADMIN, body), 201);
    }

    static String[] issueKey(ServeCommand.Node n, String tenant) throws Exception {
        JsonNode k = json(call(n, "POST", "/admin/tenants/" + tenant + "/keys", ADMIN, null), 201);
        assertTrue(k.get("key").asText().startsWith("tk-" + k.get("keyId").asText() + "-"), k.toString());
        return new String[] {k.get("keyId").asText(), k.get("key").asText()};
    }

    static String completion(int maxTokens) {
        return ServeIT.completionBody("Once upon a time", maxTokens, false);
    }

    static final String CHAT = "{\"model\":\"stories\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":3,\"temperature\":0}";
    static final String EMBED = "{\"model\":\"stories\",\"input\":\"a cat\"}";

    static JsonNode usage(ServeCommand.Node n, String tenant, String bearer) throws Exception {
        return json(call(n, "GET", "/admin/tenants/" + tenant + "/usage", bearer, null), 200);
    }

    /** Polls the tenant's usage (recorded asynchronously at the end of each request) until it matches. */
    static JsonNode awaitUsage(ServeCommand.Node n, String tenant, Predicate<JsonNode> until) throws Exception {
        long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        JsonNode u = usage(n, tenant, ADMIN);
        while (!until.test(u) && System.nanoTime() < end) {
            Thread.sleep(20);
            u = usage(n, tenant, ADMIN);
        }
        assertTrue(until.test(u), u.toString());
        return u;
    }

    // ------------------------------------------------------------------ tests

    @Test
    void adminErrorsHaveStatusAndBody() throws Exception {
        error(call("POST", "/admin/tenants", null, "{\"id\":\"x1\"}"), 401, null, null);
        error(call("POST", "/admin/tenants", "wrong", "{\"id\":\"x1\"}"), 403, null, null);
        error(call("GET", "/admin/tenants", "wrong", null), 403, null, null);
        error(call("POST", "/admin/tenants", ADMIN, "{\"id\":"), 400, null, null);
        error(call("POST", "/admin/tenants", ADMIN, "[1]"), 400, null, null);
        error(call("POST", "/admin/tenants", ADMIN, "{}"), 400, "id", null);
        error(call("POST", "/admin/tenants", ADMIN, "{\"id\":\"Has Space\"}"), 400, "id", null);
        error(call("POST", "/admin/tenants", ADMIN, "{\"id\":\"anonymous\"}"), 400, "id", null);
        error(call("POST", "/admin/tenants", ADMIN, "{\"id\":\"x1\",\"weight\":\"heavy\"}"), 400, "weight", null);
        error(call("POST", "/admin/tenants", ADMIN, "{\"id\":\"x1\",\"weight\":0}"), 400, "weight", null);
        error(call("POST", "/admin/tenants", ADMIN, "{\"id\":\"x1\",\"color\":\"red\"}"), 400, "color", null);
        error(call("POST", "/admin/tenants", ADMIN, "{\"id\":\"x1\",\"quotas\":{\"requests_per_minute\":-1}}"), 400,
                "quotas.requests_per_minute", null);
        error(call("POST", "/admin/tenants", ADMIN, "{\"id\":\"x1\",\"quotas\":{\"rpm\":1}}"), 400, "quotas.rpm", null);
        error(call("POST", "/admin/tenants", ADMIN, "{\"id\":\"x1\",\"models\":\"stories\"}"), 400, "models", null);
        error(call("POST", "/admin/tenants", ADMIN, "{\"id\":\"x1\",\"models\":[\"a\",\"a\"]}"), 400, "models", null);
        error(call("GET", "/admin/tenants/x1", ADMIN, null), 404, null, null);   // nothing was created by the bad calls

        JsonNode created = json(call("POST", "/admin/tenants", ADMIN,
                "{\"id\":\"x1\",\"weight\":3,\"quotas\":{\"requests_per_minute\":100},\"models\":[\"stories\"]}"), 201);
        assertEquals("x1", created.get("id").asText());
        assertEquals(3, created.get("weight").asInt());
        assertEquals(100, created.get("quotas").get("requests_per_minute").asInt());
        assertEquals(0, created.get("quotas").get("tokens_per_minute").asInt());
        error(call("POST", "/admin/tenants", ADMIN, "{\"id\":\"x1\"}"), 409, null, "conflict");

        for (String[] c : List.of(new String[] {"GET", "/admin/tenants/nobody"}, new String[] {"GET", "/admin/tenants/nobody/history"},
                new String[] {"GET", "/admin/tenants/nobody/usage"}, new String[] {"POST", "/admin/tenants/nobody/keys"},
                new String[] {"POST", "/admin/tenants/nobody/suspend"}, new String[] {"POST", "/admin/tenants/nobody/resume"},
                new String[] {"DELETE", "/admin/tenants/nobody/keys/abc"}, new String[] {"GET", "/admin/tenants/NOT%20VALID"})) {
            error(call(c[0], c[1], ADMIN, null), 404, null, null);
        }
        error(call("PUT", "/admin/tenants/nobody", ADMIN, "{\"weight\":2}"), 404, null, null);
        error(call("DELETE", "/admin/tenants/x1/keys/0123456789abcdef01234567", ADMIN, null), 404, null, null);
        error(call("PUT", "/admin/tenants/x1", ADMIN, "{\"id\":\"other\"}"), 400, "id", null);
        error(call("PUT", "/admin/tenants/x1", ADMIN, "{\"quotas\":{\"max_concurrent\":-3}}"), 400, "quotas.max_concurrent", null);
        error(call("POST", "/admin/tenants/x1/suspend", ADMIN, "{\"reason\":5}"), 400, "reason", null);
        error(call("GET", "/admin/tenants/x1/nothing", ADMIN, null), 404, null, "unknown_url");

        JsonNode updated = json(call("PUT", "/admin/tenants/x1", ADMIN, "{\"weight\":4,\"quotas\":{\"max_concurrent\":2}}"), 200);
        assertEquals(4, updated.get("weight").asInt());
        assertEquals(100, updated.get("quotas").get("requests_per_minute").asInt(), "quotas merge field by field");
        assertEquals(2, updated.get("quotas").get("max_concurrent").asInt());
        JsonNode history = json(call("GET", "/admin/tenants/x1/history", ADMIN, null), 200).get("events");
        assertEquals(List.of("TenantCreated", "WeightSet", "QuotasSet"), types(history));
        for (JsonNode e : history) assertEquals("admin", e.get("actor").asText());
        JsonNode list = json(call("GET", "/admin/tenants", ADMIN, null), 200);
        assertTrue(ids(list).contains("x1"), list.toString());
    }

    static List<String> types(JsonNode events) {
        List<String> out = new ArrayList<>();
        for (JsonNode e : events) out.add(e.get("type").asText());
        return out;
    }

    static List<String> ids(JsonNode list) {
        List<String> out = new ArrayList<>();
        for (JsonNode t : list.get("data")) out.add(t.get("id").asText());
        return out;
    }

    @Test
    void v1AuthErrors() throws Exception {
        createTenant(node, "{\"id\":\"auth\"}");
        String[] key = issueKey(node, "auth");
        assertEquals(200, call("POST", "/v1/completions", key[1], completion(2)).statusCode());

        for (String[] ep : List.of(new String[] {"POST", "/v1/completions", completion(2)}, new String[] {"POST", "/v1/chat/completions", CHAT},
                new String[] {"POST", "/v1/embeddings", EMBED}, new String[] {"GET", "/v1/models", null})) {
            error(call(ep[0], ep[1], null, ep[2]), 401, null, "missing_api_key");
            error(call(ep[0], ep[1], "sk-not-ours", ep[2]), 401, null, "invalid_api_key");
            error(call(ep[0], ep[1], ApiKeys.issue().key(), ep[2]), 401, null, "invalid_api_key");
            String forged = ApiKeys.PREFIX + key[0] + "-" + ApiKeys.parse(ApiKeys.issue().key()).secret();
            error(call(ep[0], ep[1], forged, ep[2]), 401, null, "invalid_api_key");
        }
        HttpResponse<String> basic = ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.port() + "/v1/models"))
                .header("Authorization", "Basic dXNlcjpwYXNz").GET().build(), HttpResponse.BodyHandlers.ofString());
        error(basic, 401, null, "invalid_api_key");

        JsonNode revoked = json(call("DELETE", "/admin/tenants/auth/keys/" + key[0], ADMIN, null), 200);
        assertTrue(revoked.get("revoked").asBoolean());
        JsonNode e = error(call("POST", "/v1/completions", key[1], completion(2)), 401, null, "invalid_api_key");
        assertTrue(e.get("message").asText().contains("revoked"), e.toString());
        assertFalse(e.toString().contains(key[1].substring(3)), "errors never echo the key");
        error(call("GET", "/v1/models", key[1], null), 401, null, "invalid_api_key");
        error(call("GET", "/admin/tenants/auth/usage", key[1], null), 401, null, null);
        json(call("DELETE", "/admin/tenants/auth/keys/" + key[0], ADMIN, null), 200);   // revoking again: same answer
    }

    @Test
    void modelAllowListAndSuspension() throws Exception {
        createTenant(node, "{\"id\":\"narrow\",\"models\":[\"some-other-model\"]}");
        String key = issueKey(node, "narrow")[1];
        error(call("POST", "/v1/completions", key, completion(2)), 403, "model", "model_not_allowed");
        error(call("POST", "/v1/chat/completions", key, CHAT), 403, "model", "model_not_allowed");
        error(call("POST", "/v1/embeddings", key, EMBED), 403, "model", "model_not_allowed");
        assertEquals(0, json(call("GET", "/v1/models", key, null), 200).get("data").size());
        json(call("PUT", "/admin/tenants/narrow", ADMIN, "{\"models\":[\"stories\"]}"), 200);
        assertEquals(200, call("POST", "/v1/completions", key, completion(2)).statusCode());
        assertEquals("stories", json(call("GET", "/v1/models", key, null), 200).get("data").get(0).get("id").asText());

        JsonNode s = json(call("POST", "/admin/tenants/narrow/suspend", ADMIN, "{\"reason\":\"unpaid\"}"), 200);
        assertTrue(s.get("suspended").asBoolean());
        assertEquals("unpaid", s.get("suspend_reason").asText());
        error(call("POST", "/v1/completions", key, completion(2)), 403, null, "tenant_suspended");
        error(call("GET", "/v1/models", key, null), 403, null, "tenant_suspended");
        json(call("POST", "/admin/tenants/narrow/resume", ADMIN, null), 200);
        assertEquals(200, call("POST", "/v1/completions", key, completion(2)).statusCode());
    }

    @Test
    void quotasAnswer429WithRetryAfter() throws Exception {
        createTenant(node, "{\"id\":\"rpm\",\"quotas\":{\"requests_per_minute\":2}}");
        String rpm = issueKey(node, "rpm")[1];
        assertEquals(200, call("POST", "/v1/completions", rpm, completion(2)).statusCode());
        assertEquals(200, call("POST", "/v1/embeddings", rpm, EMBED).statusCode());
        HttpResponse<String> r = call("POST", "/v1/completions", rpm, completion(2));
        error(r, 429, null, "requests_per_minute");
        long retry = Long.parseLong(r.headers().firstValue("Retry-After").orElseThrow());
        assertTrue(retry >= 50 && retry <= 60, "Retry-After " + retry);

        createTenant(node, "{\"id\":\"tpm\",\"quotas\":{\"tokensPerMinute\":10}}");
        String tpm = issueKey(node, "tpm")[1];
        JsonNode first = json(call("POST", "/v1/completions", tpm, completion(8)), 200);
        assertTrue(first.get("usage").get("total_tokens").asInt() >= 10, first.toString());
        r = call("POST", "/v1/completions", tpm, completion(2));
        error(r, 429, null, "tokens_per_minute");
        assertTrue(Long.parseLong(r.headers().firstValue("Retry-After").orElseThrow()) >= 50);

        createTenant(node, "{\"id\":\"conc\",\"quotas\":{\"max_concurrent\":1}}");
        String conc = issueKey(node, "conc")[1];
        boolean refused = false;
        for (int round = 0; round < 10 && !refused; round++) {
            List<CompletableFuture<HttpResponse<String>>> burst = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                burst.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        return call("POST", "/v1/completions", conc, completion(100));
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }));
            }
            for (CompletableFuture<HttpResponse<String>> f : burst) {
                HttpResponse<String> x = f.join();
                if (x.statusCode() == 429) {
                    error(x, 429, null, "concurrent_requests");
                    assertEquals("1", x.headers().firstValue("Retry-After").orElseThrow());
                    refused = true;
                } else {
                    assertEquals(200, x.statusCode(), x.body());
                }
            }
        }
        assertTrue(refused, "a burst over max_concurrent = 1 was refused at least once");
        // Every slot came back: requests one at a time pass.
        for (int i = 0; i < 3; i++) assertEquals(200, call("POST", "/v1/completions", conc, completion(2)).statusCode());
        HttpResponse<String> stream = call("POST", "/v1/completions", conc, ServeIT.completionBody("Once", 5, true));
        assertEquals(200, stream.statusCode());
        assertEquals(200, call("POST", "/v1/completions", conc, completion(2)).statusCode(), "a finished stream releases its slot");
    }

    @Test
    void keyIsShownOnceAndNeverStored() throws Exception {
        createTenant(node, "{\"id\":\"secretive\"}");
        String[] key = issueKey(node, "secretive");
        String secret = ApiKeys.parse(key[1]).secret();
        for (String path : List.of("/admin/tenants/secretive", "/admin/tenants", "/admin/tenants/secretive/history",
                "/admin/tenants/secretive/usage")) {
            HttpResponse<String> r = call("GET", path, ADMIN, null);
            assertEquals(200, r.statusCode(), path);
            assertFalse(r.body().contains(secret), path + " must not show the key");
        }
        JsonNode t = json(call("GET", "/admin/tenants/secretive", ADMIN, null), 200);
        JsonNode k = t.get("keys").get(0);
        assertEquals(key[0], k.get("keyId").asText());
        assertFalse(k.has("key") || k.has("hash") || k.has("salt"), k.toString());
        String[] second = issueKey(node, "secretive");
        assertNotEquals(key[1], second[1]);

        int rows = 0;
        try (Connection c = DriverManager.getConnection(JournalConfig.h2Url(dataDir.resolve("journal")), "sa", "");
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select event_payload from event_journal union all select snapshot_payload from snapshot")) {
            while (rs.next()) {
                String payload = new String(rs.getBytes(1), StandardCharsets.UTF_8);
                assertFalse(payload.contains(secret) || payload.contains(ApiKeys.parse(second[1]).secret()), "the journal never holds a key");
                rows++;
            }
        }
        assertTrue(rows > 0);
    }

    @Test
    void everyRunIsBilledEvenWithTheSameIdempotencyKey() throws Exception {
        createTenant(node, "{\"id\":\"billing\"}");
        String key = issueKey(node, "billing")[1];
        JsonNode a = json(call("POST", "/v1/completions", key, completion(4), "Idempotency-Key", "order-17"), 200);
        JsonNode b = json(call("POST", "/v1/completions", key, completion(4), "Idempotency-Key", "order-17"), 200);
        assertEquals(a.get("usage"), b.get("usage"));
        JsonNode c = json(call("POST", "/v1/chat/completions", key, CHAT), 200);
        JsonNode e = json(call("POST", "/v1/embeddings", key, EMBED, "Idempotency-Key", "emb-1"), 200);
        json(call("POST", "/v1/embeddings", key, EMBED, "Idempotency-Key", "emb-1"), 200);
        // A response completes only once its usage is journaled: no waiting needed. The repeats ran, so they are billed.
        JsonNode u = usage(node, "billing", ADMIN);
        assertEquals(5, u.get("total").get("requests").asInt(), u.toString());
        assertEquals(1, u.get("data").size(), u.toString());
        JsonNode day = u.get("data").get(0);
        assertEquals(java.time.LocalDate.now(java.time.ZoneOffset.UTC).toString(), day.get("day").asText());
        assertEquals("stories", day.get("model").asText());
        assertEquals(2 * a.get("usage").get("prompt_tokens").asInt() + c.get("usage").get("prompt_tokens").asInt()
                + 2 * e.get("usage").get("prompt_tokens").asInt(), day.get("prompt_tokens").asInt(), u.toString());
        assertEquals(2 * a.get("usage").get("completion_tokens").asInt() + c.get("usage").get("completion_tokens").asInt(),
                day.get("completion_tokens").asInt(), u.toString());
        assertEquals(u, usage(node, "billing", key), "the tenant's own key reads the same usage");
        error(call("POST", "/v1/completions", key, completion(2), "Idempotency-Key", "x".repeat(300)), 400, null, null);
    }

    @Test
    void isolationMatrix() throws Exception {
        List<String> names = List.of("iso-a", "iso-b", "iso-c");
        List<String> keys = new ArrayList<>();
        for (String n : names) {
            createTenant(node, "{\"id\":\"" + n + "\",\"models\":[\"" + (n.equals("iso-c") ? "elsewhere" : "stories") + "\"]}");
            keys.add(issueKey(node, n)[1]);
        }
        for (int i = 0; i < names.size(); i++) {
            String me = names.get(i);
            String key = keys.get(i);
            boolean allowed = !me.equals("iso-c");
            // /v1: only the models on its own list, and its own requests.
            JsonNode models = json(call("GET", "/v1/models", key, null), 200);
            assertEquals(allowed ? 1 : 0, models.get("data").size(), me + ": " + models);
            for (String[] ep : List.of(new String[] {"/v1/completions", completion(2)}, new String[] {"/v1/chat/completions", CHAT},
                    new String[] {"/v1/embeddings", EMBED})) {
                HttpResponse<String> r = call("POST", ep[0], key, ep[1], "Idempotency-Key", "same-key-for-everyone" + ep[0]);
                if (allowed) assertEquals(200, r.statusCode(), me + " " + ep[0] + ": " + r.body());
                else error(r, 403, "model", "model_not_allowed");
            }
            // Admin side: its own usage, nothing else.
            usage(node, me, key);
            for (String other : names) {
                if (other.equals(me)) continue;
                error(call("GET", "/admin/tenants/" + other + "/usage", key, null), 403, null, null);
                for (String path : List.of("/admin/tenants/" + other, "/admin/tenants/" + other + "/history", "/admin/tenants/" + me,
                        "/admin/tenants", "/admin/models")) {
                    error(call("GET", path, key, null), 403, null, null);
                }
                error(call("POST", "/admin/tenants/" + other + "/keys", key, null), 403, null, null);
                error(call("DELETE", "/admin/tenants/" + other + "/keys/" + ApiKeys.parse(keys.get(names.indexOf(other))).keyId(), key, null),
                        403, null, null);
                error(call("PUT", "/admin/tenants/" + me, key, "{\"weight\":999}"), 403, null, null);
            }
            error(call("GET", "/admin/tenants/does-not-exist/usage", key, null), 403, null, null);
        }
        // Each ledger holds exactly its own tenant's 3 requests (the same Idempotency-Keys did not collide across tenants).
        for (String me : List.of("iso-a", "iso-b")) {
            JsonNode u = awaitUsage(node, me, x -> x.get("total").get("requests").asInt() >= 3);
            assertEquals(me, u.get("tenant").asText());
            assertEquals(3, u.get("total").get("requests").asInt(), u.toString());
        }
        assertEquals(0, usage(node, "iso-c", ADMIN).get("total").get("requests").asInt());
        for (String n : names) {
            JsonNode t = json(call("GET", "/admin/tenants/" + n, ADMIN, null), 200);
            assertEquals(1, t.get("keys").size(), "no tenant gained a key: " + t);
            assertEquals(1, t.get("weight").asInt());
        }
    }

    @Test
    void noApiKeyOrAdminTokenReachesTheLog() throws Exception {
        ch.qos.logback.classic.Logger root = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> logs = new ch.qos.logback.core.read.ListAppender<>();
        logs.start();
        root.addAppender(logs);
        try {
            createTenant(node, "{\"id\":\"log-scan\"}");
            String key = issueKey(node, "log-scan")[1];
            json(call("POST", "/v1/completions", key, completion(2)), 200);
            json(call("POST", "/v1/chat/completions", key, CHAT), 200);
            json(call("GET", "/admin/tenants/log-scan/usage", key, null), 200);
            error(call("POST", "/v1/completions", key + "!#x", completion(2)), 401, null, null);
            error(call("POST", "/v1/completions", "sk-NotAKey!#", completion(2)), 401, null, null);
            json(call("GET", "/admin/tenants", ADMIN, null), 200);
            error(call("GET", "/admin/tenants", ADMIN + "!#wrong", null), 403, null, null);
            Thread.sleep(500); // Pekko logs asynchronously
            for (ch.qos.logback.classic.spi.ILoggingEvent e : logs.list) {
                String text = e.getFormattedMessage() + (e.getThrowableProxy() == null ? "" : e.getThrowableProxy().getMessage());
                assertFalse(text.contains(key) || text.contains(key.substring(key.length() - 12)) || text.contains("sk-NotAKey")
                        || text.contains(ADMIN), "a secret was logged: " + text);
            }
        } finally {
            root.detachAppender(logs);
        }
    }
}
