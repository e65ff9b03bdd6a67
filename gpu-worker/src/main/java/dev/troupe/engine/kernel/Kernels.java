package dev.troupe.engine.kernel;

import dev.troupe.engine.model.WeightMatrix;

/**
 * The compute primitives of the forward pass. One implementation per backend; the forward pass calls
 * them from several threads at once, each thread with its own {@link KernelScratch}. A matmul row
 * range starts at a multiple of {@link #rowGranularity()}.
 */
public interface Kernels {
    String name();

    /** Rows of a weight matrix that a kernel computes together; thread splits are multiples of it. */
    int rowGranularity();

    /** Called once per weight matrix at load: a backend may keep its own layout in {@link WeightMatrix#kernelData}. */
    void prepare(WeightMatrix w);

    /** Bytes of the backend's own copy of {@code w} made by {@link #prepare} (0 when it reads the file's bytes). */
    default long preparedBytes(WeightMatrix w) { return 0; }

    /**
     * For rows r in [r0, r1) and tokens t in [0, tokens):
     * {@code out[outOff + t * outStride + r] = sum_c W[r][c] * x[xOff + t * xStride + c]}.
     */
    void matmul(WeightMatrix w, float[] x, int xOff, int xStride, int tokens,
                float[] out, int outOff, int outStride, int r0, int r1, KernelScratch scratch);

    /** SwiGLU in place: gate[off + i] = silu(gate[off + i]) * up[off + i]. */
    void swiglu(float[] gate, float[] up, int off, int n);

    /** a[off + i] = exp(a[off + i] - max); returns the sum of the new values (a softmax numerator). */
    float expShiftSum(float[] a, int off, int n, float max);

    /**
     * Attention scores of one query head against one KV block whose keys are stored transposed
     * ({@code keysT[base + d * blockSize + slot]}): {@code out[outOff + slot] = sum_d q[qOff + d] * scale *
     * keysT[..]} for every slot of the block (slots past the sequence's end hold stale values; callers
     * ignore them).
     */
    void blockScores(float[] q, int qOff, float scale, float[] keysT, int base, int blockSize, int headDim, float[] out, int outOff);

    /** out[outOff + d] += sum_{s < n} p[pOff + s] * values[base + s * headDim + d], for d < headDim. */
    void blockWeightedSum(float[] p, int pOff, int n, float[] values, int base, int headDim, float[] out, int outOff);

    /** {@link #blockScores} over keys stored as IEEE half floats (raw bits), widened exactly as they are read. */
    void blockScores(float[] q, int qOff, float scale, short[] keysT, int base, int blockSize, int headDim, float[] out, int outOff);

    /** {@link #blockWeightedSum} over values stored as IEEE half floats (raw bits). */
    void blockWeightedSum(float[] p, int pOff, int n, short[] values, int base, int headDim, float[] out, int outOff);

    /** y[yOff + i] += alpha * x[xOff + i]. */
    void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n);
}
