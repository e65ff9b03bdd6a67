package dev.troupe.engine.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class ExpMathTest {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    @Test
    void accurateAndTheVectorFormGivesTheScalarBits() {
        SplittableRandom rnd = new SplittableRandom(3);
        float[] xs = new float[F.length()];
        float[] ys = new float[F.length()];
        double worst = 0;
        for (int it = 0; it < 200_000; it++) {
            for (int i = 0; i < xs.length; i++) xs[i] = (float) (rnd.nextDouble() * 175 - 87);
            ExpMath.exp(FloatVector.fromArray(F, xs, 0)).intoArray(ys, 0);
            for (int i = 0; i < xs.length; i++) {
                assertEquals(Float.floatToIntBits(ExpMath.exp(xs[i])), Float.floatToIntBits(ys[i]), "x = " + xs[i]);
                double ref = Math.exp(xs[i]);
                worst = Math.max(worst, Math.abs(ys[i] - ref) / ref);
            }
        }
        assertTrue(worst < 5e-7, "relative error " + worst);
        assertEquals(1f, ExpMath.exp(0f));
        assertTrue(ExpMath.exp(-1000f) >= 0f && ExpMath.exp(-1000f) < 1e-37f);
        assertTrue(Float.isFinite(ExpMath.exp(1000f)));
    }
}
