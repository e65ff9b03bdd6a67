package dev.troupe.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

class SamplerTest {

    private static float[] randomLogits(long seed, int n) {
        Random r = new Random(seed);
        float[] l = new float[n];
        for (int i = 0; i < n; i++) {
            l[i] = (float) (r.nextGaussian() * 2.0);
        }
        return l;
    }

    private static TokenHistory history(int... tokens) {
        TokenHistory h = new TokenHistory();
        h.addAll(tokens);
        return h;
    }

    // ------------------------------------------------------------------ greedy and determinism

    @Test
    void greedyIsArgmax() {
        Sampler s = new Sampler(SamplingParams.greedy(1), 6);
        assertEquals(3, s.sample(new float[] {0.1f, -2f, 1.5f, 4f, 3.9f, -9f}, 0, null));
        assertEquals(0, s.sample(new float[] {9f, -2f, 1.5f, 4f, 3.9f, -9f}, 0, new TokenHistory()));
        assertEquals(5, s.sample(new float[] {-3f, -2f, -1.5f, -4f, -3.9f, -1f}, 0, null));
    }

    @Test
    void greedyTieGoesToLowestId() {
        Sampler s = new Sampler(SamplingParams.greedy(1), 5);
        assertEquals(1, s.sample(new float[] {1f, 7f, 3f, 7f, 7f}, 0, null));
        assertEquals(0, s.sample(new float[] {2f, 2f, 2f, 2f, 2f}, 0, null));
    }

    @Test
    void greedyReadsTheRowAtOffset() {
        Sampler s = new Sampler(SamplingParams.greedy(1), 3);
        float[] batch = {9f, 0f, 0f, /* row 1 */ 0f, 0f, 5f, /* row 2 */ 0f, 4f, 1f};
        assertEquals(0, s.sample(batch, 0, null));
        assertEquals(2, s.sample(batch, 3, null));
        assertEquals(1, s.sample(batch, 6, null));
        assertThrows(IndexOutOfBoundsException.class, () -> s.sample(batch, 7, null));
        assertThrows(IndexOutOfBoundsException.class, () -> s.sample(batch, -1, null));
    }

    @Test
    void plainGreedyTakesTheSameTokenAsTheCopyingPath() {
        // Plain greedy skips the scratch copy (vectorised argmax); asking for logprobs takes the copying path.
        int vocab = 32000;
        Sampler plain = new Sampler(SamplingParams.greedy(1), vocab);
        Sampler copying = new Sampler(SamplingParams.builder().temperature(0f).topLogprobs(1).build(), vocab);
        Logprobs lp = new Logprobs();
        for (int i = 0; i < 60; i++) {
            float[] logits = randomLogits(i, vocab);
            if (i % 3 == 0) logits[31999] = logits[12345] = 50f;          // tie: lowest id
            if (i % 4 == 0) logits[i * 7] = Float.NaN;                    // NaN never wins
            if (i % 5 == 0) java.util.Arrays.fill(logits, 0, 16000, Float.NaN);
            assertEquals(copying.sample(logits, 0, null, lp), plain.sample(logits, 0, null), "row " + i);
        }
    }

    @Test
    void topKOneAtTemperatureOneEqualsGreedy() {
        int vocab = 1000;
        Sampler greedy = new Sampler(SamplingParams.greedy(1), vocab);
        Sampler topK1 = new Sampler(SamplingParams.builder().temperature(1f).topK(1).seed(5L).build(), vocab);
        for (int i = 0; i < 50; i++) {
            float[] logits = randomLogits(i, vocab);
            if (i % 5 == 0) {
                logits[17] = logits[900] = 100f; // tie: lowest id must win in both
            }
            assertEquals(greedy.sample(logits, 0, null), topK1.sample(logits, 0, null), "row " + i);
        }
    }

    @Test
    void sameSeedGivesSameSequence() {
        int[] a = draws(1234L, 200);
        int[] b = draws(1234L, 200);
        assertArrayEquals(a, b);
    }

    @Test
    void differentSeedsDiffer() {
        assertFalse(Arrays.equals(draws(1L, 200), draws(2L, 200)));
    }

    @Test
    void unseededSamplersDiffer() {
        assertFalse(Arrays.equals(draws(null, 200), draws(null, 200)));
    }

