package dev.troupe.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.troupe.engine.gguf.RandomLlamaWriter;
import dev.troupe.node.deploy.Sha256;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A scripted sequence of admin changes (versions, deployments, traffic, promotions, rollbacks, a tenant
 * with keys issued and revoked, quotas, suspension, usage) against a real {@code bin/troupe serve} process; then the node is
 * stopped (SIGTERM) and started again, and later killed with SIGKILL right after an acknowledged change and
 * started again: each time the registry's state and full history are identical, and the node serves the
 * live version. Runs on the H2 journal in the data directory, or on PostgreSQL under {@code -Ppostgres}.
 */
class RestartIT {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    static final String TOKEN = "restart-admin";

    @TempDir Path tmp;

    static boolean postgres() {
        return "postgres".equals(System.getProperty("troupe.test.journal", "h2"));
    }

    /** One {@code bin/troupe serve} process. */
    final class NodeProcess implements AutoCloseable {
        final Process process;
        final Path log;
        final String base;

        NodeProcess(Path model, String name, Path config, Path dataDir) throws Exception {
            int port;
            try (ServerSocket s = new ServerSocket(0)) {
                port = s.getLocalPort();
            }
            log = Files.createTempFile(tmp, "node", ".log");
            process = new ProcessBuilder(TroupeCli.root().resolve("bin/troupe").toString(), "serve", "--model", model.toString(),
                    "--name", name, "--port", String.valueOf(port), "--threads", "1", "--data-dir", dataDir.toString(),
                    "--config", config.toString())
                    .directory(TroupeCli.root().toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            base = "http://127.0.0.1:" + port;
            long until = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            int status = 0;
            while (System.nanoTime() < until && status != 200 && process.isAlive()) {
                try {
                    status = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/health/ready")).build(),
                            HttpResponse.BodyHandlers.ofString()).statusCode();
                } catch (IOException notYet) {
                    Thread.sleep(200);
                }
            }
            assertEquals(200, status, "node never became ready:\n" + Files.readString(log));
        }

        HttpResponse<String> send(String method, String path, String body) throws Exception {
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(60))
                    .header("Authorization", "Bearer " + TOKEN).header("X-Troupe-Actor", "ops-script")
                    .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
            if (body != null) b.header("Content-Type", "application/json");
            return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
        }

        JsonNode ok(String method, String path, String body, int status) throws Exception {
            HttpResponse<String> r = send(method, path, body);
            assertEquals(status, r.statusCode(), method + " " + path + ": " + r.body());
            return JSON.readTree(r.body());
        }

        /** Waits until the version is ready on this node. */
        void awaitReady(String model, String version) throws Exception {
            long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (System.nanoTime() < until) {
                JsonNode s = ok("GET", "/admin/models/" + model, null, 200);
                if ("ready".equals(s.path("versions").path(version).path("node").path("phase").asText())) return;
                Thread.sleep(50);
            }
            fail(version + " never became ready");
        }

        /** The registry's state and history (what this node does with it right now is left out). */
        JsonNode registry(String model) throws Exception {
            ObjectNode state = (ObjectNode) ok("GET", "/admin/models/" + model, null, 200);
            state.remove("serving");
            state.get("versions").forEach(v -> ((ObjectNode) v).remove("node"));
            ObjectNode all = JSON.createObjectNode();
            all.set("state", state);
            all.set("history", ok("GET", "/admin/models/" + model + "/history", null, 200));
            return all;
        }

        /** A tenant as the admin API shows it, its history and its usage. */
        JsonNode tenant(String id) throws Exception {
            ObjectNode all = JSON.createObjectNode();
            all.set("tenant", ok("GET", "/admin/tenants/" + id, null, 200));
            all.set("history", ok("GET", "/admin/tenants/" + id + "/history", null, 200));
            all.set("usage", ok("GET", "/admin/tenants/" + id + "/usage", null, 200));
            return all;
        }

