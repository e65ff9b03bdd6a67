package dev.troupe.node.http;

import com.fasterxml.jackson.databind.JsonNode;
import dev.troupe.engine.gguf.RandomLlamaWriter;
import dev.troupe.node.ServeCommand;
import dev.troupe.node.deploy.Sha256;
import dev.troupe.node.hub.HubPackages;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The web console in a real browser (Debian's chromium, driven by playwright-core from the npm registry, installed
 * into target/ on first use) against a real node: the page loads read-only, takes the admin token, shows the model's
 * replica, streams a greedy completion in the playground equal to the API's (and a slower model's, growing on the
 * page), deploys a canary, splits traffic and rolls it back with a reason (the history shows it), draws live metrics,
 * creates a tenant and issues a key shown once; every control has a label and no view is wider than 1280x800 or a
 * phone's screen. One screenshot per view lands in target/console/.
 */
class ConsoleIT {
    static final String CHROMIUM = "/usr/bin/chromium";
    static final String PLAYWRIGHT = "playwright-core@1.65.2";

    @TempDir Path tmp;

    @Test
    void theConsoleInARealBrowser() throws Exception {
        Path model = ServeIT.shared("stories260K-f32.gguf");
        Assumptions.assumeTrue(model != null, "../shared/models/stories260K-f32.gguf not found");
        Path slow = ServeIT.shared("random15M-f32.gguf");
        Assumptions.assumeTrue(slow != null, "../shared/models/random15M-f32.gguf not found");
        Assumptions.assumeTrue(Files.isExecutable(Path.of(CHROMIUM)), CHROMIUM + " is not installed (apt-get install chromium): cannot run the browser test");
        Assumptions.assumeTrue(HubPackages.exec(Path.of("."), 30, "node", "--version") == 0, "node is not installed: cannot run the browser test");
        Path dir = Path.of("target", "console-browser").toAbsolutePath();
        Path shots = Path.of("target", "console").toAbsolutePath();
        Files.createDirectories(dir);
        Files.createDirectories(shots);
        Files.copy(Path.of("src/test/resources/console/drive.mjs"), dir.resolve("drive.mjs"), StandardCopyOption.REPLACE_EXISTING);
        if (!Files.isDirectory(dir.resolve("node_modules/playwright-core"))) {
            Files.writeString(dir.resolve("package.json"), "{\"name\":\"troupe-console-check\",\"private\":true,\"type\":\"module\"}");
            int rc = HubPackages.exec(dir, 300, "npm", "install", "--no-audit", "--no-fund", "--loglevel=error", PLAYWRIGHT);
            assertEquals(0, rc, "npm install " + PLAYWRIGHT + " failed (the npm registry must be reachable)");
        }
        JsonNode ref = ServeIT.JSON.readTree(Files.readAllLines(ServeIT.shared("stories260K-greedy.jsonl")).get(1));
        String prompt = ref.get("prompt").asText();
        int maxTokens = ref.get("max_tokens").asInt();

        ServeCommand.Node node = DeploymentsIT.start("troupe.canary.auto-rollback = off");
        try {
            String base = "http://127.0.0.1:" + node.port();
            // The API's own greedy answer, asked before the page creates a tenant (from then on /v1 needs a key).
            HttpResponse<String> greedy = ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                    .timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(ServeIT.JSON.createObjectNode().put("model", "stories").put("prompt", prompt)
                            .put("max_tokens", maxTokens).put("temperature", 0).toString())).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, greedy.statusCode(), greedy.body());
            String apiText = ServeIT.JSON.readTree(greedy.body()).get("choices").get(0).get("text").asText();
            assertEquals(ref.get("completion").asText(), apiText);

