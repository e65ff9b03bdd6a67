package dev.troupe.engine.kernel;

import dev.troupe.engine.gguf.Float16;
import dev.troupe.engine.gguf.GgmlType;
import dev.troupe.engine.gguf.GroupedCodec;
import dev.troupe.engine.model.WeightMatrix;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * SIMD kernels on the Java Vector API. At load every weight matrix is repacked once into off-heap
 * memory in panels of L rows ({@link Packed}), each weight in about the bytes the file gives it (F16 and BF16 stay
 * 16-bit, Q8_0 stays int8 + a scale); a matmul copies one panel at a time into the thread's
 * scratch and multiplies it with eight tokens at a time (8 vector accumulators), so batched steps read
 * each weight once. Off-heap, not mapped: pages of a mapped file can be evicted under memory pressure
 * (or by a VM host's proactive reclaim) and re-read from disk every step.
 */
public final class VectorKernels implements Kernels {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    /** Bytes that widen to one float vector (B2F keeps the lane count). */
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(F.vectorBitSize() / 4));
    /** Half floats that widen to one float vector, through ints of the float vector's shape. */
    private static final VectorSpecies<Short> H = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final int Q8_BLOCK = 32;
    /**
     * -0f + v is v, bit for bit. {@code MINUS_ZERO.add(acc)} hands C2 a vector of exact type where {@code acc} is a
     * loop's accumulator: it does not know an accumulator's type when it parses a call on it after the loop, and
     * unless the profile of that call site inside the Vector API is ripe (after an on-stack replacement it was not),
     * it calls through the vector's class, which boxes the vector: an allocation per call (KernelAllocationTest).
     */
    static final FloatVector MINUS_ZERO = FloatVector.broadcast(F, -0f);
    /** Loads straight from the packed panels where this JDK can (see DirectPanels), else null. */
    private static final DirectPanels DIRECT = DirectPanels.load();
    /** DIRECT, or null for an instance made to run the copying kernels (which later JDKs always run). */
    private final DirectPanels direct;
    private static final int Q8_BLOCK_BYTES = 34;

    /** True when this JVM can run these kernels at a useful width. */
    public static boolean usable() {
        return L >= 8 && L <= KernelScratch.MAX_PANEL && Q8_BLOCK % L == 0;
    }

    public VectorKernels() {
        this(true);
    }

    /** {@code directLoads = false}: always copy panels to the heap first, as on JDKs without DirectPanels (for tests). */
    VectorKernels(boolean directLoads) {
        this.direct = directLoads ? DIRECT : null;
    }

    @Override
    public String name() { return "vector(" + F.vectorBitSize() + "-bit" + (direct != null ? ", direct loads" : "") + ")"; }

    /** Panels are L rows wide: one vector of outputs. */
    @Override
    public int rowGranularity() { return L; }

    /**
     * A weight matrix repacked for SIMD, in off-heap memory: rows in panels of L; within a panel the
     * weights are column-major ({@code [col][lane]}), so a matmul broadcasts one input value and
     * multiplies it with one vector of L rows, needing no horizontal sums. F32 panels are {@code [cols][L]}
     * floats; F16 and BF16 panels are {@code [cols][L]} of their 16-bit values, widened as they are loaded (the
     * same sums as over F32 panels of the widened values); Q8_0 panels are {@code [cols/32][L]} float scales
     * followed by {@code [cols][L]} signed bytes.
     */
    static final class Packed {
        final ByteBuffer bytes;
        final FloatBuffer floats;
        final java.nio.ShortBuffer shorts;
        final boolean q8;
        /** 16-bit panels: {@link #F16} or {@link #BF16} values; 0 for the other layouts. */
        final int half;
        final int cols;
        final int blocks;        // Q8_0 blocks per row
        final long panelBytes;
        /**
         * The other quantized types ({@link GroupedCodec}): each panel is {@code [groups][L]} float scales, then
         * (with offsets) {@code [groups][L]} float offsets, then {@code [cols][L]} signed bytes; a weight is
         * scale * q (+ offset) of its group of {@code group} columns. 0 when not grouped.
         */
        final int group;
        final int groups;
        final boolean offsets;
        /** Quants of at most 16 values kept two per byte: column 2j in the low nibble, 2j + 1 in the high one. */
        final boolean nibbles;

        Packed(ByteBuffer bytes, boolean q8, int cols, long panelBytes) {
            this(bytes, q8, cols, panelBytes, 0, false, false, 0);
        }

        Packed(ByteBuffer bytes, boolean q8, int cols, long panelBytes, int group, boolean offsets, boolean nibbles) {
            this(bytes, q8, cols, panelBytes, group, offsets, nibbles, 0);
        }

        Packed(ByteBuffer bytes, boolean q8, int cols, long panelBytes, int group, boolean offsets, boolean nibbles, int half) {
            this.bytes = bytes;
            this.floats = bytes.asFloatBuffer();
            this.shorts = bytes.asShortBuffer();
            this.half = half;
            this.q8 = q8;
            this.cols = cols;
            this.blocks = cols / Q8_BLOCK;
            this.panelBytes = panelBytes;
            this.group = group;
            this.groups = group > 0 ? cols / group : 0;
            this.offsets = offsets;
            this.nibbles = nibbles;
        }

        /** Floats of scales (and offsets) at the start of each grouped panel. */
        int scaleFloats() { return groups * L * (offsets ? 2 : 1); }

        /** Bytes of quants in a grouped panel. */
        int quantBytes() { return nibbles ? cols * L / 2 : cols * L; }
    }

    /**
     * Packs a {@link GroupedCodec} type: its blocks unpacked once into small integer quants and float group
     * scales (and offsets), so that one kernel serves Q4_0..Q6_K. Quants of at most 16 values (the 4-bit and
     * 2/3-bit types) are stored as q - min, two per byte, with s * min folded into the offset: 0.5 byte per
     * weight; wider ones take a byte. Either way the inner loop widens bytes and FMAs, as for Q8_0.
     */
    private void prepareGrouped(WeightMatrix w, GroupedCodec gc) {
        int rows = w.rows(), cols = w.cols();
        int panels = (rows + L - 1) / L;
        int group = gc.groupSize(), groups = cols / group;
        boolean nib = gc.quantMax() - gc.quantMin() <= 15;
        int min = nib ? gc.quantMin() : 0;
        boolean off = gc.hasOffset() || min != 0;
        if (group % L != 0 && L % group != 0) throw new IllegalStateException("group " + group + " does not fit vectors of " + L);
        long scaleBytes = (long) groups * L * Float.BYTES * (off ? 2 : 1);
        long panelBytes = scaleBytes + (long) cols * L / (nib ? 2 : 1);
        if (panelBytes * panels > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("weight " + w.name() + " is too large to pack (" + panelBytes * panels + " bytes)");
        }
        ByteBuffer out = ByteBuffer.allocateDirect((int) (panelBytes * panels)).order(ByteOrder.nativeOrder());
        GgmlType t = w.type();
        int blockElems = t.blockSize(), blockBytes = t.blockBytes(), blockGroups = blockElems / group;
        byte[] q = new byte[cols];
        float[] sc = new float[groups], of = new float[groups];
        ByteBuffer src = w.data();
        for (int r = 0; r < rows; r++) {
            int rowAt = r * w.rowBytes();
            for (int b = 0; b < cols / blockElems; b++) gc.unpack(src, rowAt + b * blockBytes, q, b * blockElems, sc, of, b * blockGroups);
            int panel = (int) (r / L * panelBytes), lane = r % L;
            for (int g = 0; g < groups; g++) {
                out.putFloat(panel + (g * L + lane) * Float.BYTES, sc[g]);
                // s * q + o = s * (q - min) + (o + s * min)
                if (off) out.putFloat(panel + ((groups + g) * L + lane) * Float.BYTES, (gc.hasOffset() ? of[g] : 0f) + sc[g] * min);
            }
            int quants = (int) (panel + scaleBytes);
            if (nib) {
                for (int k = 0; k < cols; k += 2) out.put(quants + k / 2 * L + lane, (byte) ((q[k] - min) | (q[k + 1] - min) << 4));
            } else {
                for (int k = 0; k < cols; k++) out.put(quants + k * L + lane, q[k]);
            }
        }
        w.kernelData(new Packed(out, false, cols, panelBytes, group, off, nib));
    }

    @Override
    public long preparedBytes(WeightMatrix w) {
        return w.kernelData() instanceof Packed ? ((Packed) w.kernelData()).bytes.capacity() : 0;
    }

    static final int F16 = 1, BF16 = 2;
    /**
     * Most tokens the 16-bit panels are read in place for; more take the copy, widened once for all of them (1B F16
     * decode steps, tokens/s in place against copied: 8 streams 38-39 against 34-36, 16 streams 45-46 against
     * 49-53, 32 streams 45-53 against 66-76).
     */
    static final int HALF_DIRECT_TOKENS = 8;

    /** F16 and BF16: the file's 16-bit values moved into panels as they are, two bytes per weight. */
    private void prepareHalf(WeightMatrix w) {
        int rows = w.rows(), cols = w.cols();
        int panels = (rows + L - 1) / L;
        long panelBytes = (long) cols * L * 2;
        if (panelBytes * panels > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("weight " + w.name() + " is too large to pack (" + panelBytes * panels + " bytes)");
        }
        ByteBuffer out = ByteBuffer.allocateDirect((int) (panelBytes * panels)).order(ByteOrder.nativeOrder());
        copyHalfPanels(w, L, out);
        w.kernelData(new Packed(out, false, cols, panelBytes, 0, false, false, w.type() == GgmlType.F16 ? F16 : BF16));
    }

    /** w's 16-bit values as they are into panels of {@code lanes} rows, {@code [cols][lanes]} each (rows past the end left as they are). */
    static void copyHalfPanels(WeightMatrix w, int lanes, ByteBuffer out) {
        int rows = w.rows(), cols = w.cols();
        long panelBytes = (long) cols * lanes * 2;
        ByteBuffer src = w.data();
        for (int r = 0; r < rows; r++) {
            int panel = (int) (r / lanes * panelBytes), lane = r % lanes, rowAt = r * w.rowBytes();
            for (int k = 0; k < cols; k++) out.putShort(panel + (k * lanes + lane) * 2, src.getShort(rowAt + 2 * k));
        }
    }

    /**
     * 16-bit weights h[0, n) of panels as floats into tile[0, n) (exact): F16 as in blockScores, BF16 its bits
     * shifted up. One method with the loop inside, so no vector crosses a call the JIT may not inline (a vector
     * returned from a call that is not inlined is boxed: an allocation per vector).
     */
    private static void widenInto(short[] h, float[] tile, int n, boolean bf16) {
        for (int at = 0; at < n; at += L) {
            IntVector i = (IntVector) ShortVector.fromArray(H, h, at).convertShape(VectorOperators.S2I, I, 0);
            if (bf16) {
                ((FloatVector) i.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats()).intoArray(tile, at);
            } else {
                ((FloatVector) i.lanewise(VectorOperators.LSHL, 13).and(0x8FFFE000).reinterpretAsFloats()).mul(0x1p112f).intoArray(tile, at);
            }
        }
    }

    @Override
    public void prepare(WeightMatrix w) {
        if (w.codec() instanceof GroupedCodec && w.type() != GgmlType.Q8_0) {
            prepareGrouped(w, (GroupedCodec) w.codec());
            return;
        }
        if (w.type() == GgmlType.F16 || w.type() == GgmlType.BF16) {
            prepareHalf(w);
            return;
        }
        int rows = w.rows(), cols = w.cols();
        int panels = (rows + L - 1) / L;
        boolean q8 = w.type() == GgmlType.Q8_0;
        long panelBytes = q8 ? (long) cols / Q8_BLOCK * L * Float.BYTES + (long) cols * L : (long) cols * L * Float.BYTES;
        if (panelBytes * panels > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("weight " + w.name() + " is too large to pack (" + panelBytes * panels + " bytes)");
        }
        ByteBuffer out = ByteBuffer.allocateDirect((int) (panelBytes * panels)).order(ByteOrder.nativeOrder());
        if (q8) {
            ByteBuffer src = w.data();
            int blocks = cols / Q8_BLOCK;
            for (int r = 0; r < rows; r++) {
                int panel = (int) (r / L * panelBytes), lane = r % L;
                int quants = panel + blocks * L * Float.BYTES;
                int rowAt = r * w.rowBytes();
                for (int blk = 0; blk < blocks; blk++) {
                    int at = rowAt + blk * Q8_BLOCK_BYTES;
                    out.putFloat(panel + (blk * L + lane) * Float.BYTES, Float16.toFloat(src.getShort(at)));
                    for (int k = 0; k < Q8_BLOCK; k++) out.put(quants + (blk * Q8_BLOCK + k) * L + lane, src.get(at + 2 + k));
                }
            }
        } else {
            FloatBuffer f = out.asFloatBuffer();
            float[] row = new float[cols];
            for (int r = 0; r < rows; r++) {
                w.dequantizeRow(r, row, 0);
                int panel = (int) (r / L * panelBytes / Float.BYTES), lane = r % L;
                for (int k = 0; k < cols; k++) f.put(panel + k * L + lane, row[k]);
            }
        }
        w.kernelData(new Packed(out, q8, cols, panelBytes));
    }

    @Override
    public void matmul(WeightMatrix w, float[] x, int xOff, int xStride, int tokens,
                       float[] out, int outOff, int outStride, int r0, int r1, KernelScratch scratch) {
        Packed p = (Packed) w.kernelData();
        if (p.group > 0) {
            matmulGrouped(p, x, xOff, xStride, tokens, out, outOff, outStride, r0, r1, scratch);
            return;
        }
        if (p.half != 0) {
            // A method of its own: its kernels inlined here would crowd the JIT's budget for this one's.
            matmulHalf(p, x, xOff, xStride, tokens, out, outOff, outStride, r0, r1, scratch);
            return;
        }
        if (direct != null && tokens > 1 && tokens <= scratch.stagedCapacity()) {
            matmulStaged(p, x, xOff, xStride, tokens, out, outOff, outStride, r0, r1, scratch);
            return;
        }
        int cols = p.cols;
        int group = KernelScratch.PANELS_PER_GROUP;
        for (int r = r0; r < r1; r += group * L) {
            // Copy up to four consecutive panels: single tokens then run four independent FMA chains.
            int panels = Math.min(group, (r1 - r + L - 1) / L);
            int first = r / L;
            if (direct != null && tokens == 1 && panels == group && r + group * L <= r1) {
                // Decode-sized steps on JDK 17: read the panels where they are instead of copying them.
                int at = (int) (first * p.panelBytes);
                for (int t = 0; t < tokens; t++) {
                    int o = outOff + t * outStride + r;
                    if (p.q8) direct.q8Panels4x1(p.bytes, at, (int) p.panelBytes, p.blocks, x, xOff + t * xStride, out, o);
                    else direct.f32Panels4x1(p.bytes, at, cols, x, xOff + t * xStride, out, o);
                }
                continue;
            }
            if (p.q8) {
                for (int i = 0; i < panels; i++) {
                    int at = (int) ((first + i) * p.panelBytes);
                    p.floats.get(at / Float.BYTES, scratch.scales, i * p.blocks * L, p.blocks * L);
                    p.bytes.get(at + p.blocks * L * Float.BYTES, scratch.raw, i * cols * L, cols * L);
                }
            } else {
                p.floats.get((int) (first * p.panelBytes / Float.BYTES), scratch.tile, 0, panels * cols * L);
            }
            int t = 0;
            // Two or more tokens: eight at a time (a short group repeats its last token and drops the extras).
            for (; tokens > 1 && t < tokens; t += 8) {
                int n = Math.min(8, tokens - t);
                int[] xo = scratch.tokenOffsets;
                for (int i = 0; i < 8; i++) xo[i] = xOff + (t + Math.min(i, n - 1)) * xStride;
                for (int i = 0; i < panels; i++) {
                    int rr = r + i * L, rows = Math.min(L, r1 - rr);
                    if (p.q8) q8Panel8(scratch.raw, i * cols * L, scratch.scales, i * p.blocks * L, p.blocks, x, xo, scratch.acc);
                    else f32Panel8(scratch.tile, i * cols * L, cols, x, xo, scratch.acc);
                    for (int j = 0; j < n; j++) System.arraycopy(scratch.acc, j * L, out, outOff + (t + j) * outStride + rr, rows);
                }
            }
            for (; t < tokens; t++) {
                int o = outOff + t * outStride + r;
                if (panels == group && r + group * L <= r1) {
                    if (p.q8) q8Panels4x1(scratch.raw, scratch.scales, p.blocks, cols, x, xOff + t * xStride, out, o);
                    else f32Panels4x1(scratch.tile, cols, x, xOff + t * xStride, out, o);
                    continue;
                }
                for (int i = 0; i < panels; i++) {
                    int rows = Math.min(L, r1 - (r + i * L));
                    if (p.q8) q8Panel1(scratch.raw, i * cols * L, scratch.scales, i * p.blocks * L, p.blocks, x, xOff + t * xStride, out, o + i * L, rows, scratch.lanes);
                    else f32Panel1(scratch.tile, i * cols * L, cols, x, xOff + t * xStride, out, o + i * L, rows, scratch.lanes);
                }
            }
        }
    }

    /**
     * Two or more tokens over F32 or Q8_0 panels where they are (JDK 17's direct loads), eight tokens at a time: no
     * copy, and a panel stays in cache from one group of eight to the next. Faster than copying the panels at every
     * token count the staging holds (bench matmul, 128 tokens: Q8_0 0.54 of the FMA peak against 0.43 copied).
     */
    private void matmulStaged(Packed p, float[] x, int xOff, int xStride, int tokens,
                              float[] out, int outOff, int outStride, int r0, int r1, KernelScratch scratch) {
        int cols = p.cols;
        float[] xs = scratch.stage(x, xOff, xStride, tokens, cols);
        for (int r = r0; r < r1; r += L) {
            int rows = Math.min(L, r1 - r);
            int at = (int) (r / L * p.panelBytes);
            for (int t = 0; t < tokens; t += 8) {
                if (p.q8) direct.q8Panel8(p.bytes, at, p.blocks, xs, t * cols, scratch.acc);
                else direct.f32Panel8(p.bytes, at, cols, xs, t * cols, scratch.acc);
                for (int j = 0, n = Math.min(8, tokens - t); j < n; j++) {
                    System.arraycopy(scratch.acc, j * L, out, outOff + (t + j) * outStride + r, rows);
                }
            }
        }
    }

    /** matmul over 16-bit panels: in place where this JDK can, else widened into the tile and run as F32. */
    private void matmulHalf(Packed p, float[] x, int xOff, int xStride, int tokens,
                            float[] out, int outOff, int outStride, int r0, int r1, KernelScratch scratch) {
        int cols = p.cols;
        int group = KernelScratch.PANELS_PER_GROUP;
        for (int r = r0; r < r1; r += group * L) {
            // Copy up to four consecutive panels: single tokens then run four independent FMA chains.
            int panels = Math.min(group, (r1 - r + L - 1) / L);
            int first = r / L;
            if (direct != null && tokens == 1 && panels == group && r + group * L <= r1) {
                // Decode-sized steps on JDK 17: read the panels where they are instead of copying them.
                int at = (int) (first * p.panelBytes);
                for (int t = 0; t < tokens; t++) {
                    int o = outOff + t * outStride + r;
                    direct.h16Panels4x1(p.bytes, at, cols, p.half == BF16, x, xOff + t * xStride, out, o);
                }
                continue;
            }
            if (direct != null && tokens > 1 && tokens <= Math.min(HALF_DIRECT_TOKENS, scratch.stagedCapacity())) {
                // Small batches on JDK 17: eight tokens at a time over the panels where they are, no copy.
                float[] xs = scratch.stage(x, xOff, xStride, tokens, cols);
                for (int i = 0; i < panels; i++) {
                    int rr = r + i * L, rows = Math.min(L, r1 - rr);
                    int at = (int) ((first + i) * p.panelBytes);
                    for (int t = 0; t < tokens; t += 8) {
                        direct.h16Panel8(p.bytes, at, cols, p.half == BF16, xs, t * cols, scratch.acc);
                        for (int j = 0, n = Math.min(8, tokens - t); j < n; j++) {
                            System.arraycopy(scratch.acc, j * L, out, outOff + (t + j) * outStride + rr, rows);
                        }
                    }
                }
                continue;
            }
            {
                // 16-bit panels: copied, then widened into the tile once for all the tokens that follow.
                int n = panels * cols * L;
                p.shorts.get((int) (first * p.panelBytes / 2), scratch.halves, 0, n);
                widenInto(scratch.halves, scratch.tile, n, p.half == BF16);
            }
            int t = 0;
            // Two or more tokens: eight at a time (a short group repeats its last token and drops the extras).
            for (; tokens > 1 && t < tokens; t += 8) {
                int n = Math.min(8, tokens - t);
                int[] xo = scratch.tokenOffsets;
                for (int i = 0; i < 8; i++) xo[i] = xOff + (t + Math.min(i, n - 1)) * xStride;
                for (int i = 0; i < panels; i++) {
                    int rr = r + i * L, rows = Math.min(L, r1 - rr);
                    f32Panel8(scratch.tile, i * cols * L, cols, x, xo, scratch.acc);
                    for (int j = 0; j < n; j++) System.arraycopy(scratch.acc, j * L, out, outOff + (t + j) * outStride + rr, rows);
                }
            }
            for (; t < tokens; t++) {
                int o = outOff + t * outStride + r;
                if (panels == group && r + group * L <= r1) {
                    f32Panels4x1(scratch.tile, cols, x, xOff + t * xStride, out, o);
                    continue;
                }
                for (int i = 0; i < panels; i++) {
                    int rows = Math.min(L, r1 - (r + i * L));
                    f32Panel1(scratch.tile, i * cols * L, cols, x, xOff + t * xStride, out, o + i * L, rows, scratch.lanes);
                }
            }
        }
    }

    /**
     * The grouped types: copies up to four panels (quants and scales) into the scratch, then works on eight
     * tokens at a time, or four panels at a time for a single token, as the Q8_0 path does.
     */
    private void matmulGrouped(Packed p, float[] x, int xOff, int xStride, int tokens,
                               float[] out, int outOff, int outStride, int r0, int r1, KernelScratch scratch) {
        int cols = p.cols, groups = p.groups, gs = p.group, sf = p.scaleFloats(), qb = p.quantBytes();
        boolean nib = p.nibbles;
        int four = KernelScratch.PANELS_PER_GROUP;
        float[] sums = scratch.groupSums;
        int[] xo = scratch.tokenOffsets;
        for (int r = r0; r < r1; r += four * L) {
            int panels = Math.min(four, (r1 - r + L - 1) / L);
            int first = r / L;
            if (direct != null && tokens == 1 && panels == four && r + four * L <= r1) {
                // Decode on JDK 17: read the panels where they are (as the Q8_0 path does), no copy.
                if (p.offsets) groupSums(x, xOff, gs, groups, sums, 0);
                direct.gPanels4x1(p.bytes, (int) (first * p.panelBytes), (int) p.panelBytes, sf * Float.BYTES, p.offsets, nib, gs, groups,
                        x, xOff, sums, out, outOff + r);
                continue;
            }
            if (direct != null && tokens > 1 && tokens <= Math.min(KernelScratch.STAGED_TOKENS, scratch.stagedCapacity())) {
                float[] xs = scratch.stage(x, xOff, xStride, tokens, cols);
                for (int t = 0; t < tokens; t += 8) {
                    int n = Math.min(8, tokens - t);
                    if (p.offsets) {
                        for (int i = 0; i < 8; i++) groupSums(x, xOff + (t + Math.min(i, n - 1)) * xStride, gs, groups, sums, i * groups);
                    }
                    for (int i = 0; i < panels; i++) {
                        int rr = r + i * L, rows = Math.min(L, r1 - rr);
                        direct.gPanel8(p.bytes, (int) ((first + i) * p.panelBytes), sf * Float.BYTES, p.offsets, nib, gs, groups, xs, t * cols, sums, scratch.acc);
                        for (int j = 0; j < n; j++) System.arraycopy(scratch.acc, j * L, out, outOff + (t + j) * outStride + rr, rows);
                    }
                }
                continue;
            }
            for (int i = 0; i < panels; i++) {
                int at = (int) ((first + i) * p.panelBytes);
                p.floats.get(at / Float.BYTES, scratch.scales, i * sf, sf);
                p.bytes.get(at + sf * Float.BYTES, scratch.raw, i * qb, qb);
            }
            int t = 0;
            for (; tokens > 1 && t < tokens; t += 8) {
                int n = Math.min(8, tokens - t);
                for (int i = 0; i < 8; i++) xo[i] = xOff + (t + Math.min(i, n - 1)) * xStride;
                if (p.offsets) for (int i = 0; i < 8; i++) groupSums(x, xo[i], gs, groups, sums, i * groups);
                for (int i = 0; i < panels; i++) {
                    int rr = r + i * L, rows = Math.min(L, r1 - rr);
                    if (nib) gPanel8N(scratch.raw, i * qb, scratch.scales, i * sf, p.offsets, gs, groups, x, xo, sums, scratch.acc);
                    else gPanel8(scratch.raw, i * qb, scratch.scales, i * sf, p.offsets, gs, groups, x, xo, sums, scratch.acc);
                    for (int j = 0; j < n; j++) System.arraycopy(scratch.acc, j * L, out, outOff + (t + j) * outStride + rr, rows);
                }
            }
            for (; t < tokens; t++) {
                int x0 = xOff + t * xStride, o = outOff + t * outStride + r;
                if (p.offsets) groupSums(x, x0, gs, groups, sums, 0);
                if (panels == four && r + four * L <= r1) {
                    if (nib) gPanels4x1N(scratch.raw, scratch.scales, sf, p.offsets, gs, groups, qb, x, x0, sums, out, o);
                    else gPanels4x1(scratch.raw, scratch.scales, sf, p.offsets, gs, groups, qb, x, x0, sums, out, o);
                    continue;
                }
                for (int i = 0; i < panels; i++) {
                    int rows = Math.min(L, r1 - (r + i * L));
                    if (nib) gPanel1N(scratch.raw, i * qb, scratch.scales, i * sf, p.offsets, gs, groups, x, x0, sums, out, o + i * L, rows, scratch.lanes);
                    else gPanel1(scratch.raw, i * qb, scratch.scales, i * sf, p.offsets, gs, groups, x, x0, sums, out, o + i * L, rows, scratch.lanes);
                }
            }
        }
    }

    /** sums[s0 + g] = the sum of x[x0 + g * gs ..] over group g (what the per-group offsets multiply). */
    private static void groupSums(float[] x, int x0, int gs, int groups, float[] sums, int s0) {
        for (int g = 0; g < groups; g++) {
            float s = 0f;
            for (int k = x0 + g * gs, end = k + gs; k < end; k++) s += x[k];
            sums[s0 + g] = s;
        }
    }

    /**
     * One grouped panel times one token: per group, sum q * x unscaled, then add scale * sum and, with offsets,
     * offset * (sum of x over the group).
     */
    private static void gPanel1(byte[] raw, int q0, float[] sc, int s0, boolean off, int gs, int groups,
                                float[] x, int x0, float[] sums, float[] out, int o, int rows, float[] lanes) {
        FloatVector a = FloatVector.zero(F);
        int o0 = s0 + groups * L;
        for (int g = 0; g < groups; g++) {
            FloatVector b = FloatVector.zero(F);
            for (int k = g * gs, end = k + gs; k < end; k++) b = q8Lanes(raw, q0 + k * L).fma(FloatVector.broadcast(F, x[x0 + k]), b);
            a = b.fma(FloatVector.fromArray(F, sc, s0 + g * L), a);
            if (off) a = FloatVector.fromArray(F, sc, o0 + g * L).fma(FloatVector.broadcast(F, sums[g]), a);
        }
        store(a, out, o, rows, lanes);
    }

    /** Four full consecutive grouped panels times one token: four independent chains, each as in gPanel1. */
    private static void gPanels4x1(byte[] raw, float[] sc, int sf, boolean off, int gs, int groups, int qb,
                                   float[] x, int x0, float[] sums, float[] out, int o) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int q1 = qb, q2 = 2 * q1, q3 = 3 * q1;
        int s1 = sf, s2 = 2 * sf, s3 = 3 * sf, ob = groups * L;
        for (int g = 0; g < groups; g++) {
            FloatVector b0 = FloatVector.zero(F), b1 = b0, b2 = b0, b3 = b0;
            for (int k = g * gs, end = k + gs; k < end; k++) {
                FloatVector v = FloatVector.broadcast(F, x[x0 + k]);
                int at = k * L;
                b0 = q8Lanes(raw, at).fma(v, b0);
                b1 = q8Lanes(raw, q1 + at).fma(v, b1);
                b2 = q8Lanes(raw, q2 + at).fma(v, b2);
                b3 = q8Lanes(raw, q3 + at).fma(v, b3);
            }
            int s = g * L;
            a0 = FloatVector.fromArray(F, sc, s).fma(b0, a0);
            a1 = FloatVector.fromArray(F, sc, s1 + s).fma(b1, a1);
            a2 = FloatVector.fromArray(F, sc, s2 + s).fma(b2, a2);
            a3 = FloatVector.fromArray(F, sc, s3 + s).fma(b3, a3);
            if (off) {
                FloatVector xs = FloatVector.broadcast(F, sums[g]);
                a0 = FloatVector.fromArray(F, sc, ob + s).fma(xs, a0);
                a1 = FloatVector.fromArray(F, sc, s1 + ob + s).fma(xs, a1);
                a2 = FloatVector.fromArray(F, sc, s2 + ob + s).fma(xs, a2);
                a3 = FloatVector.fromArray(F, sc, s3 + ob + s).fma(xs, a3);
            }
        }
        MINUS_ZERO.add(a0).intoArray(out, o);
        MINUS_ZERO.add(a1).intoArray(out, o + L);
        MINUS_ZERO.add(a2).intoArray(out, o + 2 * L);
        MINUS_ZERO.add(a3).intoArray(out, o + 3 * L);
    }

    /** One grouped panel times eight tokens (inputs at x[xo[i]], group sums at sums[i * groups ..]) into acc[i * L ..]. */
    private static void gPanel8(byte[] raw, int q0, float[] sc, int s0, boolean off, int gs, int groups,
                                float[] x, int[] xo, float[] sums, float[] acc) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        int x0 = xo[0], x1 = xo[1], x2 = xo[2], x3 = xo[3], x4 = xo[4], x5 = xo[5], x6 = xo[6], x7 = xo[7];
        int o0 = s0 + groups * L;
        for (int g = 0; g < groups; g++) {
            FloatVector b0 = FloatVector.zero(F), b1 = b0, b2 = b0, b3 = b0, b4 = b0, b5 = b0, b6 = b0, b7 = b0;
            for (int k = g * gs, end = k + gs; k < end; k++) {
                FloatVector w = q8Lanes(raw, q0 + k * L);
                b0 = w.fma(FloatVector.broadcast(F, x[x0 + k]), b0);
                b1 = w.fma(FloatVector.broadcast(F, x[x1 + k]), b1);
                b2 = w.fma(FloatVector.broadcast(F, x[x2 + k]), b2);
                b3 = w.fma(FloatVector.broadcast(F, x[x3 + k]), b3);
                b4 = w.fma(FloatVector.broadcast(F, x[x4 + k]), b4);
                b5 = w.fma(FloatVector.broadcast(F, x[x5 + k]), b5);
                b6 = w.fma(FloatVector.broadcast(F, x[x6 + k]), b6);
                b7 = w.fma(FloatVector.broadcast(F, x[x7 + k]), b7);
            }
            FloatVector d = FloatVector.fromArray(F, sc, s0 + g * L);
            a0 = d.fma(b0, a0);
            a1 = d.fma(b1, a1);
            a2 = d.fma(b2, a2);
            a3 = d.fma(b3, a3);
            a4 = d.fma(b4, a4);
            a5 = d.fma(b5, a5);
            a6 = d.fma(b6, a6);
            a7 = d.fma(b7, a7);
            if (off) {
                FloatVector m = FloatVector.fromArray(F, sc, o0 + g * L);
                a0 = m.fma(FloatVector.broadcast(F, sums[g]), a0);
                a1 = m.fma(FloatVector.broadcast(F, sums[groups + g]), a1);
                a2 = m.fma(FloatVector.broadcast(F, sums[2 * groups + g]), a2);
                a3 = m.fma(FloatVector.broadcast(F, sums[3 * groups + g]), a3);
                a4 = m.fma(FloatVector.broadcast(F, sums[4 * groups + g]), a4);
                a5 = m.fma(FloatVector.broadcast(F, sums[5 * groups + g]), a5);
                a6 = m.fma(FloatVector.broadcast(F, sums[6 * groups + g]), a6);
                a7 = m.fma(FloatVector.broadcast(F, sums[7 * groups + g]), a7);
            }
        }
        a0.intoArray(acc, 0);
        a1.intoArray(acc, L);
        a2.intoArray(acc, 2 * L);
        a3.intoArray(acc, 3 * L);
        a4.intoArray(acc, 4 * L);
        a5.intoArray(acc, 5 * L);
        a6.intoArray(acc, 6 * L);
        a7.intoArray(acc, 7 * L);
    }

    private static final ByteVector LOW_NIBBLE = ByteVector.broadcast(B, (byte) 0x0F);

    // Nibble panels: column 2j is (byte & 0x0F), column 2j + 1 is ((byte >>> 4) & 0x0F), widened to floats. Written
    // out in each loop rather than in a helper: inside the 8-token kernels the JIT did not inline such a helper,
    // and a vector returned from a call that is not inlined is boxed (KernelAllocationTest caught it).

    /**
     * gPanel1 over a nibble panel (two columns per byte row). Within a group the even columns (low nibbles) are
     * summed first, then the odd ones: one widening per load keeps the 8-token loops small enough for the JIT
     * to compile without boxing. Every nibble kernel sums in this order, so batches do not change results.
     */
    private static void gPanel1N(byte[] raw, int q0, float[] sc, int s0, boolean off, int gs, int groups,
                                 float[] x, int x0, float[] sums, float[] out, int o, int rows, float[] lanes) {
        FloatVector a = FloatVector.zero(F);
        int o0 = s0 + groups * L;
        for (int g = 0; g < groups; g++) {
            FloatVector b = FloatVector.zero(F);
            int j0 = g * gs / 2, j1 = j0 + gs / 2;
            for (int j = j0; j < j1; j++) b = ((FloatVector) ByteVector.fromArray(B, raw, q0 + j * L).and(LOW_NIBBLE).convertShape(VectorOperators.B2F, F, 0)).fma(FloatVector.broadcast(F, x[x0 + 2 * j]), b);
            for (int j = j0; j < j1; j++) b = ((FloatVector) ByteVector.fromArray(B, raw, q0 + j * L).lanewise(VectorOperators.LSHR, 4).and(LOW_NIBBLE).convertShape(VectorOperators.B2F, F, 0)).fma(FloatVector.broadcast(F, x[x0 + 2 * j + 1]), b);
            a = b.fma(FloatVector.fromArray(F, sc, s0 + g * L), a);
        }
        if (off) {
            FloatVector c = FloatVector.zero(F);
            for (int g = 0; g < groups; g++) c = FloatVector.fromArray(F, sc, o0 + g * L).fma(FloatVector.broadcast(F, sums[g]), c);
            a = MINUS_ZERO.add(a).add(c);
        }
        store(a, out, o, rows, lanes);
    }

    /**
     * gPanels4x1 over nibble panels ({@code qb} quant bytes each), two panels a call and the offsets after: with four
     * in one method C2 passed its node budget before the final stores and boxed the accumulators.
     */
    private static void gPanels4x1N(byte[] raw, float[] sc, int sf, boolean off, int gs, int groups, int qb,
                                    float[] x, int x0, float[] sums, float[] out, int o) {
        gPanels2x1N(raw, 0, qb, sc, 0, sf, gs, groups, x, x0, out, o);
        gPanels2x1N(raw, 2 * qb, qb, sc, 2 * sf, sf, gs, groups, x, x0, out, o + 2 * L);
        if (off) {
            for (int i = 0; i < 4; i++) addOffsets(sc, i * sf + groups * L, groups, sums, 0, out, o + i * L);
        }
    }

    /** Two consecutive nibble panels (quants at raw[q0 ..], {@code qb} apart; scales at sc[s0 ..], {@code sf} apart) times one token, without offsets. */
    private static void gPanels2x1N(byte[] raw, int q0, int qb, float[] sc, int s0, int sf, int gs, int groups,
                                    float[] x, int x0, float[] out, int o) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        int q1 = q0 + qb, s1 = s0 + sf;
        for (int g = 0; g < groups; g++) {
            FloatVector b0 = FloatVector.zero(F), b1 = b0;
            int j0 = g * gs / 2, j1 = j0 + gs / 2;
            for (int j = j0; j < j1; j++) {
                FloatVector v = FloatVector.broadcast(F, x[x0 + 2 * j]);
                int at = j * L;
                b0 = ((FloatVector) ByteVector.fromArray(B, raw, q0 + at).and(LOW_NIBBLE).convertShape(VectorOperators.B2F, F, 0)).fma(v, b0);
                b1 = ((FloatVector) ByteVector.fromArray(B, raw, q1 + at).and(LOW_NIBBLE).convertShape(VectorOperators.B2F, F, 0)).fma(v, b1);
            }
            for (int j = j0; j < j1; j++) {
                FloatVector v = FloatVector.broadcast(F, x[x0 + 2 * j + 1]);
                int at = j * L;
                b0 = ((FloatVector) ByteVector.fromArray(B, raw, q0 + at).lanewise(VectorOperators.LSHR, 4).and(LOW_NIBBLE).convertShape(VectorOperators.B2F, F, 0)).fma(v, b0);
                b1 = ((FloatVector) ByteVector.fromArray(B, raw, q1 + at).lanewise(VectorOperators.LSHR, 4).and(LOW_NIBBLE).convertShape(VectorOperators.B2F, F, 0)).fma(v, b1);
            }
            int s = g * L;
            a0 = FloatVector.fromArray(F, sc, s0 + s).fma(b0, a0);
            a1 = FloatVector.fromArray(F, sc, s1 + s).fma(b1, a1);
        }
        MINUS_ZERO.add(a0).intoArray(out, o);
        MINUS_ZERO.add(a1).intoArray(out, o + L);
    }

    /** gPanel8 over a nibble panel. */
    private static void gPanel8N(byte[] raw, int q0, float[] sc, int s0, boolean off, int gs, int groups,
                                 float[] x, int[] xo, float[] sums, float[] acc) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        int x0 = xo[0], x1 = xo[1], x2 = xo[2], x3 = xo[3], x4 = xo[4], x5 = xo[5], x6 = xo[6], x7 = xo[7];
        int o0 = s0 + groups * L;
        for (int g = 0; g < groups; g++) {
            FloatVector b0 = FloatVector.zero(F), b1 = b0, b2 = b0, b3 = b0, b4 = b0, b5 = b0, b6 = b0, b7 = b0;
            int j0 = g * gs / 2, j1 = j0 + gs / 2;
            for (int j = j0; j < j1; j++) {
                FloatVector w = ((FloatVector) ByteVector.fromArray(B, raw, q0 + j * L).and(LOW_NIBBLE).convertShape(VectorOperators.B2F, F, 0));
                int k = 2 * j;
                b0 = w.fma(FloatVector.broadcast(F, x[x0 + k]), b0);
                b1 = w.fma(FloatVector.broadcast(F, x[x1 + k]), b1);
                b2 = w.fma(FloatVector.broadcast(F, x[x2 + k]), b2);
                b3 = w.fma(FloatVector.broadcast(F, x[x3 + k]), b3);
                b4 = w.fma(FloatVector.broadcast(F, x[x4 + k]), b4);
                b5 = w.fma(FloatVector.broadcast(F, x[x5 + k]), b5);
                b6 = w.fma(FloatVector.broadcast(F, x[x6 + k]), b6);
                b7 = w.fma(FloatVector.broadcast(F, x[x7 + k]), b7);
            }
            for (int j = j0; j < j1; j++) {
                FloatVector w = ((FloatVector) ByteVector.fromArray(B, raw, q0 + j * L).lanewise(VectorOperators.LSHR, 4).and(LOW_NIBBLE).convertShape(VectorOperators.B2F, F, 0));
                int k = 2 * j + 1;
                b0 = w.fma(FloatVector.broadcast(F, x[x0 + k]), b0);
                b1 = w.fma(FloatVector.broadcast(F, x[x1 + k]), b1);
                b2 = w.fma(FloatVector.broadcast(F, x[x2 + k]), b2);
                b3 = w.fma(FloatVector.broadcast(F, x[x3 + k]), b3);
                b4 = w.fma(FloatVector.broadcast(F, x[x4 + k]), b4);
                b5 = w.fma(FloatVector.broadcast(F, x[x5 + k]), b5);
                b6 = w.fma(FloatVector.broadcast(F, x[x6 + k]), b6);
                b7 = w.fma(FloatVector.broadcast(F, x[x7 + k]), b7);
            }
            FloatVector d = FloatVector.fromArray(F, sc, s0 + g * L);
            a0 = d.fma(b0, a0);
            a1 = d.fma(b1, a1);
            a2 = d.fma(b2, a2);
            a3 = d.fma(b3, a3);
            a4 = d.fma(b4, a4);
            a5 = d.fma(b5, a5);
            a6 = d.fma(b6, a6);
            a7 = d.fma(b7, a7);
        }
        a0.intoArray(acc, 0);
        a1.intoArray(acc, L);
        a2.intoArray(acc, 2 * L);
        a3.intoArray(acc, 3 * L);
        a4.intoArray(acc, 4 * L);
        a5.intoArray(acc, 5 * L);
        a6.intoArray(acc, 6 * L);
        a7.intoArray(acc, 7 * L);
        if (off) for (int i = 0; i < 8; i++) addOffsets(sc, o0, groups, sums, i * groups, acc, i * L);
    }

    /**
     * Adds the offset part of a nibble panel's sums to acc[a0 ..], as its own chain: the sum over groups of
     * offset * (sum of x over the group), offsets at sc[o0 + g * L], input sums at sums[s0 + g]. The nibble
     * kernels keep it out of their main loops (and sum it the same way for one token), because the 8-token
     * form with it inside is too large for the JIT to compile without boxing. A void method: a vector
     * returned from a call that is not inlined would be boxed.
     */
    static void addOffsets(float[] sc, int o0, int groups, float[] sums, int s0, float[] acc, int a0) {
        FloatVector c = FloatVector.zero(F);
        for (int g = 0; g < groups; g++) c = FloatVector.fromArray(F, sc, o0 + g * L).fma(FloatVector.broadcast(F, sums[s0 + g]), c);
        FloatVector.fromArray(F, acc, a0).add(c).intoArray(acc, a0);
    }

    /** Stores the first {@code rows} lanes (a whole vector when the panel is full). */
    private static void store(FloatVector v, float[] out, int o, int rows, float[] lanes) {
        if (rows == L) {
            MINUS_ZERO.add(v).intoArray(out, o);
        } else {
            MINUS_ZERO.add(v).intoArray(lanes, 0);
            System.arraycopy(lanes, 0, out, o, rows);
        }
    }

    /**
     * One F32 panel (L rows) times eight tokens (inputs at x[xo[i]]), into acc[i * L ..]. Every (row, token)
     * sum is the same chain of FMAs over the columns in order as in {@link #f32Panel1}, so a token's result
     * never depends on its batch.
     */
    private static void f32Panel8(float[] p, int p0, int cols, float[] x, int[] xo, float[] acc) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        int x0 = xo[0], x1 = xo[1], x2 = xo[2], x3 = xo[3], x4 = xo[4], x5 = xo[5], x6 = xo[6], x7 = xo[7];
        // One up-front check lets the JIT drop the per-load range checks of the eight input rows.
        int hi = Math.max(Math.max(Math.max(x0, x1), Math.max(x2, x3)), Math.max(Math.max(x4, x5), Math.max(x6, x7)));
        int lo = Math.min(Math.min(Math.min(x0, x1), Math.min(x2, x3)), Math.min(Math.min(x4, x5), Math.min(x6, x7)));
        if (lo < 0 || hi + cols > x.length || p0 + cols * L > p.length) throw new IndexOutOfBoundsException();
        for (int k = 0; k < cols; k++) {
            FloatVector w = FloatVector.fromArray(F, p, p0 + k * L);
            a0 = w.fma(FloatVector.broadcast(F, x[x0 + k]), a0);
            a1 = w.fma(FloatVector.broadcast(F, x[x1 + k]), a1);
            a2 = w.fma(FloatVector.broadcast(F, x[x2 + k]), a2);
            a3 = w.fma(FloatVector.broadcast(F, x[x3 + k]), a3);
            a4 = w.fma(FloatVector.broadcast(F, x[x4 + k]), a4);
            a5 = w.fma(FloatVector.broadcast(F, x[x5 + k]), a5);
            a6 = w.fma(FloatVector.broadcast(F, x[x6 + k]), a6);
            a7 = w.fma(FloatVector.broadcast(F, x[x7 + k]), a7);
        }
        MINUS_ZERO.add(a0).intoArray(acc, 0);
        MINUS_ZERO.add(a1).intoArray(acc, L);
        MINUS_ZERO.add(a2).intoArray(acc, 2 * L);
        MINUS_ZERO.add(a3).intoArray(acc, 3 * L);
        MINUS_ZERO.add(a4).intoArray(acc, 4 * L);
        MINUS_ZERO.add(a5).intoArray(acc, 5 * L);
        MINUS_ZERO.add(a6).intoArray(acc, 6 * L);
        MINUS_ZERO.add(a7).intoArray(acc, 7 * L);
    }

    private static void f32Panel1(float[] p, int p0, int cols, float[] x, int x0, float[] out, int o, int rows, float[] lanes) {
        FloatVector a = FloatVector.zero(F);
        for (int k = 0; k < cols; k++) a = FloatVector.fromArray(F, p, p0 + k * L).fma(FloatVector.broadcast(F, x[x0 + k]), a);
        store(a, out, o, rows, lanes);
    }

    /** Four full consecutive F32 panels times one token: four independent chains, each as in f32Panel1. */
    private static void f32Panels4x1(float[] p, int cols, float[] x, int x0, float[] out, int o) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int p1 = cols * L, p2 = 2 * p1, p3 = 3 * p1;
        for (int k = 0; k < cols; k++) {
            FloatVector v = FloatVector.broadcast(F, x[x0 + k]);
            int at = k * L;
            a0 = FloatVector.fromArray(F, p, at).fma(v, a0);
            a1 = FloatVector.fromArray(F, p, p1 + at).fma(v, a1);
            a2 = FloatVector.fromArray(F, p, p2 + at).fma(v, a2);
            a3 = FloatVector.fromArray(F, p, p3 + at).fma(v, a3);
        }
        MINUS_ZERO.add(a0).intoArray(out, o);
        MINUS_ZERO.add(a1).intoArray(out, o + L);
        MINUS_ZERO.add(a2).intoArray(out, o + 2 * L);
        MINUS_ZERO.add(a3).intoArray(out, o + 3 * L);
    }

    /** L quantized weights (one column of a Q8_0 panel) widened to floats, unscaled. */
    private static FloatVector q8Lanes(byte[] raw, int at) {
        return (FloatVector) ByteVector.fromArray(B, raw, at).convertShape(VectorOperators.B2F, F, 0);
    }

    /**
     * One Q8_0 panel times eight tokens (inputs at x[xo[i]]), into acc[i * L ..]: per 32-column block, sum
     * q * x unscaled, then add scale * sum, the same chain for every token as in {@link #q8Panel1}.
     */
    private static void q8Panel8(byte[] raw, int q0, float[] scales, int s0, int blocks, float[] x, int[] xo, float[] acc) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        int x0 = xo[0], x1 = xo[1], x2 = xo[2], x3 = xo[3], x4 = xo[4], x5 = xo[5], x6 = xo[6], x7 = xo[7];
        for (int blk = 0; blk < blocks; blk++) {
            FloatVector b0 = FloatVector.zero(F), b1 = b0, b2 = b0, b3 = b0, b4 = b0, b5 = b0, b6 = b0, b7 = b0;
            for (int k = blk * Q8_BLOCK, end = k + Q8_BLOCK; k < end; k++) {
                FloatVector w = q8Lanes(raw, q0 + k * L);
                b0 = w.fma(FloatVector.broadcast(F, x[x0 + k]), b0);
                b1 = w.fma(FloatVector.broadcast(F, x[x1 + k]), b1);
                b2 = w.fma(FloatVector.broadcast(F, x[x2 + k]), b2);
                b3 = w.fma(FloatVector.broadcast(F, x[x3 + k]), b3);
                b4 = w.fma(FloatVector.broadcast(F, x[x4 + k]), b4);
                b5 = w.fma(FloatVector.broadcast(F, x[x5 + k]), b5);
                b6 = w.fma(FloatVector.broadcast(F, x[x6 + k]), b6);
                b7 = w.fma(FloatVector.broadcast(F, x[x7 + k]), b7);
            }
            FloatVector d = FloatVector.fromArray(F, scales, s0 + blk * L);
            a0 = d.fma(b0, a0);
            a1 = d.fma(b1, a1);
            a2 = d.fma(b2, a2);
            a3 = d.fma(b3, a3);
            a4 = d.fma(b4, a4);
            a5 = d.fma(b5, a5);
            a6 = d.fma(b6, a6);
            a7 = d.fma(b7, a7);
        }
        a0.intoArray(acc, 0);
        a1.intoArray(acc, L);
        a2.intoArray(acc, 2 * L);
        a3.intoArray(acc, 3 * L);
        a4.intoArray(acc, 4 * L);
        a5.intoArray(acc, 5 * L);
        a6.intoArray(acc, 6 * L);
        a7.intoArray(acc, 7 * L);
    }

    private static void q8Panel1(byte[] raw, int q0, float[] scales, int s0, int blocks, float[] x, int x0, float[] out, int o, int rows, float[] lanes) {
        FloatVector a = FloatVector.zero(F);
        for (int blk = 0; blk < blocks; blk++) {
            FloatVector b = FloatVector.zero(F);
            for (int k = blk * Q8_BLOCK, end = k + Q8_BLOCK; k < end; k++) b = q8Lanes(raw, q0 + k * L).fma(FloatVector.broadcast(F, x[x0 + k]), b);
            a = b.fma(FloatVector.fromArray(F, scales, s0 + blk * L), a);
        }
        store(a, out, o, rows, lanes);
    }

    /** Four full consecutive Q8_0 panels times one token: four independent chains, each as in q8Panel1. */
    private static void q8Panels4x1(byte[] raw, float[] scales, int blocks, int cols, float[] x, int x0, float[] out, int o) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int q1 = cols * L, q2 = 2 * q1, q3 = 3 * q1;
        int s1 = blocks * L, s2 = 2 * s1, s3 = 3 * s1;
        for (int blk = 0; blk < blocks; blk++) {
            FloatVector b0 = FloatVector.zero(F), b1 = b0, b2 = b0, b3 = b0;
            for (int k = blk * Q8_BLOCK, end = k + Q8_BLOCK; k < end; k++) {
                FloatVector v = FloatVector.broadcast(F, x[x0 + k]);
                int at = k * L;
                b0 = q8Lanes(raw, at).fma(v, b0);
                b1 = q8Lanes(raw, q1 + at).fma(v, b1);
                b2 = q8Lanes(raw, q2 + at).fma(v, b2);
                b3 = q8Lanes(raw, q3 + at).fma(v, b3);
            }
            int sc = blk * L;
            a0 = FloatVector.fromArray(F, scales, sc).fma(b0, a0);
            a1 = FloatVector.fromArray(F, scales, s1 + sc).fma(b1, a1);
            a2 = FloatVector.fromArray(F, scales, s2 + sc).fma(b2, a2);
            a3 = FloatVector.fromArray(F, scales, s3 + sc).fma(b3, a3);
        }
        MINUS_ZERO.add(a0).intoArray(out, o);
        MINUS_ZERO.add(a1).intoArray(out, o + L);
        MINUS_ZERO.add(a2).intoArray(out, o + 2 * L);
        MINUS_ZERO.add(a3).intoArray(out, o + 3 * L);
    }

    @Override
    public void swiglu(float[] gate, float[] up, int off, int n) {
        ExpMath.siluTimesInPlace(gate, up, off, n);
    }

    @Override
    public float expShiftSum(float[] a, int off, int n, float max) {
        ExpMath.expShiftedInPlace(a, off, n, max);
        // A sequential sum: reduceLanes adds in a different order before and after JIT compilation,
        // and the softmax denominator must not depend on when a token ran.
        float sum = 0f;
        for (int j = off; j < off + n; j++) sum += a[j];
        return sum;
    }

    @Override
    public void blockScores(float[] q, int qOff, float scale, float[] keysT, int base, int blockSize, int headDim, float[] out, int outOff) {
        if (blockSize % L != 0) {
            for (int slot = 0; slot < blockSize; slot++) {
                float sum = 0f;
                for (int d = 0; d < headDim; d++) sum += q[qOff + d] * scale * keysT[base + d * blockSize + slot];
                out[outOff + slot] = sum;
            }
            return;
        }
        for (int s = 0; s < blockSize; s += L) {
            // two accumulators over alternating head dimensions break the FMA latency chain
            FloatVector a = FloatVector.zero(F), b = a;
            int d = 0;
            for (; d + 1 < headDim; d += 2) {
                a = FloatVector.fromArray(F, keysT, base + d * blockSize + s).fma(FloatVector.broadcast(F, q[qOff + d] * scale), a);
                b = FloatVector.fromArray(F, keysT, base + (d + 1) * blockSize + s).fma(FloatVector.broadcast(F, q[qOff + d + 1] * scale), b);
            }
            if (d < headDim) a = FloatVector.fromArray(F, keysT, base + d * blockSize + s).fma(FloatVector.broadcast(F, q[qOff + d] * scale), a);
            MINUS_ZERO.add(a).add(b).intoArray(out, outOff + s);
        }
    }

    @Override
    public void blockWeightedSum(float[] p, int pOff, int n, float[] values, int base, int headDim, float[] out, int outOff) {
        int d = 0;
        int bound = F.loopBound(headDim);
        // Three vectors of the head at once: independent FMA chains over the slots instead of one chain at
        // a time (each lane still adds its slots in order, so the sums are the same).
        for (; d + 3 * L <= bound; d += 3 * L) {
            FloatVector a0 = FloatVector.fromArray(F, out, outOff + d);
            FloatVector a1 = FloatVector.fromArray(F, out, outOff + d + L);
            FloatVector a2 = FloatVector.fromArray(F, out, outOff + d + 2 * L);
            for (int s = 0; s < n; s++) {
                FloatVector w = FloatVector.broadcast(F, p[pOff + s]);
                int v = base + s * headDim + d;
                a0 = FloatVector.fromArray(F, values, v).fma(w, a0);
                a1 = FloatVector.fromArray(F, values, v + L).fma(w, a1);
                a2 = FloatVector.fromArray(F, values, v + 2 * L).fma(w, a2);
            }
            MINUS_ZERO.add(a0).intoArray(out, outOff + d);
            MINUS_ZERO.add(a1).intoArray(out, outOff + d + L);
            MINUS_ZERO.add(a2).intoArray(out, outOff + d + 2 * L);
        }
        for (; d < bound; d += L) {
            FloatVector acc = FloatVector.fromArray(F, out, outOff + d);
            for (int s = 0; s < n; s++) acc = FloatVector.fromArray(F, values, base + s * headDim + d).fma(FloatVector.broadcast(F, p[pOff + s]), acc);
            MINUS_ZERO.add(acc).intoArray(out, outOff + d);
        }
        for (; d < headDim; d++) {
            float acc = out[outOff + d];
            for (int s = 0; s < n; s++) acc += p[pOff + s] * values[base + s * headDim + d];
            out[outOff + d] = acc;
        }
    }

    /*
     * Half floats (raw bits) are widened to floats exactly for every finite half, in the Vector API of JDK 17 (which
     * has no half-float conversion): sign-extend to int, shift left 13 and mask 0x8FFFE000, which puts the sign in
     * bit 31 and exponent + mantissa in bits 13..27 (a float with the half's fields and a bias 112 too large), then
     * one multiply by 2^112 rebiases it; zeros and subnormal halves come out right because the multiply is exact.
     */

    @Override
    public void blockScores(float[] q, int qOff, float scale, short[] keysT, int base, int blockSize, int headDim, float[] out, int outOff) {
        if (blockSize % L != 0) {
            for (int slot = 0; slot < blockSize; slot++) {
                float sum = 0f;
                for (int d = 0; d < headDim; d++) sum += q[qOff + d] * scale * Float16.toFloat(keysT[base + d * blockSize + slot]);
                out[outOff + slot] = sum;
            }
            return;
        }
        // As the F32 blockScores, each key widened as it is loaded (the conversion of halves(), written out: a vector
        // returned by a helper the JIT compiled on its own, and then did not inline, would be boxed).
        for (int s = 0; s < blockSize; s += L) {
            FloatVector a = FloatVector.zero(F), b = a;
            int d = 0;
            for (; d + 1 < headDim; d += 2) {
                a = ((FloatVector) ((IntVector) ShortVector.fromArray(H, keysT, base + d * blockSize + s).convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 13).and(0x8FFFE000).reinterpretAsFloats()).mul(0x1p112f).fma(FloatVector.broadcast(F, q[qOff + d] * scale), a);
                b = ((FloatVector) ((IntVector) ShortVector.fromArray(H, keysT, base + (d + 1) * blockSize + s).convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 13).and(0x8FFFE000).reinterpretAsFloats()).mul(0x1p112f).fma(FloatVector.broadcast(F, q[qOff + d + 1] * scale), b);
            }
            if (d < headDim) a = ((FloatVector) ((IntVector) ShortVector.fromArray(H, keysT, base + d * blockSize + s).convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 13).and(0x8FFFE000).reinterpretAsFloats()).mul(0x1p112f).fma(FloatVector.broadcast(F, q[qOff + d] * scale), a);
            MINUS_ZERO.add(a).add(b).intoArray(out, outOff + s);
        }
    }

    @Override
    public void blockWeightedSum(float[] p, int pOff, int n, short[] values, int base, int headDim, float[] out, int outOff) {
        int d = 0;
        int bound = F.loopBound(headDim);
        for (; d + 2 * L <= bound; d += 2 * L) {
            FloatVector a0 = FloatVector.fromArray(F, out, outOff + d);
            FloatVector a1 = FloatVector.fromArray(F, out, outOff + d + L);
            for (int s = 0; s < n; s++) {
                FloatVector w = FloatVector.broadcast(F, p[pOff + s]);
                int v = base + s * headDim + d;
                a0 = ((FloatVector) ((IntVector) ShortVector.fromArray(H, values, v).convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 13).and(0x8FFFE000).reinterpretAsFloats()).mul(0x1p112f).fma(w, a0);
                a1 = ((FloatVector) ((IntVector) ShortVector.fromArray(H, values, v + L).convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 13).and(0x8FFFE000).reinterpretAsFloats()).mul(0x1p112f).fma(w, a1);
            }
            MINUS_ZERO.add(a0).intoArray(out, outOff + d);
            MINUS_ZERO.add(a1).intoArray(out, outOff + d + L);
        }
        for (; d < bound; d += L) {
            FloatVector acc = FloatVector.fromArray(F, out, outOff + d);
            for (int s = 0; s < n; s++) acc = ((FloatVector) ((IntVector) ShortVector.fromArray(H, values, base + s * headDim + d).convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 13).and(0x8FFFE000).reinterpretAsFloats()).mul(0x1p112f).fma(FloatVector.broadcast(F, p[pOff + s]), acc);
            MINUS_ZERO.add(acc).intoArray(out, outOff + d);
        }
        for (; d < headDim; d++) {
            float acc = out[outOff + d];
            for (int s = 0; s < n; s++) acc += p[pOff + s] * Float16.toFloat(values[base + s * headDim + d]);
            out[outOff + d] = acc;
        }
    }

    @Override
    public void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        int i = 0;
        if (n >= L) {
            FloatVector va = FloatVector.broadcast(F, alpha);
            int bound = F.loopBound(n);
            for (; i < bound; i += L) {
                FloatVector.fromArray(F, x, xOff + i).fma(va, FloatVector.fromArray(F, y, yOff + i)).intoArray(y, yOff + i);
            }
        }
        for (; i < n; i++) y[yOff + i] += alpha * x[xOff + i];
    }
}
