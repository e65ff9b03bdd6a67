package dev.troupe.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Statistical checks: empirical frequencies over many seeded draws against hand-computed distributions. */
class SamplerDistributionTest {

    private static final int DRAWS = 200_000;
    /** Absolute tolerance on frequencies; the binomial standard deviation at 200k draws is at most 0.0012. */
    private static final double TOL = 0.006;

    /** Ids in shuffled order so that sorting matters: id 1 is the best, then 3, 0, 4, 2. */
    private static final float[] LOGITS = {1f, 3f, -1f, 2f, 0f};

    private static double[] softmax(float[] logits, double temperature) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l / temperature);
        }
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) {
            p[i] = Math.exp(logits[i] / temperature - max);
            sum += p[i];
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= sum;
        }
        return p;
    }

    /** Keeps only {@code kept} tokens of {@code p} and renormalises. */
    private static double[] restrict(double[] p, int... kept) {
        double[] q = new double[p.length];
        double sum = 0;
        for (int k : kept) {
            q[k] = p[k];
            sum += p[k];
        }
        for (int i = 0; i < q.length; i++) {
            q[i] /= sum;
        }
        return q;
    }

    private static double[] frequencies(SamplingParams p, float[] logits) {
        Sampler s = new Sampler(p, logits.length);
        int[] counts = new int[logits.length];
        for (int i = 0; i < DRAWS; i++) {
            counts[s.sample(logits, 0, null)]++;
        }
        double[] f = new double[counts.length];
        for (int i = 0; i < f.length; i++) {
            f[i] = counts[i] / (double) DRAWS;
        }
        return f;
    }

    private static void assertMatches(double[] expected, double[] actual) {
        for (int i = 0; i < expected.length; i++) {
            if (expected[i] == 0) {
                assertEquals(0.0, actual[i], "token " + i + " must never be drawn; got " + Arrays.toString(actual));
            } else {
                assertEquals(expected[i], actual[i], TOL,
                        "token " + i + ": expected " + Arrays.toString(expected) + " got " + Arrays.toString(actual));
            }
        }
    }

    private static SamplingParams.Builder seeded() {
        return SamplingParams.builder().seed(20240601L);
    }

    @Test
    void temperatureOneMatchesSoftmax() {
        assertMatches(softmax(LOGITS, 1.0), frequencies(seeded().temperature(1f).build(), LOGITS));
    }

    @Test
    void temperatureHalfMatchesSharpenedSoftmax() {
        assertMatches(softmax(LOGITS, 0.5), frequencies(seeded().temperature(0.5f).build(), LOGITS));
    }

    @Test
    void temperatureOnePointFiveMatchesFlattenedSoftmax() {
        assertMatches(softmax(LOGITS, 1.5), frequencies(seeded().temperature(1.5f).build(), LOGITS));
    }

    @Test
    void topKTwoDrawsOnlyTheTopTwoInProportion() {
        // softmax over {3, 2}: e / (e + 1) = 0.7311 and 0.2689
        double[] expected = restrict(softmax(LOGITS, 1.0), 1, 3);
        assertEquals(0.7311, expected[1], 1e-4);
        assertMatches(expected, frequencies(seeded().topK(2).build(), LOGITS));
    }

    @Test
    void topKWithTemperature() {
        assertMatches(restrict(softmax(LOGITS, 0.7), 1, 3, 0),
                frequencies(seeded().temperature(0.7f).topK(3).build(), LOGITS));
    }

    @Test
    void topPKeepsSmallestPrefixReachingTheMass() {
        // probabilities: id1 .6364, id3 .2341, id0 .0861, id4 .0317, id2 .0117
        // cumulative:        .6364       .8705       .9566       .9883       1
        double[] p = softmax(LOGITS, 1.0);
        assertEquals(0.6364, p[1], 1e-4);
        assertEquals(0.2341, p[3], 1e-4);
        assertEquals(0.0861, p[0], 1e-4);
        assertMatches(restrict(p, 1), frequencies(seeded().topP(0.6f).build(), LOGITS));
        assertMatches(restrict(p, 1, 3), frequencies(seeded().topP(0.8f).build(), LOGITS));
        assertMatches(restrict(p, 1, 3, 0), frequencies(seeded().topP(0.9f).build(), LOGITS));
        assertMatches(restrict(p, 1, 3, 0, 4), frequencies(seeded().topP(0.97f).build(), LOGITS));
    }

    @Test
    void minPKeepsTokensAboveFractionOfTheBest() {
        double[] p = softmax(LOGITS, 1.0);
        // thresholds: 0.1 * .6364 = .0636 keeps {1, 3, 0}; 0.2 * .6364 = .1273 keeps {1, 3}; 0.04 -> .0255 adds 4
        assertMatches(restrict(p, 1, 3, 0), frequencies(seeded().minP(0.1f).build(), LOGITS));
        assertMatches(restrict(p, 1, 3), frequencies(seeded().minP(0.2f).build(), LOGITS));
        assertMatches(restrict(p, 1, 3, 0, 4), frequencies(seeded().minP(0.04f).build(), LOGITS));
        assertMatches(restrict(p, 1), frequencies(seeded().minP(1f).build(), LOGITS));
    }

    @Test
    void minPUsesTemperatureScaledProbabilities() {
        double[] p = softmax(LOGITS, 0.5); // .8650 .1171 .0158 ...: 0.1 * .8650 = .0865 keeps {1, 3}
        assertMatches(restrict(p, 1, 3), frequencies(seeded().temperature(0.5f).minP(0.1f).build(), LOGITS));
    }

    @Test
    void topPAndMinPTogetherKeepTheSmallerSet() {
        double[] p = softmax(LOGITS, 1.0);
        // top-p 0.9 keeps {1, 3, 0}; min-p 0.2 keeps {1, 3}
        assertMatches(restrict(p, 1, 3), frequencies(seeded().topP(0.9f).minP(0.2f).build(), LOGITS));
        // top-p 0.8 keeps {1, 3}; min-p 0.04 keeps four
        assertMatches(restrict(p, 1, 3), frequencies(seeded().topP(0.8f).minP(0.04f).build(), LOGITS));
    }

    @Test
    void topKThenTopPUsesProbabilitiesRenormalisedOverTopK() {
        // top-3 {1, 3, 0} renormalised: .6652 .2447 .0900; .6652 + .2447 = .9099 >= .88, so top-p keeps {1, 3}.
        // Over the full vocab the same two only reach .8705 < .88, so without top-k it keeps three.
        double[] p3 = restrict(softmax(LOGITS, 1.0), 1, 3, 0);
        assertEquals(0.9099, p3[1] + p3[3], 1e-4);
        assertMatches(restrict(p3, 1, 3), frequencies(seeded().topK(3).topP(0.88f).build(), LOGITS));
        assertMatches(restrict(softmax(LOGITS, 1.0), 1, 3, 0), frequencies(seeded().topP(0.88f).build(), LOGITS));
    }

    // ------------------------------------------------------------------ larger vocabularies

    /** Reference nucleus: ids sorted by logit (desc, then id), shortest prefix with mass >= topP. */
    private static boolean[] referenceNucleus(float[] logits, double temperature, int topK, double topP) {
        int n = logits.length;
        Integer[] ids = new Integer[n];
        for (int i = 0; i < n; i++) {
            ids[i] = i;
        }
        Arrays.sort(ids, (a, b) -> logits[a] != logits[b] ? Float.compare(logits[b], logits[a]) : a - b);
        int k = topK > 0 ? Math.min(topK, n) : n;
        double max = logits[ids[0]] / temperature;
        double z = 0;
        for (int j = 0; j < k; j++) {
            z += Math.exp(logits[ids[j]] / temperature - max);
        }
        boolean[] keep = new boolean[n];
        double cum = 0;
        for (int j = 0; j < k; j++) {
            keep[ids[j]] = true;
            cum += Math.exp(logits[ids[j]] / temperature - max) / z;
            if (cum >= topP) {
                break;
            }
        }
        return keep;
    }

    private static void checkAgainstReference(float[] logits, SamplingParams p, int draws) {
        boolean[] keep = referenceNucleus(logits, p.temperature(), p.topK(), p.topP());
        int expectedSize = 0;
        for (boolean b : keep) {
            expectedSize += b ? 1 : 0;
        }
        Sampler s = new Sampler(p, logits.length);
        boolean[] seen = new boolean[logits.length];
        int distinct = 0;
        for (int i = 0; i < draws; i++) {
            int t = s.sample(logits, 0, null);
            assertTrue(keep[t], () -> "token " + t + " is outside the reference nucleus");
            if (!seen[t]) {
                seen[t] = true;
                distinct++;
            }
        }
        // with enough draws every kept token shows up (kept sets are chosen small or flat here)
        assertEquals(expectedSize, distinct, "distinct tokens drawn vs reference nucleus size");
    }

    @Test
    void topPOnLargeVocabWithPeakedDistribution() {
        Random r = new Random(11);
        float[] logits = new float[5000];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) (r.nextGaussian() - 4);
        }
        logits[4999] = 6f;
        logits[17] = 5.5f;
        logits[2500] = 5f;
        logits[300] = 4.5f;
        checkAgainstReference(logits, seeded().topP(0.8f).build(), 2_000);
        checkAgainstReference(logits, seeded().topP(0.8f).temperature(0.9f).build(), 2_000);
        checkAgainstReference(logits, seeded().topP(0.8f).minP(0.01f).build(), 2_000);
    }

    @Test
    void topPOnFlatVocabFallsBackToSortingEverything() {
        // 1500 tokens with nearly equal probability (about 6.7e-4 each, below the first probe threshold)
        Random r = new Random(12);
        float[] logits = new float[1500];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) (r.nextDouble() * 0.01);
        }
        checkAgainstReference(logits, seeded().topP(0.05f).build(), 4_000);
        // nucleus of ~1350 tokens: only check that nothing outside it is drawn
        SamplingParams wide = seeded().topP(0.9f).build();
        boolean[] keep = referenceNucleus(logits, 1.0, 0, 0.9);
        Sampler s = new Sampler(wide, logits.length);
        for (int i = 0; i < 2_000; i++) {
            int t = s.sample(logits, 0, null);
            assertTrue(keep[t], "token " + t + " outside nucleus");
        }
    }

    @Test
    void largeTopKUsesQuickselect() {
        Random r = new Random(13);
        float[] logits = new float[3000];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) (r.nextGaussian() * 0.05);
        }
        SamplingParams p = seeded().topK(100).build();
        boolean[] keep = referenceNucleus(logits, 1.0, 100, 1.0);
        checkAgainstReference(logits, p, 20_000);
        assertEquals(100, countTrue(keep));
        // tie handling: all equal logits, top-k must keep the 100 lowest ids
        float[] flat = new float[3000];
        Sampler s = new Sampler(p, flat.length);
        for (int i = 0; i < 5000; i++) {
            int t = s.sample(flat, 0, null);
            assertTrue(t < 100, "drew " + t);
        }
    }

    private static int countTrue(boolean[] b) {
        int c = 0;
        for (boolean x : b) {
            c += x ? 1 : 0;
        }
        return c;
    }
}
