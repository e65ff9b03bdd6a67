package dev.troupe.node.http;

import com.fasterxml.jackson.databind.JsonNode;
import dev.troupe.node.ServeCommand;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Tenants sharing one node over real HTTP: a tenant flooding the node does not push another tenant's time
 * to first token far beyond its unloaded value, and under contention a weight-2 tenant gets about twice
 * the generated tokens of a weight-1 tenant (read from the per-tenant metrics).
 */
class FairTenantsIT {
    static final String ADMIN = "fair-admin";

    static ServeCommand.Node start(String file, int slots) throws Exception {
        return ServeIT.startNode(file, "troupe.engine.warm-up = 2s\n"
                        + "troupe.admin.token = " + ADMIN + "\ntroupe.scheduler.max-queued = 512\ntroupe.scheduler.max-num-seqs = " + slots);
    }

    static HttpResponse<String> call(ServeCommand.Node n, String method, String path, String bearer, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + n.port() + path)).timeout(Duration.ofSeconds(120))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) b.header("Content-Type", "application/json");
        if (bearer != null) b.header("Authorization", "Bearer " + bearer);
        return ServeIT.HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Creates a tenant with this weight and returns a fresh key of it. */
    static String tenant(ServeCommand.Node n, String id, int weight) throws Exception {
        HttpResponse<String> r = call(n, "POST", "/admin/tenants", ADMIN, "{\"id\":\"" + id + "\",\"weight\":" + weight + "}");
        assertEquals(201, r.statusCode(), r.body());
        r = call(n, "POST", "/admin/tenants/" + id + "/keys", ADMIN, null);
        assertEquals(201, r.statusCode(), r.body());
        return ServeIT.JSON.readTree(r.body()).get("key").asText();
    }

    /** A greedy completion of exactly maxTokens tokens (ignore_eos: the work it makes does not depend on the text). */
    static HttpRequest completion(ServeCommand.Node n, String key, int maxTokens, boolean stream) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + n.port() + "/v1/completions")).timeout(Duration.ofSeconds(300))
                .header("Content-Type", "application/json").header("Authorization", "Bearer " + key)
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"stories\",\"prompt\":\"Once upon a time\",\"max_tokens\":"
                        + maxTokens + ",\"temperature\":0,\"ignore_eos\":true,\"stream\":" + stream + "}")).build();
    }

    /** Milliseconds from sending a streaming request to its first chunk with text; the rest is read to the end. */
    static double ttftMillis(ServeCommand.Node n, String key) throws Exception {
        long t0 = System.nanoTime();
        HttpResponse<InputStream> r = ServeIT.HTTP.send(completion(n, key, 8, true), HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, r.statusCode());
        double first = -1;
        try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                if (first < 0 && line.startsWith("data: {") && line.contains("\"text\":\"") && !line.contains("\"text\":\"\"")) {
                    first = (System.nanoTime() - t0) / 1e6;
                }
            }
        }
        assertTrue(first >= 0, "no text arrived");
        return first;
    }

    static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    /** The sum of a metric's samples (all label sets). */
    static double metric(ServeCommand.Node n, String name) throws Exception {
        double sum = 0;
        for (String line : call(n, "GET", "/metrics", null, null).body().split("\n")) {
            if (line.startsWith(name + "{") || line.startsWith(name + " ")) sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
        }
        return sum;
    }

    static double tenantTokens(ServeCommand.Node n, String tenant) throws Exception {
        String metrics = call(n, "GET", "/metrics", ADMIN, null).body(); // tenant series need the scrape or admin token
        double sum = 0;
        for (String line : metrics.split("\n")) {
            if (line.startsWith("troupe_tenant_generated_tokens_total{") && line.contains("tenant=\"" + tenant + "\"")) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return sum;
    }

    @Test
    void aFloodingTenantDoesNotStarveAnother() throws Exception {
        ServeCommand.Node n = start("stories260K-f32.gguf", 8);
        try {
            String flood = tenant(n, "flood", 1);
            String steady = tenant(n, "steady", 1);
            double[] idle = new double[9];
            for (int i = 0; i < idle.length; i++) idle[i] = ttftMillis(n, steady);
            double unloaded = median(idle);

            // Tenant A sends 400 requests of 120 tokens at once (48,000 tokens, seconds of work here; a flood of 200
            // drained after 2 samples on a fast run); tenant B then sends a request every 0.1 s once A's burst is
            // queued at the scheduler (the burst's own HTTP handling is FIFO on the server's two cores and takes
            // ~0.4-0.8 s; what is measured is the scheduler's share while A is backlogged).
            List<CompletableFuture<HttpResponse<String>>> floods = new ArrayList<>();
            for (int i = 0; i < 400; i++) {
                floods.add(ServeIT.HTTP.sendAsync(completion(n, flood, 120, false), HttpResponse.BodyHandlers.ofString()));
            }
            // Measure once the burst has reached the scheduler: the first /metrics answer comes only after the
            // burst's HTTP handling, and A must still have a backlog there.
            long until = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (metric(n, "troupe_waiting_requests") < 40 && System.nanoTime() < until) Thread.sleep(20);
            double backlog = metric(n, "troupe_waiting_requests");
            assertTrue(backlog >= 40, "A's flood has no backlog at the scheduler: " + backlog);
            // The baseline, in the same run: one more request of A's own, queued behind A's backlog (FIFO).
            CompletableFuture<Double> sameTenant = CompletableFuture.supplyAsync(() -> {
                try {
                    return ttftMillis(n, flood);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            List<Double> samples = new ArrayList<>();
            while (samples.size() < 8) {
                Thread.sleep(100);
                double ttft = ttftMillis(n, steady);
                if (floods.stream().allMatch(CompletableFuture::isDone)) break; // only samples taken under the flood count
                samples.add(ttft);
            }
            for (CompletableFuture<HttpResponse<String>> f : floods) assertEquals(200, f.get().statusCode(), f.get().body());
            double fifo = sameTenant.get();
            double[] loaded = samples.stream().mapToDouble(Double::doubleValue).toArray();
            assertTrue(loaded.length >= 4, "the flood ended after " + loaded.length + " samples: too few measured under load");
            double typical = median(loaded);
            double worst = Arrays.stream(loaded).max().orElseThrow();
            System.out.printf("steady tenant TTFT: unloaded median %.1f ms; under a 400-request flood median %.1f, max %.1f ms %s; "
                    + "a request queued behind the flood (same tenant): %.0f ms%n", unloaded, typical, worst, Arrays.toString(loaded), fifo);
            // Bounds: B's median under the flood within 2x its unloaded TTFT plus 30 ms, its worst within 2x plus
            // 250 ms: the HTTP side of 400 requests, GC and stalls of this 2-vCPU VM share the cores with the engine
            // (measured runs: median 14-50 ms, max 26-390 ms against 14-21 ms unloaded). What fairness buys is
            // the difference to the same request queued behind the flood, asserted as at least 5x.
            assertTrue(typical <= 2 * unloaded + 30, "median TTFT under the flood " + typical + " ms vs unloaded " + unloaded + " ms");
            assertTrue(worst <= 2 * unloaded + 250, "TTFT under the flood " + Arrays.toString(loaded) + " ms vs unloaded " + unloaded);
            assertTrue(fifo >= 5 * worst, "queued behind the flood " + fifo + " ms vs fair " + worst + " ms");
        } finally {
            n.stop();
        }
    }

    @Test
    void aWeightTwoTenantGetsAboutTwiceTheTokens() throws Exception {
        // The engine must be the bottleneck for weights to matter: with stories260K the node generates faster
        // than HTTP admits requests, so neither tenant stays backlogged. The 15M model on one thread is slow
        // enough that both tenants' requests pile up in the scheduler.
        ServeCommand.Node n = start("random15M-q8_0.gguf", 8);
        try {
            String heavy = tenant(n, "heavy", 2);
            String light = tenant(n, "light", 1);
            List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
            for (int i = 0; i < 80; i++) {
                all.add(ServeIT.HTTP.sendAsync(completion(n, heavy, 32, false), HttpResponse.BodyHandlers.ofString()));
                all.add(ServeIT.HTTP.sendAsync(completion(n, light, 32, false), HttpResponse.BodyHandlers.ofString()));
            }
            // Both are backlogged until heavy has had its 80 x 32 tokens (about 3,800 in all at 2:1): skip the
            // first 300 (requests still arriving), then count 1,200.
            long until = System.nanoTime() + Duration.ofSeconds(120).toNanos();
            while (tenantTokens(n, "heavy") + tenantTokens(n, "light") < 300 && System.nanoTime() < until) Thread.sleep(20);
            double h0 = tenantTokens(n, "heavy"), l0 = tenantTokens(n, "light");
            double h, l;
            do {
                Thread.sleep(50);
                h = tenantTokens(n, "heavy") - h0;
                l = tenantTokens(n, "light") - l0;
            } while (h + l < 1200 && System.nanoTime() < until);
            for (CompletableFuture<HttpResponse<String>> f : all) assertEquals(200, f.get().statusCode(), f.get().body());
            double ratio = h / l;
            System.out.printf("generated tokens under contention: heavy (w2) %.0f, light (w1) %.0f, ratio %.2f (from %.0f/%.0f)%n",
                    h, l, ratio, h0, l0);
            assertTrue(h0 + h < 80 * 32, "heavy's backlog ran out inside the window: the ratio means nothing");
            assertTrue(ratio > 1.6 && ratio < 2.4, "weight 2 vs 1 ratio " + ratio);
        } finally {
            n.stop();
        }
    }
}
