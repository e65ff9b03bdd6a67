package dev.troupe.node.http;

import com.fasterxml.jackson.databind.JsonNode;
import dev.troupe.engine.gguf.RandomLlamaWriter;
import dev.troupe.node.ServeCommand;
import dev.troupe.node.deploy.Sha256;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Versioned deployments over the admin API on a real node: register, deploy (loads before any traffic),
 * canary split by request id, promote, instant rollback to the warm version, retire, a version whose file
 * does not match its sha256 never serves, and a canary breaching its SLO is rolled back by itself.
 * Requests run continuously through every change and none may fail.
 */
class DeploymentsIT {
    static final String TOKEN = "adm-token";

    @TempDir Path tmp;

    static ServeCommand.Node start(String extra) throws Exception {
        return ServeIT.startNode("stories260K-f32.gguf", "troupe.admin.token = " + TOKEN + "\n" + extra);
    }

    static HttpResponse<String> admin(ServeCommand.Node node, String method, String path, String body, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.port() + path))
                .timeout(Duration.ofSeconds(60)).header("X-Troupe-Actor", "alice")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) b.header("Content-Type", "application/json");
        if (token != null) b.header("Authorization", "Bearer " + token);
        return ServeIT.HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode ok(HttpResponse<String> r, int status) throws Exception {
        assertEquals(status, r.statusCode(), r.body());
        return ServeIT.JSON.readTree(r.body());
    }

    static HttpResponse<String> complete(ServeCommand.Node node, String requestId, int maxTokens) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.port() + "/v1/completions"))
                .timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(ServeIT.completionBody("Once upon a time", maxTokens, false)));
        if (requestId != null) b.header("X-Request-Id", requestId);
        return ServeIT.HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static String version(HttpResponse<String> r) {
        return r.headers().firstValue("X-Troupe-Version").orElse("?");
    }

    /** Polls the model's state until the version reaches the phase on this node. */
    static JsonNode awaitPhase(ServeCommand.Node node, String version, String phase) throws Exception {
        long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        JsonNode s;
        do {
            s = ok(admin(node, "GET", "/admin/models/stories", null, TOKEN), 200);
            JsonNode n = s.path("versions").path(version).path("node");
            if (phase.equals(n.path("phase").asText())) return s;
            Thread.sleep(50);
        } while (System.nanoTime() < until);
        fail(version + " did not reach " + phase + ": " + s);
        return s;
    }

    /** Registers and deploys the file as v2 and, once it is ready, sends it half the traffic. */
    static void startCanary(ServeCommand.Node node, Path file) throws Exception {
        ok(admin(node, "POST", "/admin/models/stories/versions", "{\"version\":\"v2\",\"path\":\"" + file + "\",\"sha256\":\""
                + Sha256.of(file) + "\"}", TOKEN), 201);
        ok(admin(node, "POST", "/admin/models/stories/deployments", "{\"version\":\"v2\"}", TOKEN), 202);
        awaitPhase(node, "v2", "ready");
        ok(admin(node, "PUT", "/admin/models/stories/traffic", "{\"weights\":{\"v1\":50,\"v2\":50}}", TOKEN), 200);
    }

    /** A small random model with the stories vocabulary: a different version of the "same" model. */
    Path writeV2(long seed) throws Exception {
        Path f = tmp.resolve("v2-" + seed + ".gguf");
        new RandomLlamaWriter(RandomLlamaWriter.LlamaShape.of(64, 128, 2, 4, 4, 512, 256))
                .tokenizerFrom(ServeIT.shared("stories260K-f32.gguf")).seed(seed).write(f);
        return f;
    }

    /** Sends requests back to back until stopped; every response must be a 200. */
    static final class Load implements AutoCloseable {
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicInteger sent = new AtomicInteger();
        final List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        final Map<String, AtomicInteger> byVersion = new ConcurrentHashMap<>();
        final List<Thread> threads = new ArrayList<>();

        Load(ServeCommand.Node node, int clients) {
            for (int c = 0; c < clients; c++) {
                Thread t = new Thread(() -> {
                    while (!stop.get()) {
                        try {
                            HttpResponse<String> r = complete(node, null, 4);
                            sent.incrementAndGet();
                            if (r.statusCode() != 200) failures.add(r.statusCode() + " " + r.body());
                            else byVersion.computeIfAbsent(version(r), v -> new AtomicInteger()).incrementAndGet();
                        } catch (Exception e) {
                            failures.add(e.toString());
                        }
                    }
                });
                t.start();
                threads.add(t);
            }
        }

        @Override
        public void close() throws InterruptedException {
            stop.set(true);
            for (Thread t : threads) t.join(30_000);
        }
    }

    @Test
    void rolloutCanaryPromoteRollbackAndRetireWithoutAFailedRequest() throws Exception {
        ServeCommand.Node node = start("troupe.canary.auto-rollback = off");
        try {
            Path v2 = writeV2(7);
            String sha2 = Sha256.of(v2);
            String v1Text = ServeIT.JSON.readTree(complete(node, "x", 12).body()).get("choices").get(0).get("text").asText();

            // Every admin error has a precise status and an OpenAI-style body.
            String reg = "{\"version\":\"v2\",\"path\":\"" + v2 + "\",\"sha256\":\"" + sha2 + "\"}";
            ServeIT.assertError(admin(node, "POST", "/admin/models/stories/versions", reg, null), 401, null);
            ServeIT.assertError(admin(node, "POST", "/admin/models/stories/versions", reg, "nope"), 403, null);
            // A model the cluster does not have: 404 (registering a version of a new name creates the model).
            ServeIT.assertError(admin(node, "GET", "/admin/models/other", null, TOKEN), 404, null);
            ServeIT.assertError(admin(node, "POST", "/admin/models/stories/versions", "{not json", TOKEN), 400, null);
            ServeIT.assertError(admin(node, "POST", "/admin/models/stories/versions", "[1]", TOKEN), 400, null);
            ServeIT.assertError(admin(node, "POST", "/admin/models/stories/versions", "{\"path\":\"" + v2 + "\",\"sha256\":\"" + sha2 + "\"}", TOKEN), 400, "version");
            ServeIT.assertError(admin(node, "POST", "/admin/models/stories/versions", "{\"version\":\"v 2\",\"path\":\"" + v2 + "\",\"sha256\":\"" + sha2 + "\"}", TOKEN), 400, "version");
            ServeIT.assertError(admin(node, "POST", "/admin/models/stories/versions", "{\"version\":\"v2\",\"path\":\"/no/such.gguf\",\"sha256\":\"" + sha2 + "\"}", TOKEN), 400, "path");
            ServeIT.assertError(admin(node, "POST", "/admin/models/stories/versions", "{\"version\":\"v2\",\"path\":\"" + v2 + "\",\"sha256\":\"abc\"}", TOKEN), 400, "sha256");
            ServeIT.assertError(admin(node, "POST", "/admin/models/stories/versions", "{\"version\":\"v2\",\"path\":\"" + v2 + "\",\"sha256\":7}", TOKEN), 400, "sha256");

            JsonNode s = ok(admin(node, "POST", "/admin/models/stories/versions", reg, TOKEN), 201);
            assertEquals(sha2, s.get("versions").get("v2").get("sha256").asText());
            ok(admin(node, "POST", "/admin/models/stories/versions", reg, TOKEN), 201); // the same again changes nothing
            ServeIT.assertError(admin(node, "POST", "/admin/models/stories/versions",
                    "{\"version\":\"v2\",\"path\":\"" + v2 + "\",\"sha256\":\"" + "0".repeat(64) + "\"}", TOKEN), 409, null);
            ServeIT.assertError(admin(node, "POST", "/admin/models/stories/deployments", "{\"version\":\"v9\"}", TOKEN), 404, "version");
            ServeIT.assertError(admin(node, "POST", "/admin/models/stories/deployments", "{\"version\":\"v2\",\"replicas\":0}", TOKEN), 400, null);
            HttpResponse<String> three = admin(node, "POST", "/admin/models/stories/deployments", "{\"version\":\"v2\",\"tensorParallel\":3}", TOKEN);
            ServeIT.assertError(three, 400, "tensorParallel");
            assertTrue(three.body().contains("4 key/value heads"), three.body());
            ServeIT.assertError(admin(node, "POST", "/admin/models/stories/deployments", "{\"version\":\"v2\",\"tensorParallel\":-1}", TOKEN), 400, "tensorParallel");
            ServeIT.assertError(admin(node, "PUT", "/admin/models/stories/traffic", "{\"weights\":{\"v1\":90,\"v2\":10}}", TOKEN), 409, null);
            ServeIT.assertError(admin(node, "PUT", "/admin/models/stories/traffic", "{\"weights\":{\"v1\":90}}", TOKEN), 400, "weights");
            ServeIT.assertError(admin(node, "PUT", "/admin/models/stories/traffic", "{\"weights\":{\"v1\":\"all\"}}", TOKEN), 400, "weights.v1");
            ServeIT.assertError(admin(node, "POST", "/admin/models/stories/promote", "{\"version\":\"v2\"}", TOKEN), 409, null);
            ServeIT.assertError(admin(node, "POST", "/admin/models/stories/rollback", "{}", TOKEN), 409, null);
            ServeIT.assertError(admin(node, "DELETE", "/admin/models/stories/versions/v1", null, TOKEN), 409, null);
            ServeIT.assertError(admin(node, "DELETE", "/admin/models/stories/versions/v9", null, TOKEN), 404, null);

            // A version whose file does not match its registered sha256 is refused at load and never serves.
            ok(admin(node, "POST", "/admin/models/stories/versions", "{\"version\":\"bad\",\"path\":\"" + v2 + "\",\"sha256\":\""
                    + "1".repeat(64) + "\"}", TOKEN), 201);
            ok(admin(node, "POST", "/admin/models/stories/deployments", "{\"version\":\"bad\"}", TOKEN), 202);
            s = awaitPhase(node, "bad", "failed");
            assertTrue(s.get("versions").get("bad").get("node").get("detail").asText().contains("sha256"), s.toString());
            ok(admin(node, "PUT", "/admin/models/stories/traffic", "{\"weights\":{\"v1\":50,\"bad\":50}}", TOKEN), 200);
            for (int i = 0; i < 10; i++) assertEquals("v1", version(complete(node, "r" + i, 2)));
            ok(admin(node, "PUT", "/admin/models/stories/traffic", "{\"weights\":{\"v1\":100}}", TOKEN), 200);

            try (Load load = new Load(node, 2)) {
                // Deploy: 202 at once, the version loads in the background and gets no traffic yet.
                s = ok(admin(node, "POST", "/admin/models/stories/deployments", "{\"version\":\"v2\",\"replicas\":1}", TOKEN), 202);
                assertEquals(Map.of("v1", 100), ServeIT.JSON.convertValue(s.get("serving"), Map.class));
                awaitPhase(node, "v2", "ready");

                // Canary: 10% by a stable hash of the client's request id.
                s = ok(admin(node, "PUT", "/admin/models/stories/traffic", "{\"weights\":{\"v1\":90,\"v2\":10}}", TOKEN), 200);
                assertEquals(10, s.get("serving").get("v2").asInt(), s.toString());
                int onV2 = 0;
                for (int i = 0; i < 200; i++) {
                    String v = version(complete(node, "client-" + i, 1));
                    assertEquals(v, version(complete(node, "client-" + i, 1)), "a retry with the same id must stay on its version");
                    if (v.equals("v2")) onV2++;
                }
                assertTrue(onV2 >= 8 && onV2 <= 40, "about 10% of 200 ids should go to v2, got " + onV2);

                // Promote: v2 live with all the traffic; its text differs from v1's.
                s = ok(admin(node, "POST", "/admin/models/stories/promote", "{\"version\":\"v2\"}", TOKEN), 200);
                assertEquals("v2", s.get("live").asText());
                HttpResponse<String> r = complete(node, "x", 12);
                assertEquals("v2", version(r));
                assertNotEquals(v1Text, ServeIT.JSON.readTree(r.body()).get("choices").get(0).get("text").asText());

                // Roll back to the warm v1: a routing change, no reload.
                long t0 = System.nanoTime();
                s = ok(admin(node, "POST", "/admin/models/stories/rollback", "{\"reason\":\"bad answers\"}", TOKEN), 200);
                r = complete(node, "x", 1);
                long rollbackMillis = (System.nanoTime() - t0) / 1_000_000;
                assertEquals("v1", version(r));
                assertEquals("v1", s.get("live").asText());
                assertEquals("ready", s.get("versions").get("v2").get("node").get("phase").asText(), "v2 stays warm");
                System.out.println("rollback to warm v1 -> first v1 response: " + rollbackMillis + " ms");
                assertTrue(rollbackMillis < 1000, "rollback took " + rollbackMillis + " ms");
                assertEquals(v1Text, ServeIT.JSON.readTree(complete(node, "x", 12).body()).get("choices").get(0).get("text").asText());
                Thread.sleep(200);
                load.close();
                assertEquals(List.of(), load.failures, "requests failed during the rollout");
                assertTrue(load.byVersion.containsKey("v1") && load.byVersion.containsKey("v2"), load.byVersion.toString());
                System.out.println("requests during the rollout: " + load.sent.get() + ", failed: 0, by version: " + load.byVersion);
            }

            // Retire v2 (no traffic, not live): its history and the metrics by version stay.
            s = ok(admin(node, "DELETE", "/admin/models/stories/versions/v2", null, TOKEN), 200);
            assertTrue(s.get("versions").get("v2").get("retired").asBoolean());
            JsonNode events = ok(admin(node, "GET", "/admin/models/stories/history", null, TOKEN), 200).get("events");
            List<String> types = new ArrayList<>();
            for (JsonNode e : events) types.add(e.get("type").asText());
            assertEquals(List.of("VersionRegistered", "DeploymentRolledOut", "Promoted", "VersionRegistered", "VersionRegistered",
                    "DeploymentRolledOut", "TrafficSet", "TrafficSet", "DeploymentRolledOut", "TrafficSet", "Promoted", "RolledBack",
                    "Retired"), types);
            JsonNode rolledBack = events.get(11);
            assertEquals("alice", rolledBack.get("actor").asText());
            assertEquals("v2", rolledBack.get("from").asText());
            assertEquals("v1", rolledBack.get("to").asText());
            assertEquals("bad answers", rolledBack.get("reason").asText());
            String metrics = ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.port() + "/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
            assertTrue(metrics.contains("version=\"v2\""), "metrics carry the version label");
        } finally {
            node.stop();
        }
    }

    @Test
    void aCanaryBreachingItsLatencySloIsRolledBackByItself() throws Exception {
        Path slow = ServeIT.shared("random15M-f32.gguf");
        Assumptions.assumeTrue(slow != null, "../shared/models/random15M-f32.gguf not found");
        // v1 (stories260K) answers 48 tokens in a few ms; the canary (a 15M model on one thread) takes
        // hundreds: it breaches a 100 ms p99.
        ServeCommand.Node node = start("troupe.canary { window = 60s, min-requests = 6, max-p99-latency = 100ms, max-error-rate = 0.5 }");
        try {
            startCanary(node, slow);
            long until = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            JsonNode s;
            int sent = 0;
            do {
                HttpResponse<String> r = complete(node, "c" + sent++, 48);
                assertEquals(200, r.statusCode(), r.body());
                s = ok(admin(node, "GET", "/admin/models/stories", null, TOKEN), 200);
            } while (s.get("traffic").has("v2") && System.nanoTime() < until);
            assertEquals(Map.of("v1", 100), ServeIT.JSON.convertValue(s.get("traffic"), Map.class), "the canary was not rolled back");
            assertEquals("v1", s.get("live").asText());
            JsonNode events = ok(admin(node, "GET", "/admin/models/stories/history", null, TOKEN), 200).get("events");
            JsonNode last = events.get(events.size() - 1);
            assertEquals("RolledBack", last.get("type").asText());
            assertEquals("slo-monitor", last.get("actor").asText());
            assertEquals("v2", last.get("from").asText());
            assertTrue(last.get("reason").asText().contains("p99 latency"), last.toString());
            for (int i = 0; i < 10; i++) assertEquals("v1", version(complete(node, "after" + i, 2)));
            System.out.println("canary rolled back after " + sent + " requests: " + last.get("reason").asText());
        } finally {
            node.stop();
        }
    }

    @Test
    void aCanaryWhoseRequestsFailIsRolledBackByItself() throws Exception {
        Path slow = ServeIT.shared("random15M-f32.gguf");
        Assumptions.assumeTrue(slow != null, "../shared/models/random15M-f32.gguf not found");
        // Every request has 100 ms for its 120 tokens: v1 (stories260K) needs ~15 ms, the canary (15M, one
        // thread: several ms a token) cannot make it, so its requests end with 504 (at 300 ms a fast machine
        // finished most of them in time and the error rate stayed under the SLO). The latency SLO is out of
        // reach (60 s): the error rate is what trips.
        ServeCommand.Node node = start("troupe.http.request-timeout = 100ms\n"
                + "troupe.canary { window = 60s, min-requests = 4, max-p99-latency = 60s, max-error-rate = 0.2 }");
        try {
            startCanary(node, slow);
            long until = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            JsonNode s;
            int sent = 0, failed = 0;
            do {
                HttpResponse<String> r = complete(node, "e" + sent++, 120);
                assertTrue(r.statusCode() == 200 || r.statusCode() == 504, r.body());
                if (r.statusCode() == 504 && version(r).equals("v2")) failed++;
                s = ok(admin(node, "GET", "/admin/models/stories", null, TOKEN), 200);
            } while (s.get("traffic").has("v2") && System.nanoTime() < until);
            assertTrue(failed >= 1, "the canary never failed");
            // (v1 may time out too while its kernels are cold: only the canary is judged.)
            assertEquals(Map.of("v1", 100), ServeIT.JSON.convertValue(s.get("traffic"), Map.class), "the canary was not rolled back");
            JsonNode events = ok(admin(node, "GET", "/admin/models/stories/history", null, TOKEN), 200).get("events");
            JsonNode last = events.get(events.size() - 1);
            assertEquals("RolledBack", last.get("type").asText());
            assertEquals("slo-monitor", last.get("actor").asText());
            assertTrue(last.get("reason").asText().contains("error rate"), last.toString());
            System.out.println("failing canary rolled back after " + sent + " requests (" + failed + " failed): " + last.get("reason").asText());
        } finally {
            node.stop();
        }
    }
}
