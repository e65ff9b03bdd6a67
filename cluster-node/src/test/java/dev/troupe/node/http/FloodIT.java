package dev.troupe.node.http;

import com.typesafe.config.ConfigFactory;
import dev.troupe.node.ServeCommand;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

import static org.junit.jupiter.api.Assertions.*;

/** A node with a tiny queue (2 running + 4 waiting) flooded by 200 concurrent requests. */
class FloodIT {
    @Test
    void floodBeyondTheQueueEndsEveryRequestInExactlyOneOutcome() throws Exception {
        Path model = ServeIT.shared("stories260K-f32.gguf");
        Assumptions.assumeTrue(model != null, "../shared/models/stories260K-f32.gguf not found");
        ServeCommand.Node node = ServeCommand.start(model, "stories", ConfigFactory.parseString(
                "troupe.http.port = 0\ntroupe.engine.threads = 2\ntroupe.engine.warm-up = 0s\n"
                        + "troupe.scheduler.max-num-seqs = 2\ntroupe.scheduler.max-queued = 4")
                .withFallback(ServeIT.tempDataDir()).withFallback(ServeCommand.nodeDefaults()).resolve());
        try {
            String base = "http://127.0.0.1:" + node.port();
            int n = 200;
            Map<Integer, Integer> statuses = new ConcurrentHashMap<>();
            List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
            long heapBefore = ServeIT.usedHeap();
            for (int i = 0; i < n; i++) {
                all.add(ServeIT.HTTP.sendAsync(HttpRequest.newBuilder(URI.create(base + "/v1/completions")).timeout(Duration.ofSeconds(120))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(ServeIT.completionBody("Once upon a time", 100, i % 2 == 0))).build(),
                        HttpResponse.BodyHandlers.ofString()));
            }
            int ok = 0, limited = 0;
            for (CompletableFuture<HttpResponse<String>> f : all) {
                HttpResponse<String> r = f.get();
                statuses.merge(r.statusCode(), 1, Integer::sum);
                if (r.statusCode() == 200) {
                    ok++;
                    if (r.body().startsWith("data:")) {
                        List<String> data = ServeIT.sseData(r.body());
                        assertEquals("[DONE]", data.get(data.size() - 1));
                    } else {
                        assertEquals(100, ServeIT.JSON.readTree(r.body()).get("usage").get("completion_tokens").asInt());
                    }
                } else {
                    ServeIT.assertError(r, 429, null);
                    assertEquals("1", r.headers().firstValue("retry-after").orElse(null));
                    limited++;
                }
            }
            assertEquals(n, ok + limited, "outcomes: " + statuses);
            assertTrue(limited > 0, "the queue bound was never hit: " + statuses);
            assertTrue(ok >= 6, "statuses " + statuses);
            long until = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while ((node.stepLoop().stats().kvBlocksUsed() != 0 || node.stepLoop().stats().waiting() != 0) && System.nanoTime() < until) {
                Thread.sleep(20);
            }
            assertEquals(0, node.stepLoop().stats().kvBlocksUsed());
            assertTrue(ServeIT.usedHeap() - heapBefore < 200L << 20, "heap grew by " + (ServeIT.usedHeap() - heapBefore));
        } finally {
            node.stop();
        }
    }
}