        HttpResponse<String> complete(String model, String key) throws Exception {
            return HTTP.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                    .header("Content-Type", "application/json").header("Authorization", "Bearer " + key)
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"" + model + "\",\"prompt\":\"Once\",\"max_tokens\":3}")).build(),
                    HttpResponse.BodyHandlers.ofString());
        }

        String servedVersion(String model, String key) throws Exception {
            HttpResponse<String> r = complete(model, key);
            assertEquals(200, r.statusCode(), r.body());
            return r.headers().firstValue("X-Troupe-Version").orElseThrow();
        }

        void sigterm() throws Exception {
            process.destroy();
            assertTrue(process.waitFor(60, TimeUnit.SECONDS), "no exit after SIGTERM:\n" + Files.readString(log));
        }

        void sigkill() throws Exception {
            process.destroyForcibly();
            assertTrue(process.waitFor(30, TimeUnit.SECONDS));
        }

        @Override
        public void close() throws Exception {
            if (process.isAlive()) sigkill();
        }
    }

    @Test
    void stateAndHistorySurviveStopAndKill() throws Exception {
        Path stories = TroupeCli.sharedModel("stories260K-f32.gguf");
        Assumptions.assumeTrue(Files.isRegularFile(stories), "../shared/models/stories260K-f32.gguf not found");
        String name = "restart-" + UUID.randomUUID().toString().substring(0, 8);
        String tenant = "team-" + UUID.randomUUID().toString().substring(0, 8);
        String t = "/admin/tenants/" + tenant;
        Path v2 = tmp.resolve("v2.gguf");
        new RandomLlamaWriter(RandomLlamaWriter.LlamaShape.of(64, 128, 2, 4, 4, 512, 256)).tokenizerFrom(stories).seed(3).write(v2);
        Path v3 = tmp.resolve("v3.gguf");
        new RandomLlamaWriter(RandomLlamaWriter.LlamaShape.of(64, 128, 2, 4, 4, 512, 256)).tokenizerFrom(stories).seed(4).write(v3);
        Path config = tmp.resolve("node.conf");
        String journal = postgres()
                ? "troupe.journal { kind = postgres, postgres { url = \"jdbc:postgresql://127.0.0.1:5432/test\", user = postgres } }\n"
                : "";
        // v2 and v3 are registered from this test's temporary directory.
        Files.writeString(config, "troupe.admin.token = \"" + TOKEN + "\"\ntroupe.engine.warm-up = 0s\n"
                + "troupe.weights.model-dirs = [\"" + tmp.toString().replace("\\", "/") + "\", \"" + stories.getParent().toString().replace("\\", "/")
                + "\"]\n" + journal);
        Path data = tmp.resolve("data");
        String m = "/admin/models/" + name;
        try {
            JsonNode before, tenantBefore;
            String key, revoked;
            try (NodeProcess node = new NodeProcess(stories, name, config, data)) {
                node.ok("POST", m + "/versions", "{\"version\":\"v2\",\"path\":\"" + v2 + "\",\"sha256\":\"" + Sha256.of(v2) + "\"}", 201);
                node.ok("POST", m + "/versions", "{\"version\":\"v3\",\"path\":\"" + v3 + "\",\"sha256\":\"" + Sha256.of(v3) + "\"}", 201);
                node.ok("POST", m + "/deployments", "{\"version\":\"v2\",\"replicas\":2}", 202);
                node.awaitReady(name, "v2");
                node.ok("PUT", m + "/traffic", "{\"weights\":{\"v1\":80,\"v2\":20}}", 200);
                node.ok("POST", m + "/promote", "{\"version\":\"v2\"}", 200);
                node.ok("POST", m + "/deployments", "{\"version\":\"v3\"}", 202);
                node.awaitReady(name, "v3");
                node.ok("POST", m + "/promote", "{\"version\":\"v3\"}", 200);
                node.ok("POST", m + "/rollback", "{\"reason\":\"regression\"}", 200);
                node.ok("DELETE", m + "/versions/v3", null, 200);
                node.ok("POST", "/admin/tenants", "{\"id\":\"" + tenant + "\",\"weight\":2,\"quotas\":{\"requests_per_minute\":600},"
                        + "\"models\":[\"" + name + "\"]}", 201);
                key = node.ok("POST", t + "/keys", null, 201).get("key").asText();
                JsonNode second = node.ok("POST", t + "/keys", null, 201);
                revoked = second.get("key").asText();
                node.ok("DELETE", t + "/keys/" + second.get("keyId").asText(), null, 200);
                node.ok("PUT", t, "{\"weight\":3,\"quotas\":{\"max_concurrent\":4}}", 200);
                node.ok("POST", t + "/suspend", "{\"reason\":\"billing\"}", 200);
                node.ok("POST", t + "/resume", null, 200);
                assertEquals("v2", node.servedVersion(name, key));
                assertEquals(401, node.complete(name, revoked).statusCode());
                awaitUsage(node, tenant, 1);
                before = node.registry(name);
                tenantBefore = node.tenant(tenant);
                node.sigterm();
            }
            assertEquals(12, before.get("history").get("events").size(), before.toString());

            JsonNode afterKill, tenantAfterKill;
            try (NodeProcess node = new NodeProcess(stories, name, config, data)) {
                assertEquals(before, node.registry(name), "state after SIGTERM + restart");
                assertEquals(tenantBefore, node.tenant(tenant), "tenant, keys, history and usage after SIGTERM + restart");
                assertEquals(401, node.complete(name, revoked).statusCode(), "a revoked key stays revoked");
                assertEquals("v2", node.servedVersion(name, key), "the live version serves after a restart");
                // An acknowledged change, then SIGKILL at once: it must be there after the restart.
                node.ok("POST", m + "/rollback", "{\"to\":\"v1\",\"reason\":\"before the kill\"}", 200);
                node.ok("PUT", t, "{\"weight\":5}", 200);
                afterKill = node.registry(name);
                tenantAfterKill = node.tenant(tenant);
                node.sigkill();
            }
            try (NodeProcess node = new NodeProcess(stories, name, config, data)) {
                assertEquals(afterKill, node.registry(name), "state after SIGKILL + restart");
                assertEquals(tenantAfterKill, node.tenant(tenant), "tenant after SIGKILL + restart");
                assertEquals(5, tenantAfterKill.get("tenant").get("weight").asInt(), tenantAfterKill.toString());
                assertEquals(13, afterKill.get("history").get("events").size());
                assertEquals("v1", node.servedVersion(name, key));
                node.sigterm();
            }
        } finally {
            if (postgres()) deleteRows("model-registry|" + name, "tenant|" + tenant, "usage|" + tenant);
        }
    }

    /** Waits until the tenant's usage shows this many requests (the ledger is written after the response). */
    private static void awaitUsage(NodeProcess node, String tenant, int requests) throws Exception {
        long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (System.nanoTime() < until) {
            JsonNode u = node.ok("GET", "/admin/tenants/" + tenant + "/usage", null, 200);
            if (u.path("total").path("requests").asInt() >= requests) return;
            Thread.sleep(50);
        }
        fail("usage of " + tenant + " never showed " + requests + " requests");
    }

    private static void deleteRows(String... persistenceIds) throws Exception {
        try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:5432/test", "postgres", "")) {
            for (String id : persistenceIds) {
                for (String table : new String[] {"event_journal", "snapshot"}) {
                    try (PreparedStatement st = c.prepareStatement("DELETE FROM " + table + " WHERE persistence_id = ?")) {
                        st.setString(1, id);
                        st.executeUpdate();
                    }
                }
            }
        }
    }
}