            HttpResponse<String> chat = ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                    .timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"stories\",\"max_tokens\":20,\"temperature\":0,"
                            + "\"messages\":[{\"role\":\"user\",\"content\":\"Tell me about a dog.\"}]}")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, chat.statusCode(), chat.body());
            String apiChat = ServeIT.JSON.readTree(chat.body()).get("choices").get(0).get("message").get("content").asText();

            // The static files: same-origin GETs pass the Host check; a script is served as JavaScript.
            HttpResponse<String> js = ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create(base + "/console/app.js")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, js.statusCode());
            assertTrue(js.headers().firstValue("Content-Type").orElse("").startsWith("application/javascript"), js.headers().toString());
            assertEquals(404, ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create(base + "/console/nope.js")).build(),
                    HttpResponse.BodyHandlers.ofString()).statusCode());

            // A canary version for the page to deploy, split and roll back.
            Path v2 = tmp.resolve("v2.gguf");
            new RandomLlamaWriter(RandomLlamaWriter.LlamaShape.of(64, 128, 2, 4, 4, 512, 256))
                    .tokenizerFrom(model).seed(5).write(v2);
            DeploymentsIT.ok(DeploymentsIT.admin(node, "POST", "/admin/models/stories/versions", "{\"version\":\"v2\",\"path\":\""
                    + v2 + "\",\"sha256\":\"" + Sha256.of(v2) + "\"}", DeploymentsIT.TOKEN), 201);

            // A second, slower model (15M parameters): its tokens arrive far enough apart to watch the text grow.
            DeploymentsIT.ok(DeploymentsIT.admin(node, "POST", "/admin/models/random/versions", "{\"version\":\"v1\",\"path\":\""
                    + slow + "\",\"sha256\":\"" + Sha256.of(slow) + "\"}", DeploymentsIT.TOKEN), 201);
            DeploymentsIT.ok(DeploymentsIT.admin(node, "POST", "/admin/models/random/deployments", "{\"version\":\"v1\"}", DeploymentsIT.TOKEN), 202);
            long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (!DeploymentsIT.ok(DeploymentsIT.admin(node, "GET", "/admin/models/random", null, DeploymentsIT.TOKEN), 200)
                    .path("versions").path("v1").path("node").path("phase").asText().equals("ready")) {
                assertTrue(System.nanoTime() < until, "the random model did not load");
                Thread.sleep(100);
            }
            DeploymentsIT.ok(DeploymentsIT.admin(node, "POST", "/admin/models/random/promote", "{\"version\":\"v1\"}", DeploymentsIT.TOKEN), 200);

            long started = System.nanoTime();
            List<String> cmd = new ArrayList<>(List.of("node", "drive.mjs", base, DeploymentsIT.TOKEN, shots.toString(), prompt,
                    Integer.toString(maxTokens), "stories", "v2", "random"));
            Path out = dir.resolve("result.json"), err = dir.resolve("stderr.txt");
            Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            if (!p.waitFor(300, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                fail("the browser script did not finish in 300 s: " + Files.readString(err));
            }
            String result = Files.readString(out, StandardCharsets.UTF_8);
            System.out.printf("ConsoleIT: the browser run took %.1f s%n", (System.nanoTime() - started) / 1e9);
            assertEquals(0, p.exitValue(), "the browser script failed: " + result + "\n" + Files.readString(err));
            JsonNode r = ServeIT.JSON.readTree(result);

            // Served from the jar, with its own origin only, no errors in the page and nothing from elsewhere.
            assertEquals(200, r.get("status").asInt());
            assertTrue(r.get("csp").asText().contains("default-src 'none'"), r.get("csp").asText());
            assertEquals(0, r.get("pageErrors").size(), r.get("pageErrors").toString());
            assertEquals(0, r.get("consoleErrors").size(), r.get("consoleErrors").toString());
            // The only refusals are the ones the script provokes (a bad split; /v1 without a key once tenants exist).
            for (JsonNode f : r.get("failedResponses")) {
                assertTrue(f.asText().equals("400 PUT /admin/models/stories/traffic") || f.asText().equals("401 GET /v1/models"), f.asText());
            }
            assertEquals(0, r.get("external").size(), r.get("external").toString());
            assertEquals(0, r.get("unlabelled").size(), "controls without a label: " + r.get("unlabelled"));

            // Without the token: read-only, and it says so; the API still names the models.
            assertTrue(r.get("readOnlyMode").asText().startsWith("Read-only"), r.get("readOnlyMode").asText());
            assertTrue(r.get("readOnlyCluster").asText().contains("admin token"));
            assertEquals("[\"random\",\"stories\"]", r.get("readOnlyModels").toString());
            assertTrue(r.get("readOnlyDeployHidden").asBoolean() && r.get("readOnlyRollbackHidden").asBoolean());
            // The token: in session storage only.
            assertTrue(r.get("tokenInSession").asBoolean());
            assertEquals(0, r.get("localStorageItems").asInt());
            assertEquals(0, r.get("cookies").asInt());

            // The cluster: this node with its roles, a slice and the model's replica.
            assertTrue(r.get("replicaRow").asText().contains("stories") && r.get("replicaRow").asText().contains("ready"), r.get("replicaRow").asText());
            assertTrue(r.get("membersText").asText().contains("up") && r.get("membersText").asText().contains("gateway"), r.get("membersText").asText());
            assertTrue(r.get("slicesText").asText().contains("MiB"), r.get("slicesText").asText());

            // The playground streamed the API's greedy answer, in pieces, with its TTFT and tokens/s.
            assertEquals(apiText, r.get("playgroundText").asText());
            assertTrue(r.get("playgroundPieces").asInt() >= 1);
            String stats = r.get("playgroundStats").asText();
            assertTrue(stats.matches("TTFT \\d+ ms · " + maxTokens + " tokens in [\\d.]+ s · [\\d.]+ tokens/s · version v1 · finish length"), stats);
            // The stories model can finish before its first event is written (the server then sends one merged
            // event); the slower one shows the text growing over many updates.
            assertTrue(r.get("streamDistinctLengths").asInt() > 5 && r.get("streamSpanMs").asDouble() > 50,
                    "the text grew " + r.get("streamDistinctLengths") + " times over " + r.get("streamSpanMs") + " ms");
            assertTrue(r.get("streamStats").asText().contains("40 tokens"), r.get("streamStats").asText());
            assertEquals(apiChat, r.get("chatReply").asText());
            assertEquals(2, r.get("chatTurns").size(), r.get("chatTurns").toString());
            assertTrue(r.get("chatTurns").get(0).asText().contains("Tell me about a dog."), r.get("chatTurns").toString());

            // The canary: deployed, split, refused with the server's message, rolled back with a reason.
            assertEquals(400, r.get("trafficApiStatus").asInt());
            assertTrue(r.get("trafficError").asText().contains(r.get("trafficApiMessage").asText()),
                    r.get("trafficError") + " vs " + r.get("trafficApiMessage"));
            assertTrue(r.get("trafficRow").asText().contains("50%"), r.get("trafficRow").asText());
            assertTrue(r.get("confirmText").asText().contains("Roll back"), r.get("confirmText").asText());
            assertEquals(0, r.get("rolledBackAfterCancel").asInt());
            assertTrue(r.get("confirmStillOpenWithoutReason").asBoolean());
            String entry = r.get("rollbackEntry").asText();
            assertTrue(entry.contains("console-test") && entry.contains("RolledBack") && entry.contains("canary p99 too high")
                    && entry.contains("from v2"), entry);
            assertEquals("RolledBack", r.get("historyTypes").get(0).asText(), r.get("historyTypes").toString());
            assertTrue(r.get("liveAfterRollback").asText().contains("live") && r.get("liveAfterRollback").asText().contains("100%"),
                    r.get("liveAfterRollback").asText());
            // The page's history is the registry's.
            JsonNode history = DeploymentsIT.ok(DeploymentsIT.admin(node, "GET", "/admin/models/stories/history", null, DeploymentsIT.TOKEN), 200);
            JsonNode last = history.get("events").get(history.get("events").size() - 1);
            assertEquals("RolledBack", last.get("type").asText());
            assertEquals("console-test", last.get("actor").asText());
            assertEquals("canary p99 too high", last.get("reason").asText());

            // A key shown once: in the page until dismissed, never stored, gone after a reload; it works on /v1.
            String key = r.get("newKey").asText();
            assertTrue(key.startsWith("tk-" + r.get("keyIdShown").asText() + "-"), key);
            assertTrue(r.get("newKeyNotice").asText().contains("shown once"));
            assertFalse(r.get("keyInStorage").asBoolean());
            assertFalse(r.get("keyInPageAfterDone").asBoolean());
            assertFalse(r.get("keyInPageAfterReload").asBoolean());
            assertTrue(r.get("adminModeAfterReload").asText().contains("Admin token set"));
            assertEquals(200, r.get("keyCompletionStatus").asInt());
            assertTrue(r.get("usageText").asText().contains("stories"), r.get("usageText").asText());
            assertTrue(r.get("usageBars").asInt() >= 1);
            assertTrue(r.get("keyRowAfterRevoke").asText().contains("revoked"));
            JsonNode acme = DeploymentsIT.ok(DeploymentsIT.admin(node, "GET", "/admin/tenants/acme", null, DeploymentsIT.TOKEN), 200);
            assertTrue(acme.get("keys").get(0).get("revoked").asBoolean(), acme.toString());

            // Live charts from /metrics.
            assertTrue(r.get("metricsBusyTps").asDouble() > 0 && r.get("metricsRequests").asInt() > 0);
            assertTrue(r.get("chartLines").asInt() >= 2, "lines drawn: " + r.get("chartLines"));
            assertTrue(r.get("metricsRow").asText().startsWith("random"), r.get("metricsRow").asText());

            // 1280x800 and a phone-sized screen: no view wider than the window.
            for (JsonNode o : List.of(r.get("overflow1280"), r.get("overflowNarrow"))) {
                o.properties().forEach(e -> assertFalse(e.getValue().asBoolean(), e.getKey() + " is wider than the window: " + o));
            }
            // Forgetting the token makes it read-only again.
            assertTrue(r.get("tokenAfterForget").isNull());
            assertTrue(r.get("deployHiddenAfterForget").asBoolean());

            for (String view : List.of("cluster", "playground", "models", "tenants", "metrics", "narrow-models")) {
                assertTrue(Files.size(shots.resolve(view + ".png")) > 1000, view + ".png");
            }
        } finally {
            node.stop();
        }
    }
}
