package dev.troupe.engine.kernel;

import dev.troupe.engine.gguf.GgmlType;
import dev.troupe.engine.model.WeightMatrix;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The Java kernels with Q8_0 matmuls done by the native int8 kernels ({@link NativeInt8}): inputs quantized to
 * int8 per block of 32 and multiplied with integer dot products, as llama.cpp does for Q8_0. Every other type and
 * every other primitive runs on the Java kernels it wraps.
 */
public final class NativeKernels implements Kernels {
    private static final int P = NativeInt8.PANEL, BLOCK = NativeInt8.BLOCK;
    private final Kernels java;

    /** True when the native kernels load and run on this machine. */
    public static boolean usable() { return NativeInt8.available(); }

    /** Why {@link #usable()} is false, or null. */
    public static String unavailableReason() { return NativeInt8.unavailableReason(); }

    /** Wraps {@code java} (whose row granularity must divide 16) for everything but Q8_0 matmuls. */
    public NativeKernels(Kernels java) {
        if (!usable()) throw new IllegalStateException("native int8 kernels: " + unavailableReason());
        if (P % java.rowGranularity() != 0) throw new IllegalArgumentException(java.name() + " splits rows by " + java.rowGranularity());
        this.java = java;
    }

    @Override
    public String name() { return "native int8 (AVX-512 VNNI) for Q8_0, " + java.name(); }

    @Override
    public int rowGranularity() { return P; }

    /**
     * A Q8_0 matrix packed for the native kernels, 64-byte aligned: panels of 16 rows, each {@code [blocks][16]} half
     * float scales as the file has them (padded to a multiple of 64 bytes), then {@code [blocks][8][16][4]} quants
     * q + 128 as unsigned bytes (4 consecutive columns of the 16 rows per 64 bytes). Rows past the matrix's end are
     * zero and never written out.
     */
    static final class Q8Panels {
        final ByteBuffer bytes;   // keeps the memory at address alive
        final long address;
        final long panelBytes;
        final int blocks;
        final int rows;

        Q8Panels(ByteBuffer bytes, long panelBytes, int blocks, int rows) {
            this.bytes = bytes;
            this.address = NativeInt8.address(bytes);
            this.panelBytes = panelBytes;
            this.blocks = blocks;
            this.rows = rows;
        }
    }

    @Override
    public void prepare(WeightMatrix w) {
        if (w.type() == GgmlType.Q8_0) w.kernelData(packQ8(w));
        else java.prepare(w);
    }

    static Q8Panels packQ8(WeightMatrix w) {
        int rows = w.rows(), blocks = w.cols() / BLOCK, panels = (rows + P - 1) / P;
        long scaleBytes = ((long) blocks * P * 2 + 63) / 64 * 64;
        long panelBytes = scaleBytes + (long) blocks * BLOCK * P;
        if (panelBytes * panels + 64 > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("weight " + w.name() + " is too large to pack (" + panelBytes * panels + " bytes)");
        }
        ByteBuffer out = ByteBuffer.allocateDirect((int) (panelBytes * panels) + 64).alignedSlice(64).order(ByteOrder.nativeOrder());
        ByteBuffer src = w.data();
        int blockBytes = w.type().blockBytes();
        for (int r = 0; r < rows; r++) {
            int panel = (int) (r / P * panelBytes), lane = r % P, rowAt = r * w.rowBytes();
            for (int b = 0; b < blocks; b++) {
                int at = rowAt + b * blockBytes;
                out.putShort(panel + (b * P + lane) * 2, src.getShort(at));
                int quants = (int) (panel + scaleBytes + (long) b * BLOCK * P) + lane * 4;
                for (int k = 0; k < BLOCK; k++) out.put(quants + k / 4 * P * 4 + k % 4, (byte) (src.get(at + 2 + k) + 128));
            }
        }
        return new Q8Panels(out, panelBytes, blocks, rows);
    }

    @Override
    public long preparedBytes(WeightMatrix w) {
        return w.kernelData() instanceof Q8Panels ? ((Q8Panels) w.kernelData()).bytes.capacity() : java.preparedBytes(w);
    }

    @Override
    public void matmul(WeightMatrix w, float[] x, int xOff, int xStride, int tokens,
                       float[] out, int outOff, int outStride, int r0, int r1, KernelScratch scratch) {
        if (!(w.kernelData() instanceof Q8Panels)) {
            java.matmul(w, x, xOff, xStride, tokens, out, outOff, outStride, r0, r1, scratch);
            return;
        }
        Q8Panels p = (Q8Panels) w.kernelData();
        // The native side reads and writes without checks: every index it can touch is checked here.
        int cols = p.blocks * BLOCK;
        if (tokens < 1 || r0 < 0 || r0 % P != 0 || r1 > p.rows || r0 >= r1 || xOff < 0 || outOff < 0
                || xStride < cols && tokens > 1 || outStride < r1 && tokens > 1
                || (long) xOff + (long) (tokens - 1) * xStride + cols > x.length
                || (long) outOff + (long) (tokens - 1) * outStride + r1 > out.length) {
            throw new IndexOutOfBoundsException("matmul of " + w.name() + ": rows [" + r0 + ", " + r1 + ") of " + p.rows + ", " + tokens
                    + " tokens, x[" + xOff + " + t * " + xStride + "] of " + x.length + ", out[" + outOff + " + t * " + outStride + "] of " + out.length);
        }
        NativeInt8.q8Matmul(p.address, p.panelBytes, p.blocks, x, xOff, xStride, tokens, out, outOff, outStride, r0, r1);
    }

    @Override
    public void swiglu(float[] gate, float[] up, int off, int n) { java.swiglu(gate, up, off, n); }

    @Override
    public float expShiftSum(float[] a, int off, int n, float max) { return java.expShiftSum(a, off, n, max); }

    @Override
    public void blockScores(float[] q, int qOff, float scale, float[] keysT, int base, int blockSize, int headDim, float[] out, int outOff) {
        java.blockScores(q, qOff, scale, keysT, base, blockSize, headDim, out, outOff);
    }

    @Override
    public void blockWeightedSum(float[] p, int pOff, int n, float[] values, int base, int headDim, float[] out, int outOff) {
        java.blockWeightedSum(p, pOff, n, values, base, headDim, out, outOff);
    }

    @Override
    public void blockScores(float[] q, int qOff, float scale, short[] keysT, int base, int blockSize, int headDim, float[] out, int outOff) {
        java.blockScores(q, qOff, scale, keysT, base, blockSize, headDim, out, outOff);
    }

    @Override
    public void blockWeightedSum(float[] p, int pOff, int n, short[] values, int base, int headDim, float[] out, int outOff) {
        java.blockWeightedSum(p, pOff, n, values, base, headDim, out, outOff);
    }

    @Override
    public void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) { java.axpy(alpha, x, xOff, y, yOff, n); }
}