    private static int[] draws(Long seed, int count) {
        int vocab = 500;
        SamplingParams p = SamplingParams.builder().temperature(1.0f).topP(0.95f).topK(50).seed(seed)
                .repetitionPenalty(1.1f).build();
        Sampler s = new Sampler(p, vocab);
        TokenHistory h = new TokenHistory();
        int[] out = new int[count];
        for (int i = 0; i < count; i++) {
            float[] logits = randomLogits(1000 + i, vocab);
            for (int j = 0; j < vocab; j++) {
                logits[j] *= 0.3f; // flat enough to have plenty of entropy
            }
            out[i] = s.sample(logits, 0, h);
            h.add(out[i]);
        }
        return out;
    }

    @Test
    void callersLogitsAreNotModified() {
        int vocab = 2000;
        float[] logits = randomLogits(7, vocab * 2);
        logits[5] = Float.NaN;
        float[] copy = logits.clone();
        SamplingParams[] all = {
            SamplingParams.greedy(1),
            SamplingParams.builder().temperature(0.5f).seed(1L).build(),
            SamplingParams.builder().temperature(0.8f).topK(40).topP(0.9f).minP(0.05f).seed(1L)
                    .repetitionPenalty(1.3f).frequencyPenalty(0.5f).presencePenalty(0.5f).topLogprobs(5).build(),
            SamplingParams.builder().temperature(1.2f).topP(0.5f).minP(0.1f).seed(1L).build(),
        };
        TokenHistory h = history(1, 2, 3, 3, 1999, 0, 42);
        for (SamplingParams p : all) {
            Sampler s = new Sampler(p, vocab);
            Logprobs lp = new Logprobs();
            for (int i = 0; i < 20; i++) {
                s.sample(logits, vocab, h, lp);
                s.sample(logits, 0, h, lp);
            }
            assertArrayEquals(copy, logits, p.toString());
        }
    }

    @Test
    void nanLogitsAreNeverChosen() {
        float[] logits = {Float.NaN, 1f, Float.NaN, 0.5f};
        assertEquals(1, new Sampler(SamplingParams.greedy(1), 4).sample(logits, 0, null));
        Sampler s = new Sampler(SamplingParams.builder().seed(3L).build(), 4);
        for (int i = 0; i < 1000; i++) {
            int t = s.sample(logits, 0, null);
            assertTrue(t == 1 || t == 3, "drew " + t);
        }
    }

    @Test
    void maskedLogitsAreNeverDrawn() {
        float ninf = Float.NEGATIVE_INFINITY;
        float[] logits = {ninf, 0f, ninf, 0f, ninf};
        Sampler full = new Sampler(SamplingParams.builder().seed(3L).build(), 5);
        Sampler nucleus = new Sampler(SamplingParams.builder().seed(3L).topP(0.99f).build(), 5);
        int[] seen = new int[5];
        for (int i = 0; i < 2000; i++) {
            seen[full.sample(logits, 0, null)]++;
            seen[nucleus.sample(logits, 0, null)]++;
        }
        assertEquals(0, seen[0] + seen[2] + seen[4]);
        assertTrue(seen[1] > 1500 && seen[3] > 1500);
    }

    @Test
    void paramsAndArguments() {
        SamplingParams p = SamplingParams.greedy(3);
        Sampler s = new Sampler(p, 10);
        assertSame(p, s.params());
        assertEquals(10, s.vocabSize());
        assertThrows(IllegalArgumentException.class, () -> new Sampler(p, 0));
        assertThrows(IllegalArgumentException.class, () -> new Sampler(null, 10));
        assertThrows(IndexOutOfBoundsException.class, () -> s.sample(new float[9], 0, null));
    }

    // ------------------------------------------------------------------ penalties

    private static final float[] PEN_LOGITS = {2f, -2f, 1f, 0.5f, 3f};

    private static float[] penalized(SamplingParams p, float[] logits, TokenHistory h) {
        Sampler s = new Sampler(p, logits.length);
        s.sample(logits, 0, h, new Logprobs()); // asking for logprobs always fills the scratch row the hook reads
        float[] out = new float[logits.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = s.penalizedLogit(i);
        }
        return out;
    }

    @Test
    void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogits() {
        SamplingParams p = SamplingParams.builder().temperature(0f).repetitionPenalty(2f).build();
        assertArrayEquals(new float[] {1f, -4f, 1f, 0.5f, 3f}, penalized(p, PEN_LOGITS, history(0, 1, 0)));
        // occurrences do not compound: applied once per distinct token
        assertArrayEquals(new float[] {2f, -2f, 0.5f, 0.5f, 1.5f}, penalized(p, PEN_LOGITS, history(4, 4, 4, 2)));
    }

