package dev.troupe.actors.replica;

import dev.troupe.engine.EngineOptions;
import dev.troupe.engine.LlamaModel;
import dev.troupe.engine.sampling.SamplingParams;
import dev.troupe.engine.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Prefix caching changes no output: prompts sharing a long prefix give the same completions (greedy and
 * seeded) with the cache on as with it off, alone and batched, while their shared blocks are found.
 */
class PrefixCachingTest {
    private static final String SHARED = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park"
            + " with her friend Tom. One day, they saw a big red ball under a tree.";
    private static final String[] QUESTIONS = {" Lily said", " Tom ran", " The ball", " Then", " Mom came", " A bird"};

    private static List<String> run(LlamaModel model, Tokenizer tokenizer, boolean prefixCaching, boolean batched, long[] hits)
            throws Exception {
        StepLoop loop = new StepLoop(model, tokenizer, new StepLoop.Config(8, 64, 32, Duration.ofMillis(1), prefixCaching));
        loop.start();
        try {
            List<RecordingSink> sinks = new ArrayList<>();
            List<String> texts = new ArrayList<>();
            for (int i = 0; i < QUESTIONS.length * 2; i++) {
                SamplingParams p = i % 2 == 0 ? SamplingParams.greedy(24)
                        : SamplingParams.builder().maxTokens(24).temperature(0.9f).seed(40 + i).build();
                RecordingSink s = new RecordingSink("q" + i);
                assertTrue(loop.submit(new GenerationRequest(s.id, tokenizer.encode(SHARED + QUESTIONS[i / 2], true), p, 0), s));
                sinks.add(s);
                if (!batched) {
                    s.finished();
                    texts.add(s.text());
                }
            }
            if (batched) {
                for (RecordingSink s : sinks) {
                    s.finished();
                    texts.add(s.text());
                }
            }
            for (RecordingSink s : sinks) s.assertWellFormed();
            long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (loop.stats().kvBlocksUsed() != 0) {
                assertTrue(System.nanoTime() < until, "blocks back: " + loop.stats());
                Thread.sleep(5);
            }
            hits[0] = loop.stats().prefixHitTokens();
            hits[1] = loop.stats().prefixQueriedTokens();
            return texts;
        } finally {
            loop.close();
        }
    }

    private static int commonPrefix(int[] a, int[] b) {
        int n = 0;
        while (n < a.length && n < b.length && a[n] == b[n]) n++;
        return n;
    }

    @Test
    void outputsWithTheCacheEqualOutputsWithoutItAloneAndBatched() throws Exception {
        EngineOptions o = EngineOptions.defaults().withThreads(2).withKvCacheTokens(0);
        try (LlamaModel model = LlamaModel.load(TestModels.require(TestModels.STORIES), o)) {
            Tokenizer tokenizer = Tokenizer.fromGguf(model.file());
            int shared = tokenizer.encode(SHARED, true).length;
            assertTrue(shared >= 32, "the shared prefix fills at least two blocks: " + shared + " tokens");
            long[] off = new long[2], alone = new long[2], batched = new long[2];
            List<String> expected = run(model, tokenizer, false, false, off);
            assertEquals(0, off[0], "no hits with the cache off");
            assertEquals(expected, run(model, tokenizer, true, false, alone), "alone, with the cache");
            // Run one after another, every prompt finds all it has in common with an earlier one, to the token
            // (full blocks shared, then the start of the next block copied), up to its last token.
            long expected0 = 0;
            for (int i = 1; i < QUESTIONS.length * 2; i++) {
                int[] p = tokenizer.encode(SHARED + QUESTIONS[i / 2], true);
                int common = 0;
                for (int j = 0; j < i; j++) common = Math.max(common, commonPrefix(p, tokenizer.encode(SHARED + QUESTIONS[j / 2], true)));
                expected0 += Math.min(common, p.length - 1);
            }
            assertEquals(expected0, alone[0], "tokens found, of " + alone[1]);
            assertEquals(expected, run(model, tokenizer, true, true, batched), "batched, with the cache (warm from the last run)");
            assertTrue(batched[0] > alone[0], "the batched run found the blocks cached by the run before");
        }
    }
}
