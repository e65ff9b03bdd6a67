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
 * durations in _seconds), and every metric the Grafana dashboard in config/ queries is one the node exports.
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
        HttpResponse<String> m = DeploymentsIT.admin(node, "GET", "/metrics", null, DeploymentsIT.TOKEN);
        assertEquals(200, m.statusCode());
        metrics = m.body();
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