    @Test
    void repetitionPenaltyChangesTheGreedyChoice() {
        SamplingParams p = SamplingParams.builder().temperature(0f).repetitionPenalty(1.5f).build();
        Sampler s = new Sampler(p, 5);
        assertEquals(4, s.sample(PEN_LOGITS, 0, history(0, 1)));
        assertEquals(0, s.sample(PEN_LOGITS, 0, history(4))); // 3 / 1.5 = 2 ties with token 0 -> lowest id
        assertEquals(0, s.sample(PEN_LOGITS, 0, history(4, 3)));
        // a penalty below 1 encourages repetition
        Sampler encourage = new Sampler(SamplingParams.builder().temperature(0f).repetitionPenalty(0.25f).build(), 5);
        assertEquals(2, encourage.sample(PEN_LOGITS, 0, history(2))); // 1 / 0.25 = 4
    }

    @Test
    void frequencyAndPresencePenaltiesFollowOpenAi() {
        SamplingParams freq = SamplingParams.builder().temperature(0f).frequencyPenalty(0.5f).build();
        assertArrayEquals(new float[] {1f, -2.5f, 1f, 0.5f, 3f}, penalized(freq, PEN_LOGITS, history(0, 1, 0)));

        SamplingParams pres = SamplingParams.builder().temperature(0f).presencePenalty(0.25f).build();
        assertArrayEquals(new float[] {1.75f, -2.25f, 1f, 0.5f, 3f}, penalized(pres, PEN_LOGITS, history(0, 1, 0)));

        SamplingParams both = SamplingParams.builder().temperature(0f).frequencyPenalty(0.5f).presencePenalty(0.25f)
                .build();
        assertArrayEquals(new float[] {0.75f, -2.75f, 1f, 0.5f, 1.25f},
                penalized(both, PEN_LOGITS, history(0, 1, 0, 4, 4, 4)));

        SamplingParams negative = SamplingParams.builder().temperature(0f).frequencyPenalty(-1f).presencePenalty(-2f)
                .build();
        assertArrayEquals(new float[] {2f, -2f, 4f, 0.5f, 3f}, penalized(negative, PEN_LOGITS, history(2)));
    }

    @Test
    void repetitionIsAppliedBeforeFrequencyAndPresence() {
        SamplingParams p = SamplingParams.builder().temperature(0f).repetitionPenalty(2f).frequencyPenalty(0.5f)
                .presencePenalty(1f).build();
        // token 0: 2/2 - 2*0.5 - 1 = -1 ; token 1: -2*2 - 0.5 - 1 = -5.5
        assertArrayEquals(new float[] {-1f, -5.5f, 1f, 0.5f, 3f}, penalized(p, PEN_LOGITS, history(0, 1, 0)));
    }

    @Test
    void penaltyWindowCoversOnlyTheLastNTokens() {
        TokenHistory h = history(0, 0, 1, 2, 2);
        SamplingParams.Builder b = SamplingParams.builder().temperature(0f).frequencyPenalty(1f);
        assertArrayEquals(new float[] {2f, -2f, -1f, 0.5f, 3f}, penalized(b.penaltyLastN(2).build(), PEN_LOGITS, h));
        assertArrayEquals(new float[] {2f, -3f, -1f, 0.5f, 3f}, penalized(b.penaltyLastN(3).build(), PEN_LOGITS, h));
        assertArrayEquals(new float[] {0f, -3f, -1f, 0.5f, 3f}, penalized(b.penaltyLastN(-1).build(), PEN_LOGITS, h));
        assertArrayEquals(new float[] {0f, -3f, -1f, 0.5f, 3f}, penalized(b.penaltyLastN(100).build(), PEN_LOGITS, h));
        assertArrayEquals(PEN_LOGITS, penalized(b.penaltyLastN(0).build(), PEN_LOGITS, h));
    }

    @Test
    void defaultWindowIs64Tokens() {
        TokenHistory h = history(3);
        for (int i = 0; i < 64; i++) {
            h.add(4);
        }
        SamplingParams p = SamplingParams.builder().temperature(0f).presencePenalty(1f).build();
        assertArrayEquals(new float[] {2f, -2f, 1f, 0.5f, 2f}, penalized(p, PEN_LOGITS, h));
    }

