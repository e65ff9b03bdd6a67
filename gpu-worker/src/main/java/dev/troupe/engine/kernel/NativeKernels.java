package dev.troupe.engine.kernel;

import dev.troupe.engine.gguf.GgmlType;
import dev.troupe.engine.gguf.IntScaledCodec;
import dev.troupe.engine.model.WeightMatrix;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The Java kernels with the matmuls of Q8_0, Q4_K, Q6_K, F16 and BF16 weights done by the native kernels
 * ({@link NativeMatmul}): for the quantized types, inputs quantized to int8 (per block of 32 for Q8_0, per super-block
 * of 256 for the K-quants) and multiplied with integer dot products, as llama.cpp does; for the 16-bit types, float
 * fma over the weights widened as they are loaded. AVX-512 (VNNI) or, without it, AVX2: the same numbers either way.
 * Every other type and every other primitive runs on the Java kernels it wraps.
 */
public final class NativeKernels implements Kernels {
    private static final int P = NativeMatmul.PANEL, BLOCK = NativeMatmul.BLOCK;
    private final Kernels java;
    private final int level;

    /** True when the native kernels load and run on this machine. */
    public static boolean usable() { return NativeMatmul.available(); }

    /** Why {@link #usable()} is false, or null. */
    public static String unavailableReason() { return NativeMatmul.unavailableReason(); }

    /** Wraps {@code java} (whose row granularity must divide 16) for everything but Q8_0, Q4_K, Q6_K, F16 and BF16 matmuls. */
    public NativeKernels(Kernels java) {
        this(java, NativeMatmul.level());
    }

    /** As {@link #NativeKernels(Kernels)}; with {@code avx2Only} the AVX2 kernels even where AVX-512 VNNI runs (the same numbers). */
    public static NativeKernels create(Kernels java, boolean avx2Only) {
        return avx2Only ? new NativeKernels(java, NativeMatmul.AVX2) : new NativeKernels(java);
    }

    /** As {@link #NativeKernels(Kernels)}, with the kernels of {@code level} (at most the CPU's: tests run each). */
    NativeKernels(Kernels java, int level) {
        if (!usable()) throw new IllegalStateException("native int8 kernels: " + unavailableReason());
        if (level < NativeMatmul.AVX2 || level > NativeMatmul.level()) throw new IllegalArgumentException("this CPU runs native kernels up to level " + NativeMatmul.level() + ", not " + level);
        if (P % java.rowGranularity() != 0) throw new IllegalArgumentException(java.name() + " splits rows by " + java.rowGranularity());
        this.java = java;
        this.level = level;
    }

    @Override
    public String name() { return "native (" + NativeMatmul.levelName(level) + ") for Q8_0, Q4_K, Q6_K, F16, BF16, " + java.name(); }

    @Override
    public int rowGranularity() { return P; }

    /**
     * A Q8_0 matrix packed for the native kernels, 64-byte aligned: panels of 16 rows, each {@code [blocks][16]} half
     * float scales as the file has them (padded to a multiple of 64 bytes), then {@code [blocks][8][16][4]} quants
     * (4 consecutive columns of the 16 rows per 64 bytes): q + 128 as unsigned bytes for the AVX-512 kernels, q as
     * signed bytes for the AVX2 ones. Rows past the matrix's end are zero and never written out.
     */
    static final class Q8Panels {
        final ByteBuffer bytes;   // keeps the memory at address alive
        final long address;
        final long panelBytes;
        final int blocks;
        final int rows;

        Q8Panels(ByteBuffer bytes, long panelBytes, int blocks, int rows) {
            this.bytes = bytes;
            this.address = NativeMatmul.address(bytes);
            this.panelBytes = panelBytes;
            this.blocks = blocks;
            this.rows = rows;
        }
    }

    /**
     * A K-quant matrix packed for the native kernels, 64-byte aligned: panels of 16 rows, each {@code superBlocks}
     * chunks of {@code chunkBytes}. A chunk starts with the 16 rows' multipliers a[16] and b[16] (floats). Q4_K (8 groups
     * of 32): scales sc[8][16] and offsets mn[4][16][2] (signed bytes), then from byte 384 the quants two per byte,
     * [8][4][16][4] bytes each holding columns 8s + j (low nibble) and 8s + 4 + j (high) of its group. Q6_K (16 groups
     * of 16): scales sc[8][16][2] (pairs of groups; its offsets are its scales), then from byte 384 per group three
     * [16][4] byte vectors: the low nibbles of columns j and 4 + j, of 8 + j and 12 + j, and the high two bits of column
     * 4s + j at bits 2s, 2s + 1: 6.75 bits a weight with the scales, against the file's 6.56. See {@link IntScaledCodec}
     * for what the numbers mean.
     */
    static final class KPanels {
        final ByteBuffer bytes;   // keeps the memory at address alive
        final long address;
        final long chunkBytes;
        final int superBlocks;
        final int groups;
        final boolean nibbles;
        final int rows;

