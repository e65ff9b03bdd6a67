package dev.troupe.engine.kernel;

/**
 * The index of the largest value in a float range: what greedy decoding does once per sequence per step,
 * over the whole vocabulary. Vectorised where the JVM has the Vector API, else a scalar loop; both give the
 * same answer.
 */
public final class Argmax {
    private static final boolean VECTOR = vectorAvailable();

    private Argmax() {}

    /**
     * The index, relative to {@code off}, of the largest of {@code a[off, off + n)}: ties go to the lowest
     * index, NaN never wins, and 0 when no value is above negative infinity.
     */
    public static int firstMax(float[] a, int off, int n) {
        java.util.Objects.checkFromIndexSize(off, n, a.length);
        return VECTOR ? VectorArgmax.firstMax(a, off, n) : scalar(a, off, n);
    }

    static int scalar(float[] a, int off, int n) {
        int best = 0;
        float bestVal = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            float v = a[off + i];
            if (v > bestVal) { // false for NaN
                bestVal = v;
                best = i;
            }
        }
        return best;
    }

    private static boolean vectorAvailable() {
        try {
            return VectorArgmax.firstMax(new float[]{0f, 1f}, 0, 2) == 1;
        } catch (Throwable e) { // jdk.incubator.vector not added to this JVM
            return false;
        }
    }
}
