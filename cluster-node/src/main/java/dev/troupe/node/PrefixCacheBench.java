package dev.troupe.node;

import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.actors.replica.GenerationRequest;
import dev.troupe.actors.replica.StepLoop;
import dev.troupe.engine.EngineOptions;
import dev.troupe.engine.LlamaModel;
import dev.troupe.engine.gguf.RandomLlamaWriter;
import dev.troupe.engine.sampling.SamplingParams;
import dev.troupe.engine.tokenizer.Tokenizer;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * {@code bin/troupe bench prefix}: what prefix caching buys a step loop. N requests that share a long system
 * prompt, each with its own short question, are submitted at once, with the cache off and then on (each
 * run on a fresh step loop and a cold cache); prints TTFT p50/p99 and aggregate tokens/s of each run. Without
 * {@code --model} it writes a random model of random15M's shape with a 2,048-token context (random15M's own
 * context is too short for the prompt) and its tokenizer.
 */
final class PrefixCacheBench {
    private PrefixCacheBench() {}

    static int run(String[] argv, PrintStream out, PrintStream err) throws Exception {
        Args args = new Args(argv, 2, Set.of("model", "threads", "requests", "system-tokens", "question-tokens", "max-tokens"), Set.of());
        int n = args.integer("requests", 32), system = args.integer("system-tokens", 1000), question = args.integer("question-tokens", 20);
        int maxTokens = args.integer("max-tokens", 32);
        Path model;
        if (args.has("model")) {
            model = Path.of(args.required("model"));
        } else {
            Path tokenizerFrom = Path.of("../shared/models/random15M-f32.gguf");
            if (!Files.isRegularFile(tokenizerFrom)) throw new Args.UsageException("--model FILE, or ../shared/models/random15M-f32.gguf for its tokenizer");
            model = Files.createTempFile("troupe-prefix-bench", ".gguf");
            model.toFile().deleteOnExit();
            new RandomLlamaWriter(RandomLlamaWriter.LlamaShape.of(288, 768, 6, 6, 6, 32000, 2048)).tokenizerFrom(tokenizerFrom).seed(7).write(model);
        }
        EngineOptions options = EngineOptions.defaults().withThreads(args.integer("threads", 0)).withMaxSequences(n + 1)
                .withKvCacheTokens(n * (system + question + maxTokens) + 4096);
        try (LlamaModel m = LlamaModel.load(model, options)) {
            if (system + question + maxTokens > m.config().contextLength()) {
                throw new Args.UsageException("the model's context is " + m.config().contextLength() + " tokens; lower --system-tokens");
            }
            Tokenizer tokenizer = Tokenizer.fromGguf(m.file());
            int vocab = m.vocabSize();
            int[][] prompts = new int[n][];
            for (int r = 0; r < n; r++) {
                prompts[r] = new int[system + question];
                for (int i = 0; i < system; i++) prompts[r][i] = 3 + (int) ((i * 7919L) % (vocab - 3));
                for (int i = 0; i < question; i++) prompts[r][system + i] = 3 + (int) (((r + 1) * 104729L + i * 31L) % (vocab - 3));
            }
            m.warmUp(Duration.ofSeconds(3));
            for (boolean cache : new boolean[] {false, true}) {
                out.println(once(m, tokenizer, prompts, maxTokens, cache));
            }
        }
        return 0;
    }

    private static String once(LlamaModel m, Tokenizer tokenizer, int[][] prompts, int maxTokens, boolean cache) throws Exception {
        int n = prompts.length;
        StepLoop loop = new StepLoop(m, tokenizer, new StepLoop.Config(n, 512, n, Duration.ofMillis(1), cache));
        loop.start();
        try {
            long[] first = new long[n];
            CountDownLatch done = new CountDownLatch(n);
            SamplingParams p = SamplingParams.builder().temperature(0f).maxTokens(maxTokens).ignoreEos(true).build();
            long t0 = System.nanoTime();
            for (int r = 0; r < n; r++) {
                int id = r;
                boolean accepted = loop.submit(new GenerationRequest("prefix-" + r, prompts[r], p, 0), e -> {
                    if (e instanceof GenerationEvent.Tokens && first[id] == 0) first[id] = System.nanoTime() - t0;
                    if (e instanceof GenerationEvent.Finished || e instanceof GenerationEvent.Failed) done.countDown();
                });
                if (!accepted) throw new IllegalStateException("request " + r + " was refused");
            }
            if (!done.await(10, TimeUnit.MINUTES)) throw new IllegalStateException("the requests did not finish");
            double seconds = (System.nanoTime() - t0) / 1e9;
            StepLoop.Stats s = loop.stats();
            Arrays.sort(first);
            return String.format(Locale.ROOT, "{\"test\":\"prefix\",\"cache\":%s,\"requests\":%d,\"prompt_tokens\":%d,\"max_tokens\":%d,"
                            + "\"ttft_p50_ms\":%.1f,\"ttft_p99_ms\":%.1f,\"tokens_per_s\":%.1f,\"prefix_hit_tokens\":%d,\"prefix_queried_tokens\":%d}",
                    cache, n, prompts[0].length, maxTokens, first[n / 2] / 1e6, first[(int) Math.min(n - 1, n * 0.99)] / 1e6,
                    n * maxTokens / seconds, s.prefixHitTokens(), s.prefixQueriedTokens());
        } finally {
            loop.close();
        }
    }
}