        KPanels(ByteBuffer bytes, long chunkBytes, int superBlocks, int groups, boolean nibbles, int rows) {
            this.bytes = bytes;
            this.address = NativeMatmul.address(bytes);
            this.chunkBytes = chunkBytes;
            this.superBlocks = superBlocks;
            this.groups = groups;
            this.nibbles = nibbles;
            this.rows = rows;
        }
    }

    /**
     * An F16 or BF16 matrix packed for the native kernels, 64-byte aligned: panels of 16 rows, each {@code [cols][16]}
     * of the file's 16-bit values, two bytes a weight as in the file. Rows past the matrix's end are zero.
     */
    static final class HalfPanels {
        final ByteBuffer bytes;   // keeps the memory at address alive
        final long address;
        final boolean bf16;
        final int rows;

        HalfPanels(ByteBuffer bytes, boolean bf16, int rows) {
            this.bytes = bytes;
            this.address = NativeMatmul.address(bytes);
            this.bf16 = bf16;
            this.rows = rows;
        }
    }

    static HalfPanels packHalf(WeightMatrix w) {
        int rows = w.rows(), cols = w.cols(), panels = (rows + P - 1) / P;
        long panelBytes = (long) cols * P * 2;
        ByteBuffer out = allocate(w, panelBytes * panels);
        VectorKernels.copyHalfPanels(w, P, out);
        return new HalfPanels(out, w.type() == GgmlType.BF16, rows);
    }

    /** Native memory for w's packed panels; a matrix past one buffer's 2 GiB is refused by name. */
    private static ByteBuffer allocate(WeightMatrix w, long bytes) {
        if (bytes > Integer.MAX_VALUE) throw new IllegalArgumentException("weight " + w.name() + " is too large to pack (" + bytes + " bytes)");
        return NativeMatmul.allocate(bytes);
    }

    @Override
    public void prepare(WeightMatrix w) {
        if (w.type() == GgmlType.F16 || w.type() == GgmlType.BF16) w.kernelData(packHalf(w));
        else if (w.type() == GgmlType.Q8_0) w.kernelData(packQ8(w, level == NativeMatmul.AVX512_VNNI ? 128 : 0));
        else if (w.type() == GgmlType.Q4_K || w.type() == GgmlType.Q6_K) w.kernelData(packK(w, IntScaledCodec.of(w.type())));
        else java.prepare(w);
    }

    static Q8Panels packQ8(WeightMatrix w, int bias) {
        int rows = w.rows(), blocks = w.cols() / BLOCK, panels = (rows + P - 1) / P;
        long scaleBytes = ((long) blocks * P * 2 + 63) / 64 * 64;
        long panelBytes = scaleBytes + (long) blocks * BLOCK * P;
        ByteBuffer out = allocate(w, panelBytes * panels);
        ByteBuffer src = w.data();
        int blockBytes = w.type().blockBytes();
        for (int r = 0; r < rows; r++) {
            int panel = (int) (r / P * panelBytes), lane = r % P, rowAt = r * w.rowBytes();
            for (int b = 0; b < blocks; b++) {
                int at = rowAt + b * blockBytes;
                out.putShort(panel + (b * P + lane) * 2, src.getShort(at));
                int quants = (int) (panel + scaleBytes + (long) b * BLOCK * P) + lane * 4;
                for (int k = 0; k < BLOCK; k++) out.put(quants + k / 4 * P * 4 + k % 4, (byte) (src.get(at + 2 + k) + bias));
            }
        }
        return new Q8Panels(out, panelBytes, blocks, rows);
    }

    /** Where a chunk's quants start (after a[16], b[16] and 256 bytes of scales and offsets). */
    private static final int K_QUANTS = 384;

