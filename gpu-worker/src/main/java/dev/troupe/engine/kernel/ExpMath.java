package dev.troupe.engine.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * exp(x) from IEEE adds, multiplies and FMAs only, in vector loops and a scalar form that give the same
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
    /** Integer lanes of the same shape, for the exponent bits. */
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;

    private ExpMath() {}

    /** a[off, off + n) = exp(a - shift), in place (the softmax's numerators). */
    static void expShiftedInPlace(float[] a, int off, int n, float shift) {
        kernel(a, null, off, n, 1f, shift);
    }

    /** gate[off, off + n) = silu(gate) * up = gate / (1 + exp(-gate)) * up, in place (SwiGLU). */
    static void siluTimesInPlace(float[] gate, float[] up, int off, int n) {
        kernel(gate, up, off, n, -1f, 0f);
    }

    /**
     * e = exp(sign * a - shift) in every lane, then a = e (up null) or a = a / (1 + e) * up. The lanes run
     * the steps of {@link #exp(float)} written out in the loop, with every constant broadcast once before
     * it: a helper method is not reliably inlined (C2 declines once the callee is compiled large on its
     * own) and a call boxes the vectors; ops with a scalar operand ({@code v.add(1f)}) and the float-to-int
     * conversion fell back to allocating Java code inside compiled loops (~350 MB/s of garbage in SwiGLU and
     * softmax). The integer k comes from the bits of {@code x * log2e + 1.5 * 2^23} instead of a conversion,
     * and sign * a - shift is exactly -a or a - shift: the same values as the scalar form, so the same bits.
     */
    private static void kernel(float[] a, float[] up, int off, int n, float sign, float shift) {
        int i = 0;
        int bound = S.loopBound(n);
        if (bound > 0) {
            FloatVector vSign = FloatVector.broadcast(S, sign), vShift = FloatVector.broadcast(S, shift),
                    vMin = FloatVector.broadcast(S, MIN), vMax = FloatVector.broadcast(S, MAX),
                    vLog2e = FloatVector.broadcast(S, LOG2E), vRound = FloatVector.broadcast(S, ROUND),
                    c0 = FloatVector.broadcast(S, -LN2_HI), c1 = FloatVector.broadcast(S, -LN2_LO),
                    p0 = FloatVector.broadcast(S, P0), p1 = FloatVector.broadcast(S, P1), p2 = FloatVector.broadcast(S, P2),
                    p3 = FloatVector.broadcast(S, P3), p4 = FloatVector.broadcast(S, P4), p5 = FloatVector.broadcast(S, P5),
                    one = FloatVector.broadcast(S, 1f);
            IntVector bias = IntVector.broadcast(I, 127 - Float.floatToRawIntBits(ROUND)), exponentShift = IntVector.broadcast(I, 23);
            for (; i < bound; i += S.length()) {
                FloatVector g = FloatVector.fromArray(S, a, off + i);
                FloatVector x = g.mul(vSign).sub(vShift).max(vMin).min(vMax);
                FloatVector t = x.mul(vLog2e).add(vRound);
                FloatVector k = t.sub(vRound);
                FloatVector r = k.fma(c0, x);
                r = k.fma(c1, r);
                FloatVector p = p0.fma(r, p1).fma(r, p2).fma(r, p3).fma(r, p4).fma(r, p5);
                p = p.fma(r.mul(r), r).add(one);
                IntVector bits = t.reinterpretAsInts().add(bias).lanewise(VectorOperators.LSHL, exponentShift);
                FloatVector e = p.mul(bits.reinterpretAsFloats());
                if (up == null) e.intoArray(a, off + i);
                else g.div(e.add(one)).mul(FloatVector.fromArray(S, up, off + i)).intoArray(a, off + i);
            }
        }
        for (; i < n; i++) {
            float g = a[off + i];
            a[off + i] = up == null ? exp(g - shift) : g / (1f + exp(-g)) * up[off + i];
        }
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
