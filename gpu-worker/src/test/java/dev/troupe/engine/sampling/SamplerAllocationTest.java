package dev.troupe.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The per-token path must not allocate on the Java heap once the sampler is built. */
class SamplerAllocationTest {

    private static final int VOCAB = 32_000;
    private static final int ROWS = 8;
    private static final int WARMUP = 2_000;
    private static final int MEASURED = 10_000;
    private static final long BUDGET_BYTES = 64 * 1024;

    private static long allocatedBytes() {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        return mx.getThreadAllocatedBytes(Thread.currentThread().getId());
    }

    private static float[] logitRows() {
        Random r = new Random(99);
        float[] rows = new float[ROWS * VOCAB];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = (float) (r.nextGaussian() * 2.5);
        }
        return rows;
    }

    private static long measure(SamplingParams p) {
        return measure(p, WARMUP, MEASURED);
    }

    private static long measure(SamplingParams p, int warmup, int measured) {
        float[] logits = logitRows();
        Sampler sampler = new Sampler(p, VOCAB);
        Logprobs out = new Logprobs();
        TokenHistory history = new TokenHistory(warmup + measured + 64);
        for (int i = 0; i < 64; i++) {
            history.add(i * 37);
        }
        long checksum = 0;
        for (int i = 0; i < warmup; i++) {
            int t = sampler.sample(logits, (i % ROWS) * VOCAB, history, out);
            history.add(t);
            checksum += t;
        }
        long before = allocatedBytes();
        for (int i = 0; i < measured; i++) {
            int t = sampler.sample(logits, (i % ROWS) * VOCAB, history, out);
            history.add(t);
            checksum += t + out.count();
        }
        long allocated = allocatedBytes() - before;
        assertTrue(checksum > 0);
        assertEquals(p.topLogprobs(), out.count());
        return allocated;
    }

    @Test
    void topKTopPWithPenaltiesAndLogprobsDoesNotAllocate() {
        SamplingParams p = SamplingParams.builder().temperature(0.8f).topP(0.95f).topK(40)
                .repetitionPenalty(1.1f).frequencyPenalty(0.3f).presencePenalty(0.2f).topLogprobs(5).seed(1L)
                .build();
        long allocated = measure(p);
        assertTrue(allocated < BUDGET_BYTES, "allocated " + allocated + " bytes in " + MEASURED + " calls");
    }

    @Test
    void topPWithoutTopKAndGreedyDoNotAllocate() {
        SamplingParams nucleus = SamplingParams.builder().temperature(1.0f).topP(0.9f).minP(0.02f)
                .frequencyPenalty(0.5f).topLogprobs(3).seed(2L).build();
        // shorter runs than the main test: these paths share the code already warmed up there
        long allocated = measure(nucleus, 500, 1_500);
        assertTrue(allocated < BUDGET_BYTES, "top-p: allocated " + allocated + " bytes");
        long greedy = measure(SamplingParams.builder().temperature(0f).penaltyLastN(-1).repetitionPenalty(1.2f)
                .topLogprobs(20).build(), 500, 1_500);
        assertTrue(greedy < BUDGET_BYTES, "greedy: allocated " + greedy + " bytes");
    }
}
