package dev.troupe.engine;

import dev.troupe.engine.kv.PagedKvCache;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

class LlamaModelTest {
    private static final int[][] PROMPTS = {
            {1, 403, 407, 261, 378},                  // "Once upon a time" in the stories260K vocab
            {1, 66, 120, 300, 45, 99, 7, 260, 301, 2},
            {1, 33},
    };

    private static EngineOptions opts(String backend) {
        return EngineOptions.defaults().withBackend(backend).withThreads(2).withKvCacheTokens(2048);
    }

    /** Prefill a prompt alone, then greedy-decode n tokens; returns the logits rows of every step. */
    private static float[][] runAlone(LlamaModel m, int[] prompt, int steps) {
        PagedKvCache kv = m.kvCache();
        int seq = kv.open();
        assertTrue(kv.reserve(seq, prompt.length + steps));
        Batch b = new Batch(m.maxBatchTokens());
        float[][] rows = new float[steps + 1][];
        b.addChunk(seq, prompt, 0, prompt.length, 0, true);
        m.forward(b);
        rows[0] = Arrays.copyOf(m.logits(), m.vocabSize());
        for (int s = 1; s <= steps; s++) {
            b.clear();
            b.add(seq, argmax(rows[s - 1], 0, m.vocabSize()), prompt.length + s - 1, true);
            m.forward(b);
            rows[s] = Arrays.copyOf(m.logits(), m.vocabSize());
        }
        kv.release(seq);
        return rows;
    }

    static int argmax(float[] a, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (a[off + i] > a[off + best]) best = i;
        return best;
    }

    @Test
    void batchedStepsGiveExactlyTheLogitsOfUnbatchedOnes() throws Exception {
        batchInvariance(TestModels.require(TestModels.STORIES));
    }

    @Test
    void batchedStepsGiveExactlyTheLogitsOfUnbatchedOnesRandomF32() throws Exception {
        batchInvariance(TestModels.require(TestModels.RANDOM_F32));
    }

    @Test
    void batchedStepsGiveExactlyTheLogitsOfUnbatchedOnesQ8() throws Exception {
        batchInvariance(TestModels.require(TestModels.RANDOM_Q8));
    }

    private void batchInvariance(Path model) throws Exception {
        try (LlamaModel m = LlamaModel.load(model, opts("auto"))) {
            int steps = 6;
            float[][][] alone = new float[PROMPTS.length][][];
            for (int i = 0; i < PROMPTS.length; i++) alone[i] = runAlone(m, PROMPTS[i], steps);
            assertEquals(0, m.kvCache().usedBlocks(), "released sequences return their blocks");

            // Together: sequence 0 prefills first; one step later 1 and 2 prefill while 0 decodes.
            PagedKvCache kv = m.kvCache();
            int[] seq = new int[PROMPTS.length];
            int[] pos = new int[PROMPTS.length];
            int[] next = new int[PROMPTS.length];
            int[] step = new int[PROMPTS.length];
            for (int i = 0; i < seq.length; i++) {
                seq[i] = kv.open();
                assertTrue(kv.reserve(seq[i], PROMPTS[i].length + steps));
            }
            Batch b = new Batch(m.maxBatchTokens());
            b.addChunk(seq[0], PROMPTS[0], 0, PROMPTS[0].length, 0, true);
            m.forward(b);
            assertArrayEquals(alone[0][0], Arrays.copyOf(m.logits(), m.vocabSize()));
            next[0] = argmax(m.logits(), 0, m.vocabSize());
            pos[0] = PROMPTS[0].length;
            step[0] = 1;
            boolean[] started = {true, false, false};
            while (step[0] <= steps || step[1] <= steps || step[2] <= steps) {
                b.clear();
                int[] rowOf = new int[seq.length];
                Arrays.fill(rowOf, -1);
                for (int i = 0; i < seq.length; i++) {
                    if (!started[i]) {
                        rowOf[i] = b.addChunk(seq[i], PROMPTS[i], 0, PROMPTS[i].length, 0, true);
                        pos[i] = PROMPTS[i].length;
                        started[i] = true;
                    } else if (step[i] <= steps) {
                        rowOf[i] = b.add(seq[i], next[i], pos[i]++, true);
                    }
                }
                m.forward(b);
                for (int i = 0; i < seq.length; i++) {
                    if (rowOf[i] < 0) continue;
                    float[] row = Arrays.copyOfRange(m.logits(), rowOf[i] * m.vocabSize(), (rowOf[i] + 1) * m.vocabSize());
                    assertArrayEquals(alone[i][step[i]], row, "sequence " + i + " step " + step[i] + " differs when batched");
                    next[i] = argmax(row, 0, row.length);
                    step[i]++;
                }
            }
            for (int s : seq) kv.release(s);
            assertEquals(0, kv.usedBlocks());
        }
    }