    @Test
    void countsDoNotLeakBetweenCalls() {
        SamplingParams p = SamplingParams.builder().temperature(0f).frequencyPenalty(1f).build();
        Sampler s = new Sampler(p, 5);
        s.sample(PEN_LOGITS, 0, history(0, 0, 0, 1, 4));
        s.sample(PEN_LOGITS, 0, history(2));
        float[] got = new float[5];
        for (int i = 0; i < 5; i++) {
            got[i] = s.penalizedLogit(i);
        }
        assertArrayEquals(new float[] {2f, -2f, 0f, 0.5f, 3f}, got);
    }

    @Test
    void outOfRangeHistoryTokensAreIgnored() {
        SamplingParams p = SamplingParams.builder().temperature(0f).presencePenalty(1f).build();
        assertArrayEquals(new float[] {1f, -2f, 1f, 0.5f, 3f}, penalized(p, PEN_LOGITS, history(-1, 5, 70000, 0)));
    }

    // ------------------------------------------------------------------ logprobs

    private static double[] logSoftmax(float[] l) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : l) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : l) {
            sum += Math.exp(v - max);
        }
        double lse = max + Math.log(sum);
        double[] out = new double[l.length];
        for (int i = 0; i < l.length; i++) {
            out[i] = l[i] - lse;
        }
        return out;
    }

    private static Integer[] byLogitDesc(float[] l) {
        Integer[] ids = new Integer[l.length];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = i;
        }
        Arrays.sort(ids, (a, b) -> l[a] != l[b] ? Float.compare(l[b], l[a]) : Integer.compare(a, b));
        return ids;
    }

    @Test
    void logprobsAreLogSoftmaxBeforeTemperature() {
        int vocab = 300;
        for (int topN : new int[] {0, 1, 5, 20}) {
            SamplingParams p = SamplingParams.builder().temperature(0.6f).topK(10).topP(0.9f).seed(9L)
                    .topLogprobs(topN).build();
            Sampler s = new Sampler(p, vocab);
            Logprobs out = new Logprobs();
            for (int row = 0; row < 20; row++) {
                float[] logits = randomLogits(row, vocab);
                double[] ref = logSoftmax(logits);
                Integer[] order = byLogitDesc(logits);
                int tok = s.sample(logits, 0, null, out);
                assertEquals(tok, out.chosenToken());
                assertEquals(ref[tok], out.chosenLogprob(), 1e-5);
                assertEquals(topN, out.count());
                for (int i = 0; i < topN; i++) {
                    assertEquals(order[i], out.token(i), "rank " + i);
                    assertEquals(ref[order[i]], out.logprob(i), 1e-5);
                    if (i > 0) {
                        assertTrue(out.logprob(i) <= out.logprob(i - 1));
                    }
                }
            }
        }
    }

    @Test
    void logprobsSeePenalizedLogitsAndBreakTiesByLowestId() {
        float[] logits = {1f, 3f, 3f, 0f, 2f, 3f};
        SamplingParams p = SamplingParams.builder().temperature(0f).repetitionPenalty(3f).topLogprobs(4).build();
        Sampler s = new Sampler(p, logits.length);
        Logprobs out = new Logprobs();
        int tok = s.sample(logits, 0, history(2), out); // token 2: 3 -> 1
        float[] pen = {1f, 3f, 1f, 0f, 2f, 3f};
        double[] ref = logSoftmax(pen);
        assertEquals(1, tok);
        assertEquals(1, out.chosenToken());
        assertEquals(ref[1], out.chosenLogprob(), 1e-5);
        assertEquals(4, out.count());
        int[] expected = {1, 5, 4, 0};
        for (int i = 0; i < 4; i++) {
            assertEquals(expected[i], out.token(i));
            assertEquals(ref[expected[i]], out.logprob(i), 1e-5);
        }
        assertThrows(IndexOutOfBoundsException.class, () -> out.token(4));
    }

    @Test
    void topLogprobsIsCappedByVocabSize() {
        Sampler s = new Sampler(SamplingParams.builder().temperature(0f).topLogprobs(20).build(), 3);
        Logprobs out = new Logprobs();
        s.sample(new float[] {0f, 1f, 2f}, 0, null, out);
        assertEquals(3, out.count());
        assertEquals(2, out.token(0));
        assertEquals(0, out.token(2));
        double[] ref = logSoftmax(new float[] {0f, 1f, 2f});
        assertEquals(ref[0], out.logprob(2), 1e-6);
    }
}