    static KPanels packK(WeightMatrix w, IntScaledCodec codec) {
        int rows = w.rows(), superBlocks = w.cols() / 256, panels = (rows + P - 1) / P;
        boolean q4 = w.type() == GgmlType.Q4_K;
        if (!q4 && w.type() != GgmlType.Q6_K) throw new IllegalArgumentException(w.type() + " has no native K-quant panels");
        int gs = codec.groupSize(), groups = 256 / gs;
        long chunkBytes = K_QUANTS + (q4 ? 256 * P / 2 : groups * 3 * P * 4);
        long panelBytes = chunkBytes * superBlocks;
        ByteBuffer out = allocate(w, panelBytes * panels);
        ByteBuffer src = w.data();
        int blockBytes = w.type().blockBytes();
        byte[] u = new byte[256];
        int[] sc = new int[groups], mn = new int[groups];
        float[] ab = new float[2];
        for (int r = 0; r < rows; r++) {
            int lane = r % P;
            for (int b = 0; b < superBlocks; b++) {
                codec.unpackInts(src, r * w.rowBytes() + b * blockBytes, u, 0, sc, mn, 0, ab);
                int chunk = (int) (r / P * panelBytes + b * chunkBytes);
                out.putFloat(chunk + lane * 4, ab[0]);
                out.putFloat(chunk + P * 4 + lane * 4, ab[1]);
                int scales = chunk + 2 * P * 4, quants = chunk + K_QUANTS;
                for (int g = 0; g < groups; g++) {
                    int pair = g / 2 * 2 * P + lane * 2 + g % 2;   // [g / 2][lane][g % 2]
                    if (q4) {
                        out.put(scales + g * P + lane, (byte) sc[g]);
                        out.put(scales + groups * P + pair, (byte) mn[g]);
                    } else {
                        out.put(scales + pair, (byte) sc[g]);
                    }
                    for (int j = 0; j < 4; j++) {
                        int c = g * gs + j;
                        if (q4) {
                            for (int s = 0; s < 4; s++) out.put(quants + (g * 4 + s) * P * 4 + lane * 4 + j, (byte) (u[c + 8 * s] | u[c + 8 * s + 4] << 4));
                        } else {
                            int at = quants + g * 3 * P * 4 + lane * 4 + j, high = 0;
                            out.put(at, (byte) ((u[c] & 0xF) | (u[c + 4] & 0xF) << 4));
                            out.put(at + P * 4, (byte) ((u[c + 8] & 0xF) | (u[c + 12] & 0xF) << 4));
                            for (int s = 0; s < 4; s++) high |= (u[c + 4 * s] >>> 4 & 3) << 2 * s;
                            out.put(at + 2 * P * 4, (byte) high);
                        }
                    }
                }
            }
        }
        return new KPanels(out, chunkBytes, superBlocks, groups, q4, rows);
    }

    @Override
    public long preparedBytes(WeightMatrix w) {
        Object d = w.kernelData();
        if (d instanceof Q8Panels) return ((Q8Panels) d).bytes.capacity();
        if (d instanceof KPanels) return ((KPanels) d).bytes.capacity();
        if (d instanceof HalfPanels) return ((HalfPanels) d).bytes.capacity();
        return java.preparedBytes(w);
    }

    @Override
    public void matmul(WeightMatrix w, float[] x, int xOff, int xStride, int tokens,
                       float[] out, int outOff, int outStride, int r0, int r1, KernelScratch scratch) {
        Object d = w.kernelData();
        if (d instanceof HalfPanels) {
            HalfPanels h = (HalfPanels) d;
            checkBounds(w, h.rows, x, xOff, xStride, tokens, out, outOff, outStride, r0, r1);
            NativeMatmul.h16Matmul(level, h.address, w.cols(), h.bf16, x, xOff, xStride, tokens, out, outOff, outStride, r0, r1);
            return;
        }
        boolean q8 = d instanceof Q8Panels;
        if (!q8 && !(d instanceof KPanels)) {
            java.matmul(w, x, xOff, xStride, tokens, out, outOff, outStride, r0, r1, scratch);
            return;
        }
        checkBounds(w, q8 ? ((Q8Panels) d).rows : ((KPanels) d).rows, x, xOff, xStride, tokens, out, outOff, outStride, r0, r1);
        // The team quantizes each input once (its staging). Inputs longer than the staging go a part at a time: only
        // with a staging of its own (a shared one is sized for the team's longest input, as LlamaModel does).
        int cap = scratch.stagedCapacity();
        for (int t0 = 0; t0 < tokens; t0 += cap) {
            int n = Math.min(cap, tokens - t0);
            int o = outOff + t0 * outStride;
            long in = scratch.quantized(x, xOff + t0 * xStride, xStride, n, w.cols(), q8 ? NativeMatmul.Q8_INPUT : NativeMatmul.K_INPUT, level);
            if (q8) {
                Q8Panels p = (Q8Panels) d;
                NativeMatmul.q8Matmul(level, p.address, p.panelBytes, p.blocks, in, n, out, o, outStride, r0, r1);
            } else {
                KPanels p = (KPanels) d;
                NativeMatmul.kMatmul(level, p.address, p.chunkBytes, p.superBlocks, p.groups, p.nibbles, in, n, out, o, outStride, r0, r1);
            }
        }
    }

    /** The native side reads and writes without checks: every index it can touch is checked here. */
    private static void checkBounds(WeightMatrix w, int rows, float[] x, int xOff, int xStride, int tokens,
                                    float[] out, int outOff, int outStride, int r0, int r1) {
        int cols = w.cols();
        if (tokens < 1 || r0 < 0 || r0 % P != 0 || r1 > rows || r0 >= r1 || xOff < 0 || outOff < 0
                || xStride < cols && tokens > 1 || outStride < r1 && tokens > 1
                || (long) xOff + (long) (tokens - 1) * xStride + cols > x.length
                || (long) outOff + (long) (tokens - 1) * outStride + r1 > out.length) {
            throw new IndexOutOfBoundsException("matmul of " + w.name() + ": rows [" + r0 + ", " + r1 + ") of " + rows + ", " + tokens
                    + " tokens, x[" + xOff + " + t * " + xStride + "] of " + x.length + ", out[" + outOff + " + t * " + outStride + "] of " + out.length);
        }
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
