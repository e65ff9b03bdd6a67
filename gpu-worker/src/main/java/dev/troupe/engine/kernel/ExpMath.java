package dev.troupe.engine.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * exp(x) from IEEE adds, multiplies and FMAs only, in a vector form and a scalar form that give the same
 * bits. The Vector API's own EXP runs a different algorithm once the JIT has compiled a method than
 * before, so a token's results would depend on when it ran; this one does not. Max relative error ~2e-7.
 */
final class ExpMath {
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    private static final float ROUND = 12582912f;        // 1.5 * 2^23: adding it rounds to an integer
    private static final float MAX = 88.3762626647949f;
    private static final float MIN = -87.3365447505531f;
    // minimax coefficients of (e^r - 1 - r) / r^2 on [-ln2/2, ln2/2]
    private static final float P0 = 1.9875691500E-4f, P1 = 1.3981999507E-3f, P2 = 8.3334519073E-3f,
            P3 = 4.1665795894E-2f, P4 = 1.6666665459E-1f, P5 = 5.0000001201E-1f;

    /** The species must be a constant for the JIT to compile vector code rather than boxed fallbacks. */
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    private ExpMath() {}

    /** exp of every lane; x must be of {@link FloatVector#SPECIES_PREFERRED}. */
    static FloatVector exp(FloatVector x) {
        x = x.max(MIN).min(MAX);
        FloatVector k = x.mul(LOG2E).add(ROUND).sub(ROUND);
        FloatVector r = k.fma(FloatVector.broadcast(S, -LN2_HI), x);
        r = k.fma(FloatVector.broadcast(S, -LN2_LO), r);
        FloatVector p = FloatVector.broadcast(S, P0);
        p = p.fma(r, FloatVector.broadcast(S, P1));
        p = p.fma(r, FloatVector.broadcast(S, P2));
        p = p.fma(r, FloatVector.broadcast(S, P3));
        p = p.fma(r, FloatVector.broadcast(S, P4));
        p = p.fma(r, FloatVector.broadcast(S, P5));
        p = p.fma(r.mul(r), r).add(1f);
        IntVector e = ((IntVector) k.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
        return p.mul(e.reinterpretAsFloats());
    }

    static float exp(float x) {
        x = Math.min(Math.max(x, MIN), MAX);
        float k = x * LOG2E + ROUND - ROUND;
        float r = Math.fma(k, -LN2_HI, x);
        r = Math.fma(k, -LN2_LO, r);
        float p = P0;
        p = Math.fma(p, r, P1);
        p = Math.fma(p, r, P2);
        p = Math.fma(p, r, P3);
        p = Math.fma(p, r, P4);
        p = Math.fma(p, r, P5);
        p = Math.fma(p, r * r, r) + 1f;
        return p * Float.intBitsToFloat(((int) k + 127) << 23);
    }
}
