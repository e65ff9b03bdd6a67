package dev.troupe.engine.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** {@link Argmax} on the Vector API: one pass for the maximum, then the first lane that equals it. */
final class VectorArgmax {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    private VectorArgmax() {}

    static int firstMax(float[] a, int off, int n) {
        int bound = S.loopBound(n);
        // Two accumulators halve the compare-blend dependency chain; a lane only takes a value greater than
        // it holds, so NaN never gets in.
        FloatVector m0 = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY), m1 = m0;
        int i = 0;
        for (; i + 2 * L <= bound; i += 2 * L) {
            FloatVector v0 = FloatVector.fromArray(S, a, off + i);
            FloatVector v1 = FloatVector.fromArray(S, a, off + i + L);
            m0 = m0.blend(v0, v0.compare(VectorOperators.GT, m0));
            m1 = m1.blend(v1, v1.compare(VectorOperators.GT, m1));
        }
        for (; i < bound; i += L) {
            FloatVector v = FloatVector.fromArray(S, a, off + i);
            m0 = m0.blend(v, v.compare(VectorOperators.GT, m0));
        }
        m0 = m0.blend(m1, m1.compare(VectorOperators.GT, m0));
        float max = m0.reduceLanes(VectorOperators.MAX);
        for (int j = bound; j < n; j++) {
            if (a[off + j] > max) max = a[off + j];
        }
        if (!(max > Float.NEGATIVE_INFINITY)) return 0;
        for (int j = 0; j < bound; j += L) {
            VectorMask<Float> eq = FloatVector.fromArray(S, a, off + j).compare(VectorOperators.EQ, max);
            if (eq.anyTrue()) return j + eq.firstTrue();
        }
        for (int j = bound; j < n; j++) {
            if (a[off + j] == max) return j;
        }
        throw new AssertionError("the maximum is in the range");
    }
}
