package dev.troupe.multijvm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The node-loss drill of the chaos tests: many concurrent streamed requests through two gateways while a
 * third node (a worker serving some of them) is struck, each request checked against its uninterrupted
 * run, and what the gateways did about it.
 */
final class FailureDrill {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What is done to the victim node. */
    interface Failure {
        void strike(NodeProcess victim) throws Exception;
    }

    private FailureDrill() {}

    /** One request's body: greedy, or seeded sampling at temperature 0.8. */
    static ObjectNode body(String prompt, int maxTokens, Long seed, boolean stream) {
        ObjectNode b = JSON.createObjectNode();
        b.put("model", "stories");
        b.put("prompt", prompt);
        b.put("max_tokens", maxTokens);
        if (seed == null) {
            b.put("temperature", 0);
        } else {
            b.put("temperature", 0.8);
            b.put("seed", seed);
        }
        if (stream) {
            b.put("stream", true);
            b.putObject("stream_options").put("include_usage", true);
        }
        return b;
    }

    private record Expected(String text, int completionTokens) {}

    /** What a client read from one stream. */
    static final class Got {
        final StringBuilder text = new StringBuilder();
        final List<Long> chunkNanos = new ArrayList<>();
        final List<String> errors = new ArrayList<>();
        volatile String node;
        volatile long startedNanos;
        int completionTokens = -1;
        int promptTokens = -1;
        volatile boolean done;
    }

    private static Got readWhole(NodeProcess gateway, String body) {
        Got g = new Got();
        try {
            HttpResponse<String> r = gateway.post("/v1/completions", body);
            g.node = r.headers().firstValue("X-Troupe-Node").orElse("?");
            if (r.statusCode() != 200) {
                g.errors.add("status " + r.statusCode() + ": " + r.body());
                return g;
            }
            JsonNode c = JSON.readTree(r.body());
            g.text.append(c.get("choices").get(0).get("text").asText());
            g.completionTokens = c.get("usage").get("completion_tokens").asInt();
            g.done = true;
        } catch (Exception e) {
            g.errors.add(e.toString());
        }
        return g;
    }

    /** Whether some stream served from {@code node} has delivered chunks and not yet ended. */
    private static boolean midway(List<Got> streams, String node) {
        for (Got g : streams) {
            if (!node.equals(g.node) || g.done) continue;
            synchronized (g.chunkNanos) {
                if (g.chunkNanos.size() >= 2) return true;
            }
        }
        return false;
    }

    /** Reads one streamed completion to its end (apiKey: null for none). */
    static Got read(NodeProcess gateway, String body, String apiKey) {
        return read(gateway, body, apiKey, new Got());
    }

    /** As {@link #read(NodeProcess, String, String)}, into {@code g}, which others may watch while it fills. */
    static Got read(NodeProcess gateway, String body, String apiKey, Got g) {
        try {
            HttpResponse<Stream<String>> r = gateway.stream("/v1/completions", body, apiKey).get(120, TimeUnit.SECONDS);
            if (r.statusCode() != 200) {
                g.errors.add("status " + r.statusCode() + ": " + String.join("\n", r.body().toList()));
                return g;
            }
            g.node = r.headers().firstValue("X-Troupe-Node").orElse("?");
            g.startedNanos = System.nanoTime();
            r.body().forEach(line -> {
                if (!line.startsWith("data: ")) return;
                String data = line.substring(6);
                if (data.equals("[DONE]")) {
                    g.done = true;
                    return;
                }
                try {
                    JsonNode c = JSON.readTree(data);
                    if (c.has("error")) g.errors.add(data);
                    if (c.has("choices") && c.get("choices").size() > 0) {
                        g.text.append(c.get("choices").get(0).get("text").asText());
                        synchronized (g.chunkNanos) {
                            g.chunkNanos.add(System.nanoTime());
                        }
                    }
                    if (c.hasNonNull("usage")) {
                        g.completionTokens = c.get("usage").get("completion_tokens").asInt();
                        g.promptTokens = c.get("usage").get("prompt_tokens").asInt();
                    }
                } catch (Exception e) {
                    g.errors.add("unparseable chunk " + data + ": " + e);
                }
            });
        } catch (Exception e) {
            g.errors.add(e.toString());
        }
        return g;
    }

    /**
     * The least pause after the strike that counts a stream as cut: a failover waits for the failure detector (about
     * two seconds here); chunks already on their way arrive within milliseconds.
     */
    static final long CUT_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(500);

    /** What a failure does to a drill's streams: how many were cut mid-way, moved, and how long they paused. */
    record Report(int cutStreams, long continued, long retried, long lost, long[] pausesMillis) {
        long pause(int percentile) {
            if (pausesMillis.length == 0) return -1;
            return pausesMillis[Math.min(pausesMillis.length - 1, (int) Math.ceil(percentile / 100.0 * pausesMillis.length) - 1)];
        }
    }

    /**
     * Streams {@code requests} greedy and seeded completions of the reference prompts through two gateways,
     * strikes the victim once it is generating, and requires every request to end with exactly its
     * uninterrupted text and usage, without an error.
     */
    static Report run(NodeProcess first, NodeProcess second, NodeProcess victim, int requests, Failure failure) throws Exception {
        return run(first, second, victim, victim, requests, failure);
    }

