package dev.troupe.node;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.actors.replica.GenerationRequest;
import dev.troupe.engine.sampling.SamplingParams;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * {@code bin/troupe bench overhead --model FILE}: the serving path's cost beyond the engine. Starts a node
 * in this JVM and times 1-token completions three ways: submitted straight to the step loop (engine
 * only), over HTTP (the whole path), and the trivial {@code /health/live} route (the HTTP floor). The
 * HTTP client is a plain keep-alive socket ({@link RawHttpClient}), so the client's own cost stays small.
 */
final class OverheadBench {
    private OverheadBench() {}

    static int run(String[] argv, PrintStream out, PrintStream err) throws Exception {
        Args args = new Args(argv, 2, Set.of("model", "threads", "requests", "prompt", "config"), Set.of());
        Path model = Path.of(args.required("model"));
        if (!Files.isRegularFile(model)) throw new Args.UsageException("model file not found: " + model);
        int n = args.integer("requests", 200);
        String prompt = args.string("prompt", "Once upon a time");
        Config file = args.has("config") ? ConfigFactory.parseFile(new java.io.File(args.required("config"))) : ConfigFactory.empty();
        Config c = ConfigFactory.parseString("troupe.http.port = 0\ntroupe.engine.threads = " + args.integer("threads", 0))
                .withFallback(file)
                .withFallback(ConfigFactory.parseString("troupe.data-dir = \""
                        + Files.createTempDirectory("troupe-bench").toString().replace('\\', '/') + "\""))
                .withFallback(ServeCommand.nodeDefaults()).resolve();
        ServeCommand.Node node = ServeCommand.start(model, "m", c);
        try {
            int[] tokens = dev.troupe.engine.tokenizer.Tokenizer.fromGguf(node.model().file()).encode(prompt, true);
            long[] direct = new long[n];
            for (int i = 0; i < n; i++) {
                CompletableFuture<Long> done = new CompletableFuture<>();
                long t0 = System.nanoTime();
                node.stepLoop().submit(new GenerationRequest("overhead-" + i, tokens, SamplingParams.greedy(1), 0), e -> {
                    if (e instanceof GenerationEvent.Finished || e instanceof GenerationEvent.Failed) done.complete(System.nanoTime());
                });
                direct[i] = done.get(30, TimeUnit.SECONDS) - t0;
            }
            // The embedded API (dev.troupe.embed): the same Gateway as HTTP, without HTTP.
            dev.troupe.embed.Troupe embedded = dev.troupe.embed.Troupe.on(node.troupe());
            dev.troupe.embed.GenerateRequest one = dev.troupe.embed.GenerateRequest.of(null, "m", prompt).withMaxTokens(1).withTemperature(0);
            long[] embeddedFuture = new long[n], embeddedStream = new long[n];
            String body = "{\"model\":\"m\",\"prompt\":" + new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(prompt)
                    + ",\"max_tokens\":1,\"temperature\":0}";
            long[] full = new long[n], floor = new long[n], postFloor = new long[n];
            java.util.Map<String, long[]> stages = new java.util.LinkedHashMap<>();
            try (RawHttpClient http = new RawHttpClient("127.0.0.1", node.port())) {
                for (int i = 0; i < n; i++) {
                    long t0 = System.nanoTime();
                    RawHttpClient.Response r = http.postJson("/v1/completions", body);
                    full[i] = System.nanoTime() - t0;
                    if (r.status() != 200) throw new IllegalStateException("completion failed: " + r.body());
                    String timing = r.header("server-timing");
                    if (timing != null) {
                        for (String part : timing.split(",")) {
                            String[] kv = part.trim().split(";dur=");
                            stages.computeIfAbsent(kv[0], k -> new long[n])[i] = (long) (Double.parseDouble(kv[1]) * 1e6);
                        }
                    }
                    t0 = System.nanoTime();
                    http.get("/health/live");
                    floor[i] = System.nanoTime() - t0;
                    t0 = System.nanoTime();
                    http.postJson("/v1/completions", "{\"model\":\"no-such-model\",\"prompt\":\"x\"}");
                    postFloor[i] = System.nanoTime() - t0;
                    // Interleaved with the HTTP requests, so both paths see the same JIT state and machine load.
                    t0 = System.nanoTime();
                    embedded.complete(one).toCompletableFuture().get(30, TimeUnit.SECONDS);
                    embeddedFuture[i] = System.nanoTime() - t0;
                    t0 = System.nanoTime();
                    embedded.stream(one).runWith(org.apache.pekko.stream.javadsl.Sink.ignore(), node.troupe().system())
                            .toCompletableFuture().get(30, TimeUnit.SECONDS);
                    embeddedStream[i] = System.nanoTime() - t0;
                }
            }
            double d = p50(direct), f = p50(full), h = p50(floor), ef = p50(embeddedFuture), es = p50(embeddedStream);
            out.println(String.format(Locale.ROOT, "{\"test\":\"overhead\",\"requests\":%d,\"engine_only_p50_ms\":%.3f,"
                            + "\"http_completion_p50_ms\":%.3f,\"http_health_live_p50_ms\":%.3f,\"overhead_beyond_engine_p50_ms\":%.3f,"
                            + "\"embedded_complete_p50_ms\":%.3f,\"embedded_stream_p50_ms\":%.3f,"
                            + "\"embedded_overhead_p50_ms\":%.3f,\"embedded_over_http_overhead\":%.3f}",
                    n, d, f, h, f - d, ef, es, ef - d, (ef - d) / (f - d)));
            if (!stages.isEmpty()) {
                StringBuilder sb = new StringBuilder("{\"test\":\"overhead_stages\"");
                double inside = 0;
                for (java.util.Map.Entry<String, long[]> st : stages.entrySet()) {
                    double v = p50(st.getValue());
                    inside += v;
                    sb.append(String.format(Locale.ROOT, ",\"%s_p50_ms\":%.3f", st.getKey(), v));
                }
                sb.append(String.format(Locale.ROOT, ",\"outside_stages_p50_ms\":%.3f,\"post_404_p50_ms\":%.3f}", f - inside,
                        p50(postFloor)));
                out.println(sb);
            }
            return 0;
        } finally {
            node.stop();
        }
    }

    /** Median in ms of the second half of the samples (the first half is warm-up). */
    private static double p50(long[] xs) {
        long[] w = Arrays.copyOfRange(xs, xs.length / 2, xs.length);
        Arrays.sort(w);
        return w[w.length / 2] / 1e6;
    }
}