    /**
     * A prompt longer than a staged run of the panel kernels, in one step, against the same prompt in steps of
     * seven tokens: the last token's logits are the same bits (every token count takes the same sums).
     */
    @Test
    void aLongPromptChunkGivesTheLogitsOfShortOnes() throws Exception {
        for (String name : new String[]{TestModels.RANDOM_F32, TestModels.RANDOM_Q8}) {
            try (LlamaModel m = LlamaModel.load(TestModels.require(name), opts("auto"))) {
                int[] prompt = new int[100];
                for (int i = 0; i < prompt.length; i++) prompt[i] = 1 + (int) ((i * 2654435761L) % 30000);
                float[] whole = lastLogits(m, prompt, prompt.length), pieces = lastLogits(m, prompt, 7);
                assertArrayEquals(pieces, whole, name);
            }
        }
    }

    private static float[] lastLogits(LlamaModel m, int[] prompt, int chunk) {
        PagedKvCache kv = m.kvCache();
        int seq = kv.open();
        assertTrue(kv.reserve(seq, prompt.length));
        Batch b = new Batch(m.maxBatchTokens());
        for (int from = 0; from < prompt.length; from += chunk) {
            int n = Math.min(chunk, prompt.length - from);
            b.clear();
            b.addChunk(seq, prompt, from, n, from, from + n == prompt.length);
            m.forward(b);
        }
        kv.release(seq);
        return Arrays.copyOf(m.logits(), m.vocabSize());
    }

    @Test
    void vectorBackendAgreesWithScalarReference() throws Exception {
        for (String name : new String[]{TestModels.STORIES, TestModels.RANDOM_F32, TestModels.RANDOM_Q8}) {
            Path model = TestModels.require(name);
            float[][] scalar, vector;
            try (LlamaModel m = LlamaModel.load(model, opts("scalar"))) {
                assertEquals("scalar", m.backendName());
                scalar = runAlone(m, PROMPTS[0], 3);
            }
            try (LlamaModel m = LlamaModel.load(model, opts("vector"))) {
                assertTrue(m.backendName().startsWith("vector"), m.backendName());
                vector = runAlone(m, PROMPTS[0], 3);
            }
            for (int s = 0; s < scalar.length; s++) {
                double err = maxRelativeError(vector[s], scalar[s]);
                assertTrue(err < 1e-4, name + " step " + s + ": relative logit error " + err);
            }
        }
    }

    /** max |a - b| over the row, relative to the row's largest |b|. */
    static double maxRelativeError(float[] a, float[] b) {
        double maxAbs = 0, maxDiff = 0;
        for (int i = 0; i < a.length; i++) {
            maxAbs = Math.max(maxAbs, Math.abs(b[i]));
            maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
        }
        return maxDiff / maxAbs;
    }

    @Test
    void warmUpLeavesNoTraceInCacheOrResults() throws Exception {
        Path model = TestModels.require(TestModels.STORIES);
        try (LlamaModel m = LlamaModel.load(model, opts("auto"))) {
            float[][] before = runAlone(m, PROMPTS[0], 4);
            m.warmUp(java.time.Duration.ofMillis(300));
            assertEquals(0, m.kvCache().usedBlocks());
            assertEquals(0, m.kvCache().openSequences());
            float[][] after = runAlone(m, PROMPTS[0], 4);
            for (int s = 0; s < before.length; s++) assertArrayEquals(before[s], after[s]);
        }
    }

    @Test
    void kvBlocksAreCountedAndReturned() throws Exception {
        Path model = TestModels.require(TestModels.STORIES);
        EngineOptions o = opts("auto").withKvCacheTokens(64).withKvBlockSize(16); // 4 blocks
        try (LlamaModel m = LlamaModel.load(model, o)) {
            PagedKvCache kv = m.kvCache();
            assertEquals(4, kv.totalBlocks());
            int a = kv.open(), b = kv.open();
            assertTrue(kv.reserve(a, 17));            // 2 blocks
            assertEquals(2, kv.usedBlocks());
            assertFalse(kv.reserve(b, 48), "3 blocks do not fit in the 2 left");
            assertEquals(2, kv.freeBlocks(), "a failed reserve takes nothing");
            assertTrue(kv.reserve(b, 32));
            assertEquals(0, kv.freeBlocks());
            kv.release(a);
            assertEquals(2, kv.freeBlocks());
            assertThrows(IllegalArgumentException.class, () -> kv.release(a));
            kv.release(b);
            assertEquals(4, kv.freeBlocks());
        }
    }

    @Test
    void forwardRefusesPositionsWithoutReservedBlocks() throws Exception {
        Path model = TestModels.require(TestModels.STORIES);
        try (LlamaModel m = LlamaModel.load(model, opts("auto"))) {
            int seq = m.kvCache().open();
            m.kvCache().reserve(seq, 16);
            Batch b = new Batch(8);
            b.add(seq, 1, 16, true);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.forward(b));
            assertTrue(e.getMessage().contains("position 16"), e.getMessage());
            b.clear();
            b.add(seq, 100_000, 0, true);
            assertThrows(IllegalArgumentException.class, () -> m.forward(b));
        }
    }
}
