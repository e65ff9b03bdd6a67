package dev.troupe.engine;

import dev.troupe.engine.kv.PagedKvCache;
import dev.troupe.engine.sampling.SamplingParams;
import dev.troupe.engine.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The F16 KV cache (the default) against the F32 one: keys and values rounded to half precision move the
 * logits by at most a stated tolerance, and the stories260K greedy references come out the same.
 */
class KvCacheTypeTest {
    /** Largest |logit(F16 KV) - logit(F32 KV)| accepted, relative to the largest |logit| of the row. */
    static final float RELATIVE_TOLERANCE = 3e-3f;

    private static EngineOptions opts(PagedKvCache.Type type) {
        return EngineOptions.defaults().withThreads(2).withKvCacheTokens(1024).withKvCacheType(type);
    }

    @Test
    void storiesGreedyReferencesHoldWithAnF16Cache() throws Exception {
        Path model = TestModels.require(TestModels.STORIES);
        try (LlamaModel m = LlamaModel.load(model, opts(PagedKvCache.Type.F16))) {
            assertEquals(PagedKvCache.Type.F16, m.kvCache().type());
            Generator gen = new Generator(m, Tokenizer.fromGguf(m.file()));
            for (TestModels.Reference ref : TestModels.references(TestModels.require("stories260K-greedy.jsonl"))) {
                assertEquals(ref.completion(), gen.generate(ref.prompt(), SamplingParams.greedy(ref.maxTokens()), null).text(), ref.prompt());
            }
        }
    }

    @Test
    void f16CacheLogitsStayWithinToleranceOfF32Stories() throws Exception {
        within(TestModels.require(TestModels.STORIES));
    }

    @Test
    void f16CacheLogitsStayWithinToleranceOfF32Random() throws Exception {
        within(TestModels.require(TestModels.RANDOM_F32));
    }

    /** A 40-token prompt, then 40 decode steps fed the F32 run's greedy tokens (both runs see the same tokens). */
    private void within(Path model) throws Exception {
        int[] prompt = new int[40];
        for (int i = 0; i < prompt.length; i++) prompt[i] = 1 + (int) ((i * 2654435761L) % 250);
        try (LlamaModel a = LlamaModel.load(model, opts(PagedKvCache.Type.F32));
             LlamaModel b = LlamaModel.load(model, opts(PagedKvCache.Type.F16))) {
            int sa = a.kvCache().open(), sb = b.kvCache().open(), steps = 40;
            assertTrue(a.kvCache().reserve(sa, prompt.length + steps) && b.kvCache().reserve(sb, prompt.length + steps));
            Batch ba = new Batch(a.maxBatchTokens()), bb = new Batch(b.maxBatchTokens());
            ba.addChunk(sa, prompt, 0, prompt.length, 0, true);
            bb.addChunk(sb, prompt, 0, prompt.length, 0, true);
            float worst = 0;
            for (int s = 0; ; s++) {
                a.forward(ba);
                b.forward(bb);
                float[] la = Arrays.copyOf(a.logits(), a.vocabSize()), lb = Arrays.copyOf(b.logits(), b.vocabSize());
                float max = 0, diff = 0;
                for (int i = 0; i < la.length; i++) {
                    max = Math.max(max, Math.abs(la[i]));
                    diff = Math.max(diff, Math.abs(la[i] - lb[i]));
                }
                worst = Math.max(worst, diff / max);
                if (s == steps) break;
                int next = LlamaModelTest.argmax(la, 0, la.length);
                ba.clear();
                bb.clear();
                ba.add(sa, next, prompt.length + s, true);
                bb.add(sb, next, prompt.length + s, true);
            }
            System.out.printf("%s: worst relative logit difference F16 vs F32 KV %.2e%n", model.getFileName(), worst);
            assertTrue(worst <= RELATIVE_TOLERANCE, model.getFileName() + ": F16 KV moved a logit by " + worst + " of the row's largest");
        }
    }
}
