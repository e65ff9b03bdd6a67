package dev.troupe.node.http;

import com.fasterxml.jackson.databind.JsonNode;
import dev.troupe.node.ServeCommand;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * /metrics after real traffic is valid Prometheus text by promtool's own check (counters named _total,
 * durations in _seconds), every metric the Grafana dashboard in config/ queries is one the node exports, and
 * the per-request, per-step and per-node series count that traffic.
 */
class MetricsIT {
    private static ServeCommand.Node node;
    private static String metrics;

    @BeforeAll
    static void startAndLoad() throws Exception {
        node = DeploymentsIT.start("troupe.engine.threads = 2\n");
        String base = "http://127.0.0.1:" + node.port();
        for (boolean stream : new boolean[] {false, true}) {
            for (int i = 0; i < 3; i++) {
                HttpResponse<String> r = ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(ServeIT.completionBody("Once upon a time", 12, stream))).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(200, r.statusCode(), r.body());
            }
        }
        // One more that certainly ends at its token limit (a chat, so the completions counts above stay 6).
        HttpResponse<String> r = ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"stories\",\"max_tokens\":1,\"temperature\":0,"
                        + "\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a time\"}]}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("length", ServeIT.JSON.readTree(r.body()).get("choices").get(0).get("finish_reason").asText(), r.body());
        // The step loop publishes its counters at the end of the iteration that ended the last request, a moment
        // after the response may arrive; the histograms are live. Scrape until the two agree on the steps run.
        String steps = "troupe_engine_steps_total{model=\"stories\",version=\"v1\"}";
        String observed = "troupe_step_batch_size_count{model=\"stories\",version=\"v1\"}";
        long deadline = System.nanoTime() + 5_000_000_000L;
        do {
            HttpResponse<String> m = DeploymentsIT.admin(node, "GET", "/metrics", null, DeploymentsIT.TOKEN);
            assertEquals(200, m.statusCode());
            metrics = m.body();
            if (value(steps) == value(observed)) break;
            Thread.sleep(20);
        } while (System.nanoTime() < deadline);
    }

    @AfterAll
    static void stop() {
        if (node != null) node.stop();
    }

    @Test
    void promtoolFindsNothingToSay() throws Exception {
        Path promtool = Path.of("/usr/bin/promtool");
        Assumptions.assumeTrue(Files.isExecutable(promtool), "promtool not installed (Debian package prometheus; .ci/run installs it)");
        Process p = new ProcessBuilder(promtool.toString(), "check", "metrics").redirectErrorStream(true).start();
        p.getOutputStream().write(metrics.getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        String said = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), said);
        assertEquals("", said.strip(), "promtool's findings");
    }

    @Test
    void countersEndInTotalAndTheTrafficIsCounted() {
        for (String line : metrics.split("\n")) {
            if (line.startsWith("# TYPE ") && line.endsWith(" counter")) {
                String name = line.split(" ")[2];
                assertTrue(name.endsWith("_total") || metrics.contains("\n" + name + "_total"), "counter " + name);
            }
        }
        assertTrue(metrics.contains("troupe_requests_total{endpoint=\"completions\",model=\"stories\",outcome=\"ok\",version=\"v1\"} 6"), metrics);
        assertTrue(metrics.contains("troupe_time_to_first_token_seconds_count{model=\"stories\",version=\"v1\"}"), metrics);
        assertTrue(metrics.contains("troupe_kv_cache_usage_ratio{model=\"stories\",version=\"v1\"}"), metrics);
    }

    /** The value of one series (its labels as the exposition writes them: sorted by name), or NaN when absent. */
    private static double value(String series) {
        for (String line : metrics.split("\n")) {
            if (line.startsWith(series + " ")) return Double.parseDouble(line.substring(series.length() + 1).split(" ")[0]);
        }
        return Double.NaN;
    }

    @Test
    void requestsAreCountedByFinishReasonAndLength() {
        String v = "model=\"stories\",version=\"v1\"";
        // 7 requests finished: 6 completions (stopped or at their 12 tokens) and the chat at its 1 token.
        assertEquals(7, value("troupe_request_prompt_tokens_count{" + v + "}"), metrics);
        assertEquals(7, value("troupe_request_generation_tokens_count{" + v + "}"), metrics);
        double length = value("troupe_request_finished_total{finish_reason=\"length\"," + v + "}");
        double stop = value("troupe_request_finished_total{finish_reason=\"stop\"," + v + "}");
        assertTrue(length >= 1, metrics);
        assertEquals(7, length + (Double.isNaN(stop) ? 0 : stop), metrics);
        // Token sums agree with the token counters.
        assertEquals(value("troupe_prompt_tokens_total{" + v + "}"), value("troupe_request_prompt_tokens_sum{" + v + "}"), metrics);
        assertEquals(value("troupe_completion_tokens_total{" + v + "}"), value("troupe_request_generation_tokens_sum{" + v + "}"), metrics);
        // Per tenant too (behind the scrape token; this scrape has the admin token).
        assertEquals(length, value("troupe_tenant_request_finished_total{finish_reason=\"length\"," + v.replace(",version", ",tenant=\"anonymous\",version") + "}"),
                metrics);
    }

    @Test
    void theStepLoopTimesEachRequestAndStep() {
        String v = "model=\"stories\",version=\"v1\"";
        for (String h : new String[] {"troupe_request_queue_time_seconds", "troupe_request_prefill_time_seconds", "troupe_request_decode_time_seconds"}) {
            assertEquals(7, value(h + "_count{" + v + "}"), h + "\n" + metrics);
            assertEquals(7, value(h + "_bucket{" + v + ",le=\"+Inf\"}"), h + "\n" + metrics);
            double sum = value(h + "_sum{" + v + "}");
            assertTrue(sum >= 0 && sum < 60, h + " sum " + sum);
        }
        assertTrue(value("troupe_request_decode_time_seconds_sum{" + v + "}") > 0, metrics);
        double steps = value("troupe_engine_steps_total{" + v + "}");
        assertTrue(steps >= 12, metrics);
        assertEquals(steps, value("troupe_step_batch_size_count{" + v + "}"), metrics);
        assertEquals(steps, value("troupe_step_tokens_count{" + v + "}"), metrics);
        // Every sequence of every step: at least one per step, and the prompts' tokens plus one per generated token at most.
        assertTrue(value("troupe_step_batch_size_sum{" + v + "}") >= steps, metrics);
        assertTrue(value("troupe_step_tokens_sum{" + v + "}") >= value("troupe_engine_generated_tokens_total{" + v + "}"), metrics);
    }

    @Test
    void theNodeItsSlicesAndItsClusterAreShown() {
        assertEquals(1, value("troupe_replicas{model=\"stories\",version=\"v1\"}"), metrics);
        // Failover per version: nothing moved, and the series is there from the start.
        assertEquals(0, value("troupe_requests_moved_total{how=\"continued\",model=\"stories\",version=\"v1\"}"), metrics);
        Matcher total = Pattern.compile("(?m)^troupe_slice_memory_bytes\\{slice=\"([^\"]+)\",state=\"total\"} (\\S+)").matcher(metrics);
        assertTrue(total.find(), metrics);
        String slice = total.group(1);
        double used = value("troupe_slice_memory_bytes{slice=\"" + slice + "\",state=\"used\"}");
        double free = value("troupe_slice_memory_bytes{slice=\"" + slice + "\",state=\"free\"}");
        assertTrue(used > 0, "the model's weights and KV cache are reserved on its slice\n" + metrics);
        assertEquals(Double.parseDouble(total.group(2)), used + free, metrics);
        assertEquals(1, value("troupe_slice_replicas{slice=\"" + slice + "\"}"), metrics);
        Matcher self = Pattern.compile("(?m)^troupe_node_info\\{node=\"([^\"]+)\",roles=\"([^\"]*)\"} 1").matcher(metrics);
        assertTrue(self.find(), metrics);
        assertTrue(self.group(2).contains("gateway") && self.group(2).contains("worker"), self.group(2));
        assertEquals(1, value("troupe_cluster_members{node=\"" + self.group(1) + "\",roles=\"" + self.group(2) + "\",status=\"up\"}"), metrics);
    }

    @Test
    void everyMetricTheDashboardQueriesIsExported() throws IOException {
        Path dashboard = null;
        for (Path p = Path.of("").toAbsolutePath(); p != null && dashboard == null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("config/grafana/troupe-dashboard.json"))) dashboard = p.resolve("config/grafana/troupe-dashboard.json");
        }
        assertNotNull(dashboard, "config/grafana/troupe-dashboard.json");
        JsonNode d = ServeIT.JSON.readTree(Files.readString(dashboard));
        Set<String> queried = new TreeSet<>();
        Pattern name = Pattern.compile("troupe_[a-z_]+");
        for (JsonNode panel : d.get("panels")) {
            for (JsonNode t : panel.get("targets")) {
                Matcher m = name.matcher(t.get("expr").asText());
                while (m.find()) queried.add(m.group());
            }
        }
        assertTrue(queried.size() >= 10, queried.toString());
        for (String q : queried) {
            assertTrue(Pattern.compile("(?m)^" + q + "[{ ]").matcher(metrics).find(), "the dashboard queries " + q + ", which /metrics does not export");
        }
    }
}
