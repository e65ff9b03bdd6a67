package dev.troupe.engine.bench;

import dev.troupe.engine.Batch;
import dev.troupe.engine.LlamaModel;
import dev.troupe.engine.kv.PagedKvCache;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Engine throughput in the shape of llama.cpp's llama-bench: prompt processing of P tokens in one
 * step (ppP), single-stream decode of G tokens (tgG), and N streams decoding G tokens together
 * (batchN, aggregate tokens/s). Each figure is the median of {@code reps} runs after warm-up runs.
 * Token ids are fixed pseudo-random ids, so the figures do not depend on the tokenizer.
 */
public final class EngineBench {
    /** One line of results. */
    public record Result(String test, int tokens, double medianSeconds, double tokensPerSecond, double[] runsTokensPerSecond) {
        public String toJson(String model, String backend, int threads, String weights) {
            return String.format(Locale.ROOT,
                    "{\"test\":\"%s\",\"model\":\"%s\",\"weights\":\"%s\",\"backend\":\"%s\",\"threads\":%d,\"tokens\":%d,"
                            + "\"median_s\":%.6f,\"tokens_per_s\":%.1f,\"runs_tokens_per_s\":%s}",
                    test, model, weights, backend, threads, tokens, medianSeconds, tokensPerSecond, runsJson());
        }

        private String runsJson() {
            StringBuilder sb = new StringBuilder("[");
            for (int i = 0; i < runsTokensPerSecond.length; i++) {
                if (i > 0) sb.append(',');
                sb.append(String.format(Locale.ROOT, "%.1f", runsTokensPerSecond[i]));
            }
            return sb.append(']').toString();
        }
    }

    private final LlamaModel model;
    private final Batch batch;
    private final int reps;

    public EngineBench(LlamaModel model, int reps) {
        if (reps < 1) throw new IllegalArgumentException("reps must be >= 1");
        this.model = model;
        this.batch = new Batch(model.maxBatchTokens());
        this.reps = reps;
    }

    /** Largest batch a model configured with these numbers can run for benchmarking. */
    public static int kvTokensNeeded(int promptTokens, int genTokens, int[] batches) {
        int max = Math.max(promptTokens, genTokens);
        for (int b : batches) max = Math.max(max, b * genTokens);
        return max;
    }

    public List<Result> run(int promptTokens, int genTokens, int[] batches) {
        List<Result> out = new ArrayList<>();
        if (promptTokens > 0) out.add(measure("pp" + promptTokens, promptTokens, () -> prompt(promptTokens)));
        if (genTokens > 0) {
            out.add(measure("tg" + genTokens, genTokens, () -> decode(1, genTokens)));
            for (int b : batches) {
                if (b <= 1) continue;
                out.add(measure("batch" + b, b * genTokens, () -> decode(b, genTokens)));
            }
        }
        return out;
    }

    private Result measure(String name, int tokens, Runnable once) {
        // Warm-up until C2 has compiled the vector kernels (before that they run as boxed fallbacks,
        // several times slower): at least five runs and three seconds.
        long warmStart = System.nanoTime();
        for (int i = 0; i < 5 || System.nanoTime() - warmStart < 3_000_000_000L; i++) once.run();
        double[] secs = new double[reps];
        double[] tps = new double[reps];
        for (int r = 0; r < reps; r++) {
            long t0 = System.nanoTime();
            once.run();
            secs[r] = (System.nanoTime() - t0) / 1e9;
            tps[r] = tokens / secs[r];
        }
        double[] sorted = secs.clone();
        Arrays.sort(sorted);
        double median = reps % 2 == 1 ? sorted[reps / 2] : (sorted[reps / 2 - 1] + sorted[reps / 2]) / 2;
        return new Result(name, tokens, median, tokens / median, tps);
    }

    private static int tokenAt(int i) {
        return 3 + (int) ((i * 2654435761L) & 0xFFFF);
    }

    /** One step with the whole prompt; logits for its last token only. */
    private void prompt(int n) {
        PagedKvCache kv = model.kvCache();
        int seq = open(n);
        batch.clear();
        for (int i = 0; i < n; i++) batch.add(seq, tokenAt(i) % model.vocabSize(), i, i == n - 1);
        model.forward(batch);
        kv.release(seq);
    }

    /** streams sequences, each decoding n tokens from position 0, one token per sequence per step. */
    private void decode(int streams, int n) {
        PagedKvCache kv = model.kvCache();
        int[] seqs = new int[streams];
        for (int s = 0; s < streams; s++) seqs[s] = open(n);
        for (int step = 0; step < n; step++) {
            batch.clear();
            for (int s = 0; s < streams; s++) batch.add(seqs[s], tokenAt(step * 31 + s) % model.vocabSize(), step, true);
            model.forward(batch);
        }
        for (int s : seqs) kv.release(s);
    }

    private int open(int tokens) {
        PagedKvCache kv = model.kvCache();
        int seq = kv.open();
        if (seq < 0 || !kv.reserve(seq, tokens)) {
            throw new IllegalStateException("KV cache too small for the benchmark: " + kv);
        }
        return seq;
    }
}