    /**
     * The drill where the node struck is not the one whose replica serves the cut streams: a follower slice's
     * node, whose loss ends the group its leader on {@code served} runs.
     */
    static Report run(NodeProcess first, NodeProcess second, NodeProcess served, NodeProcess victim, int requests, Failure failure)
            throws Exception {
        String victimAddress = served.clusterAddress();   // where the cut streams are served

        // Uninterrupted references: the greedy ones from the reference file; the seeded ones as two gateways serve them.
        List<String> prompts = new ArrayList<>();
        List<Expected> greedy = new ArrayList<>();
        List<Expected> seeded = new ArrayList<>();
        int maxTokens = 0;
        for (String line : Files.readAllLines(NodeProcess.sharedModel("stories260K-greedy.jsonl"))) {
            if (line.isBlank()) continue;
            JsonNode ref = JSON.readTree(line);
            String prompt = ref.get("prompt").asText();
            maxTokens = ref.get("max_tokens").asInt();
            prompts.add(prompt);
            JsonNode g = JSON.readTree(first.post("/v1/completions", body(prompt, maxTokens, null, false).toString()).body());
            assertEquals(ref.get("completion").asText(), g.get("choices").get(0).get("text").asText());
            greedy.add(new Expected(ref.get("completion").asText(), g.get("usage").get("completion_tokens").asInt()));
            JsonNode s1 = JSON.readTree(first.post("/v1/completions", body(prompt, maxTokens, 100L + prompts.size(), false).toString()).body());
            JsonNode s2 = JSON.readTree(second.post("/v1/completions", body(prompt, maxTokens, 100L + prompts.size(), false).toString()).body());
            assertEquals(s1.get("choices").get(0).get("text").asText(), s2.get("choices").get(0).get("text").asText(), "seeded is seeded");
            seeded.add(new Expected(s1.get("choices").get(0).get("text").asText(), s1.get("usage").get("completion_tokens").asInt()));
        }

        ExecutorService clients = Executors.newFixedThreadPool(requests);
        List<CompletableFuture<Got>> results = new ArrayList<>();
        List<Got> streams = new ArrayList<>();
        List<Expected> expected = new ArrayList<>();
        for (int i = 0; i < requests; i++) {
            int p = i % prompts.size();
            boolean isSeeded = i % 5 == 0;
            expected.add(isSeeded ? seeded.get(p) : greedy.get(p));
            // Every seventh request is not streamed: retried or continued the same way, answered once at its end.
            boolean streamed = i % 7 != 3;
            String b = body(prompts.get(p), maxTokens, isSeeded ? 100L + p + 1 : null, streamed).toString();
            NodeProcess gateway = i % 2 == 0 ? first : second;
            Got g = new Got();
            if (streamed) streams.add(g);
            results.add(CompletableFuture.supplyAsync(() -> streamed ? read(gateway, b, null, g) : readWhole(gateway, b), clients));
        }
        // Kill the victim once it is generating (it announces running sequences), has more queued, and a client
        // holds a stream from it part-way (so the kill cuts one mid-way on any machine's timing).
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (runningOn(first, victimAddress) < 3 || !midway(streams, victimAddress)) {
            assertTrue(System.nanoTime() < until, "no stream started on " + victimAddress);
            Thread.sleep(5);
        }
        long killed = System.nanoTime();
        failure.strike(victim);

        List<Got> got = new ArrayList<>();
        for (CompletableFuture<Got> f : results) got.add(f.get(180, TimeUnit.SECONDS));
        clients.shutdown();

        int cutStreams = 0;
        List<Long> stalls = new ArrayList<>();
        for (int i = 0; i < requests; i++) {
            Got g = got.get(i);
            assertEquals(List.of(), g.errors, "request " + i + " through " + (i % 2 == 0 ? "node1" : "node2"));
            assertTrue(g.done, "request " + i + " ended with [DONE]");
            assertEquals(expected.get(i).text(), g.text.toString(), "request " + i + " text (served by " + g.node + ")");
            assertEquals(expected.get(i).completionTokens(), g.completionTokens, "request " + i + " usage counts each token once");
            if (victimAddress.equals(g.node)) {
                synchronized (g.chunkNanos) {
                    // Chunks already on their way still arrive after the kill; the stream resumes with the
                    // chunk after its longest pause from then on. A stream whose replica had sent everything before
                    // the kill only finishes arriving: its pause is short, and no failover moved it.
                    long before = g.chunkNanos.stream().filter(t -> t < killed).count();
                    long stall = -1;
                    for (int c = 1; c < g.chunkNanos.size(); c++) {
                        long t = g.chunkNanos.get(c);
                        if (t >= killed) stall = Math.max(stall, t - Math.max(killed, g.chunkNanos.get(c - 1)));
                    }
                    if (before > 0 && stall >= CUT_PAUSE_NANOS) {
                        cutStreams++;
                        stalls.add(stall / 1_000_000);
                    }
                }
            }
        }
        long[] pauses = stalls.stream().mapToLong(Long::longValue).sorted().toArray();
        return new Report(cutStreams, moved(first, "continued") + moved(second, "continued"),
                moved(first, "retried") + moved(second, "retried"), moved(first, "lost") + moved(second, "lost"), pauses);
    }

    /** Sequences running on a node's replica, as the cluster's view (announcements) has it now. */
    static long runningOn(NodeProcess view, String node) {
        try {
            for (JsonNode r : JSON.readTree(view.admin("GET", "/admin/cluster", null).body()).get("replicas")) {
                if (r.get("node").asText().equals(node)) return r.get("running").asLong();
            }
        } catch (Exception e) {
            return 0;
        }
        return 0;
    }

    /** Requests the gateway moved this way, over all model versions. */
    static long moved(NodeProcess gateway, String how) throws Exception {
        long n = 0;
        for (String line : gateway.get("/metrics").body().split("\n")) {
            if (line.startsWith("troupe_requests_moved_total{how=\"" + how + "\",")) n += (long) Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
        }
        return n;
    }
}
