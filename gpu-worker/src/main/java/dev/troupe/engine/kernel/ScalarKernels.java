package dev.troupe.engine.kernel;

import dev.troupe.engine.gguf.Float16;

import dev.troupe.engine.model.WeightMatrix;

/** Plain-Java reference kernels: one row at a time, sequential float sums. Slow and obviously right. */
public final class ScalarKernels implements Kernels {
    @Override
    public String name() { return "scalar"; }

    @Override
    public int rowGranularity() { return 1; }

    /** Reads the mapped rows as they are. */
    @Override
    public void prepare(WeightMatrix w) {}

    @Override
    public void matmul(WeightMatrix w, float[] x, int xOff, int xStride, int tokens,
                       float[] out, int outOff, int outStride, int r0, int r1, KernelScratch scratch) {
        int cols = w.cols();
        float[] row = scratch.tile;
        for (int r = r0; r < r1; r++) {
            w.dequantizeRow(r, row, 0);
            for (int t = 0; t < tokens; t++) {
                out[outOff + t * outStride + r] = dot(row, 0, x, xOff + t * xStride, cols);
            }
        }
    }

    private static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        float sum = 0f;
        for (int i = 0; i < n; i++) sum += a[aOff + i] * b[bOff + i];
        return sum;
    }

    @Override
    public void swiglu(float[] gate, float[] up, int off, int n) {
        for (int i = off; i < off + n; i++) {
            float g = gate[i];
            gate[i] = g / (1f + (float) Math.exp(-g)) * up[i];
        }
    }

    @Override
    public float expShiftSum(float[] a, int off, int n, float max) {
        float sum = 0f;
        for (int i = off; i < off + n; i++) {
            float e = (float) Math.exp(a[i] - max);
            a[i] = e;
            sum += e;
        }
        return sum;
    }

    @Override
    public void blockScores(float[] q, int qOff, float scale, float[] keysT, int base, int blockSize, int headDim, float[] out, int outOff) {
        for (int slot = 0; slot < blockSize; slot++) {
            float sum = 0f;
            for (int d = 0; d < headDim; d++) sum += q[qOff + d] * scale * keysT[base + d * blockSize + slot];
            out[outOff + slot] = sum;
        }
    }

    @Override
    public void blockWeightedSum(float[] p, int pOff, int n, float[] values, int base, int headDim, float[] out, int outOff) {
        for (int s = 0; s < n; s++) axpy(p[pOff + s], values, base + s * headDim, out, outOff, headDim);
    }

    @Override
    public void blockScores(float[] q, int qOff, float scale, short[] keysT, int base, int blockSize, int headDim, float[] out, int outOff) {
        for (int slot = 0; slot < blockSize; slot++) {
            float sum = 0f;
            for (int d = 0; d < headDim; d++) sum += q[qOff + d] * scale * Float16.toFloat(keysT[base + d * blockSize + slot]);
            out[outOff + slot] = sum;
        }
    }

    @Override
    public void blockWeightedSum(float[] p, int pOff, int n, short[] values, int base, int headDim, float[] out, int outOff) {
        for (int s = 0; s < n; s++) {
            float a = p[pOff + s];
            for (int d = 0, v = base + s * headDim; d < headDim; d++) out[outOff + d] += a * Float16.toFloat(values[v + d]);
        }
    }

    @Override
    public void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        for (int i = 0; i < n; i++) y[yOff + i] += alpha * x[xOff + i];
    }
}
