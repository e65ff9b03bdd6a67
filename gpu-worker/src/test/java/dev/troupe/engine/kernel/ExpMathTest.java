package dev.troupe.engine.kernel;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class ExpMathTest {
    /** Long enough for many vector iterations and a scalar tail whatever the lane count. */
    private static final int N = 1000 + 13;

    @Test
    void theScalarFormIsAccurate() {
        SplittableRandom rnd = new SplittableRandom(3);
        double worst = 0;
        for (int it = 0; it < 2_000_000; it++) {
            float x = (float) (rnd.nextDouble() * 175 - 87);
            double ref = Math.exp(x);
            worst = Math.max(worst, Math.abs(ExpMath.exp(x) - ref) / ref);
        }
        assertTrue(worst < 5e-7, "relative error " + worst);
        assertEquals(1f, ExpMath.exp(0f));
        assertTrue(ExpMath.exp(-1000f) >= 0f && ExpMath.exp(-1000f) < 1e-37f);
        assertTrue(Float.isFinite(ExpMath.exp(1000f)));
    }

    @Test
    void theShiftedLoopGivesTheScalarBitsInEveryLaneAndTheTail() {
        SplittableRandom rnd = new SplittableRandom(5);
        float[] a = new float[N + 3];
        for (int it = 0; it < 300; it++) {
            for (int i = 0; i < a.length; i++) a[i] = (float) (rnd.nextDouble() * 200 - 100);
            float shift = (float) (rnd.nextDouble() * 20 - 10);
            float[] before = a.clone();
            ExpMath.expShiftedInPlace(a, 3, N, shift);
            for (int i = 0; i < 3; i++) assertEquals(before[i], a[i], "outside the range");
            for (int i = 3; i < a.length; i++) {
                assertEquals(Float.floatToIntBits(ExpMath.exp(before[i] - shift)), Float.floatToIntBits(a[i]), "x = " + before[i]);
            }
        }
    }

    @Test
    void theSiluLoopGivesTheScalarBitsInEveryLaneAndTheTail() {
        SplittableRandom rnd = new SplittableRandom(7);
        float[] gate = new float[N + 2], up = new float[N + 2];
        for (int it = 0; it < 300; it++) {
            for (int i = 0; i < gate.length; i++) {
                gate[i] = (float) (rnd.nextDouble() * 40 - 20);
                up[i] = (float) (rnd.nextDouble() * 4 - 2);
            }
            float[] before = gate.clone();
            ExpMath.siluTimesInPlace(gate, up, 2, N);
            for (int i = 0; i < 2; i++) assertEquals(before[i], gate[i], "outside the range");
            for (int i = 2; i < gate.length; i++) {
                float g = before[i];
                assertEquals(Float.floatToIntBits(g / (1f + ExpMath.exp(-g)) * up[i]), Float.floatToIntBits(gate[i]), "g = " + g);
            }
        }
    }
}
