package dev.troupe.engine.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ArgmaxTest {

    /** The definition: first index of the greatest non-NaN value, 0 when nothing is above -inf. */
    private static int reference(float[] a, int off, int n) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            float v = a[off + i];
            if (Float.isNaN(v) || v == Float.NEGATIVE_INFINITY) continue;
            if (best < 0 || v > a[off + best]) best = i;
        }
        return Math.max(best, 0);
    }

    @Test
    void findsTheFirstGreatestValueAtEveryLengthAndOffset() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int n = 1; n <= 200; n++) {
            for (int trial = 0; trial < 20; trial++) {
                int off = rnd.nextInt(5);
                float[] a = new float[off + n + rnd.nextInt(3)];
                for (int i = 0; i < a.length; i++) a[i] = (float) rnd.nextGaussian();
                // Ties at the maximum, NaN and infinities in some trials.
                if (trial % 3 == 0) {
                    int p = off + rnd.nextInt(n), q = off + rnd.nextInt(n);
                    a[p] = 9f;
                    a[q] = 9f;
                }
                if (trial % 4 == 1) a[off + rnd.nextInt(n)] = Float.NaN;
                if (trial % 5 == 2) a[off + rnd.nextInt(n)] = Float.NEGATIVE_INFINITY;
                int want = reference(a, off, n);
                assertEquals(want, Argmax.firstMax(a, off, n), "n=" + n + " off=" + off);
                assertEquals(want, Argmax.scalar(a, off, n), "scalar n=" + n + " off=" + off);
                assertEquals(want, VectorArgmax.firstMax(a, off, n), "vector n=" + n + " off=" + off);
            }
        }
    }

    @Test
    void nanNeverWinsAndAnAllMissingRowGivesZero() {
        float[] a = new float[100];
        java.util.Arrays.fill(a, Float.NaN);
        assertEquals(0, Argmax.firstMax(a, 0, 100));
        a[70] = Float.NEGATIVE_INFINITY;
        assertEquals(0, Argmax.firstMax(a, 0, 100));
        a[90] = -1e30f;
        assertEquals(90, Argmax.firstMax(a, 0, 100));
        a[0] = Float.POSITIVE_INFINITY;
        assertEquals(0, Argmax.firstMax(a, 0, 100));
    }

    @Test
    void signedZerosTieToTheLowerIndex() {
        float[] a = {-1f, -0f, 0f, -0f};
        assertEquals(1, Argmax.firstMax(a, 0, 4));
        float[] b = new float[64];
        java.util.Arrays.fill(b, -3f);
        b[40] = 0f;
        b[17] = -0f;
        assertEquals(17, Argmax.firstMax(b, 0, 64));
    }
}
