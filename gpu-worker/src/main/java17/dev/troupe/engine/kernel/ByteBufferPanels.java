package dev.troupe.engine.kernel;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * JDK 17-18 only (compiled by the jdk17 profile): Vector API loads straight from the panel buffer.
 * Three rules keep these kernels from allocating once compiled (KernelAllocationTest runs each kernel both ways C2
 * may compile it): no vector crosses a call (one passed to or returned from a method the JIT does not inline is
 * boxed), so each kernel stores its own accumulators; an accumulator is stored through an exact-typed receiver
 * (VectorKernels.MINUS_ZERO); and a method stays small, because C2 stops inlining once its node count passes a
 * cutoff, and the Vector API calls it leaves behind box their vectors (the 8-token kernels sit close to it, so
 * they store their accumulators directly).
 */
final class ByteBufferPanels implements DirectPanels {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(F.vectorBitSize() / 4));
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final VectorSpecies<Short> H = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final int Q8_BLOCK = 32;
    /** See VectorKernels.MINUS_ZERO: stores and adds on a loop's accumulators go through it. */
    private static final FloatVector MINUS_ZERO = VectorKernels.MINUS_ZERO;

    @Override
    public void f32Panels4x1(ByteBuffer p, int at, int cols, float[] x, int x0, float[] out, int o) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int p1 = cols * L * 4, p2 = 2 * p1, p3 = 3 * p1;
        for (int k = 0; k < cols; k++) {
            FloatVector v = FloatVector.broadcast(F, x[x0 + k]);
            int b = at + k * L * 4;
            a0 = FloatVector.fromByteBuffer(F, p, b, NATIVE).fma(v, a0);
            a1 = FloatVector.fromByteBuffer(F, p, p1 + b, NATIVE).fma(v, a1);
            a2 = FloatVector.fromByteBuffer(F, p, p2 + b, NATIVE).fma(v, a2);
            a3 = FloatVector.fromByteBuffer(F, p, p3 + b, NATIVE).fma(v, a3);
        }
        MINUS_ZERO.add(a0).intoArray(out, o);
        MINUS_ZERO.add(a1).intoArray(out, o + L);
        MINUS_ZERO.add(a2).intoArray(out, o + 2 * L);
        MINUS_ZERO.add(a3).intoArray(out, o + 3 * L);
    }

    @Override
    public void q8Panels4x1(ByteBuffer p, int at, int panelBytes, int blocks, float[] x, int x0, float[] out, int o) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int quants = at + blocks * L * 4;
        int q1 = panelBytes, q2 = 2 * panelBytes, q3 = 3 * panelBytes;
        for (int blk = 0; blk < blocks; blk++) {
            FloatVector b0 = FloatVector.zero(F), b1 = b0, b2 = b0, b3 = b0;
            for (int k = blk * Q8_BLOCK, end = k + Q8_BLOCK; k < end; k++) {
                FloatVector v = FloatVector.broadcast(F, x[x0 + k]);
                int q = quants + k * L;
                b0 = ((FloatVector) ByteVector.fromByteBuffer(B, p, q, NATIVE).convertShape(VectorOperators.B2F, F, 0)).fma(v, b0);
                b1 = ((FloatVector) ByteVector.fromByteBuffer(B, p, q1 + q, NATIVE).convertShape(VectorOperators.B2F, F, 0)).fma(v, b1);
                b2 = ((FloatVector) ByteVector.fromByteBuffer(B, p, q2 + q, NATIVE).convertShape(VectorOperators.B2F, F, 0)).fma(v, b2);
                b3 = ((FloatVector) ByteVector.fromByteBuffer(B, p, q3 + q, NATIVE).convertShape(VectorOperators.B2F, F, 0)).fma(v, b3);
            }
            int s = at + blk * L * 4;
            a0 = FloatVector.fromByteBuffer(F, p, s, NATIVE).fma(b0, a0);
            a1 = FloatVector.fromByteBuffer(F, p, q1 + s, NATIVE).fma(b1, a1);
            a2 = FloatVector.fromByteBuffer(F, p, q2 + s, NATIVE).fma(b2, a2);
            a3 = FloatVector.fromByteBuffer(F, p, q3 + s, NATIVE).fma(b3, a3);
        }
        MINUS_ZERO.add(a0).intoArray(out, o);
        MINUS_ZERO.add(a1).intoArray(out, o + L);
        MINUS_ZERO.add(a2).intoArray(out, o + 2 * L);
        MINUS_ZERO.add(a3).intoArray(out, o + 3 * L);
    }

    /*
     * 16-bit weights are widened by one formula for both types, its constants chosen per call: F16 is sign-extended,
     * shifted left 13, masked with 0x8FFFE000 and multiplied by 2^112 (exact, see VectorKernels.blockScores); BF16 is
     * shifted left 16 (the mask keeps every bit, the multiply by 1 is exact). One formula, not a branch per weight:
     * a branch made each widened weight a merge of two vectors whose type C2 did not know, and once both types had
     * run in one JVM the kernel boxed them.
     */

    @Override
    public void h16Panels4x1(ByteBuffer p, int at, int cols, boolean bf16, float[] x, int x0, float[] out, int o) {
        IntVector shift = IntVector.broadcast(I, bf16 ? 16 : 13), mask = IntVector.broadcast(I, bf16 ? 0xFFFF0000 : 0x8FFFE000);
        FloatVector scale = FloatVector.broadcast(F, bf16 ? 1f : 0x1p112f);
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int p1 = cols * L * 2, p2 = 2 * p1, p3 = 3 * p1;
        for (int k = 0; k < cols; k++) {
            FloatVector v = FloatVector.broadcast(F, x[x0 + k]);
            int b = at + k * L * 2;
            a0 = ((FloatVector) ((IntVector) ShortVector.fromByteBuffer(H, p, b, NATIVE).convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, shift).and(mask).reinterpretAsFloats()).mul(scale).fma(v, a0);
            a1 = ((FloatVector) ((IntVector) ShortVector.fromByteBuffer(H, p, p1 + b, NATIVE).convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, shift).and(mask).reinterpretAsFloats()).mul(scale).fma(v, a1);
            a2 = ((FloatVector) ((IntVector) ShortVector.fromByteBuffer(H, p, p2 + b, NATIVE).convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, shift).and(mask).reinterpretAsFloats()).mul(scale).fma(v, a2);
            a3 = ((FloatVector) ((IntVector) ShortVector.fromByteBuffer(H, p, p3 + b, NATIVE).convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, shift).and(mask).reinterpretAsFloats()).mul(scale).fma(v, a3);
        }
        MINUS_ZERO.add(a0).intoArray(out, o);
        MINUS_ZERO.add(a1).intoArray(out, o + L);
        MINUS_ZERO.add(a2).intoArray(out, o + 2 * L);
        MINUS_ZERO.add(a3).intoArray(out, o + 3 * L);
    }

    @Override
    public void h16Panel8(ByteBuffer p, int at, int cols, boolean bf16, float[] xs, int xsOff, float[] acc) {
        IntVector shift = IntVector.broadcast(I, bf16 ? 16 : 13), mask = IntVector.broadcast(I, bf16 ? 0xFFFF0000 : 0x8FFFE000);
        FloatVector scale = FloatVector.broadcast(F, bf16 ? 1f : 0x1p112f);
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        if (xsOff < 0 || xsOff + cols * 8 > xs.length) throw new IndexOutOfBoundsException();
        for (int k = 0; k < cols; k++) {
            FloatVector w = ((FloatVector) ((IntVector) ShortVector.fromByteBuffer(H, p, at + k * L * 2, NATIVE).convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, shift).and(mask).reinterpretAsFloats()).mul(scale);
            int x = xsOff + k * 8;
            a0 = w.fma(FloatVector.broadcast(F, xs[x]), a0);
            a1 = w.fma(FloatVector.broadcast(F, xs[x + 1]), a1);
            a2 = w.fma(FloatVector.broadcast(F, xs[x + 2]), a2);
            a3 = w.fma(FloatVector.broadcast(F, xs[x + 3]), a3);
            a4 = w.fma(FloatVector.broadcast(F, xs[x + 4]), a4);
            a5 = w.fma(FloatVector.broadcast(F, xs[x + 5]), a5);
            a6 = w.fma(FloatVector.broadcast(F, xs[x + 6]), a6);
            a7 = w.fma(FloatVector.broadcast(F, xs[x + 7]), a7);
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

    @Override
    public void f32Panel8(ByteBuffer p, int at, int cols, float[] xs, int xsOff, float[] acc) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        if (xsOff < 0 || xsOff + cols * 8 > xs.length) throw new IndexOutOfBoundsException();
        for (int k = 0; k < cols; k++) {
            FloatVector w = FloatVector.fromByteBuffer(F, p, at + k * L * 4, NATIVE);
            int x = xsOff + k * 8;
            a0 = w.fma(FloatVector.broadcast(F, xs[x]), a0);
            a1 = w.fma(FloatVector.broadcast(F, xs[x + 1]), a1);
            a2 = w.fma(FloatVector.broadcast(F, xs[x + 2]), a2);
            a3 = w.fma(FloatVector.broadcast(F, xs[x + 3]), a3);
            a4 = w.fma(FloatVector.broadcast(F, xs[x + 4]), a4);
            a5 = w.fma(FloatVector.broadcast(F, xs[x + 5]), a5);
            a6 = w.fma(FloatVector.broadcast(F, xs[x + 6]), a6);
            a7 = w.fma(FloatVector.broadcast(F, xs[x + 7]), a7);
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

    /** L quantized weights (one column of a Q8_0 panel) at byte offset {@code at}, widened to floats, unscaled. */
    private static FloatVector q8(ByteBuffer p, int at) {
        return (FloatVector) ByteVector.fromByteBuffer(B, p, at, NATIVE).convertShape(VectorOperators.B2F, F, 0);
    }

    @Override
    public void q8Panel8(ByteBuffer p, int at, int blocks, float[] xs, int xsOff, float[] acc) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        int quants = at + blocks * L * 4;
        if (xsOff < 0 || xsOff + blocks * Q8_BLOCK * 8 > xs.length) throw new IndexOutOfBoundsException();
        for (int blk = 0; blk < blocks; blk++) {
            FloatVector b0 = FloatVector.zero(F), b1 = b0, b2 = b0, b3 = b0, b4 = b0, b5 = b0, b6 = b0, b7 = b0;
            // Two columns per pass: fewer loop and index instructions around the buffer checks, which the JIT
            // repeats for every load from a ByteBuffer (more columns per pass outgrow the JIT's inlining budget).
            for (int k = blk * Q8_BLOCK, end = k + Q8_BLOCK; k < end; k += 2) {
                int q = quants + k * L, x = xsOff + k * 8;
                FloatVector w0 = q8(p, q);
                b0 = w0.fma(FloatVector.broadcast(F, xs[x]), b0);
                b1 = w0.fma(FloatVector.broadcast(F, xs[x + 1]), b1);
                b2 = w0.fma(FloatVector.broadcast(F, xs[x + 2]), b2);
                b3 = w0.fma(FloatVector.broadcast(F, xs[x + 3]), b3);
                b4 = w0.fma(FloatVector.broadcast(F, xs[x + 4]), b4);
                b5 = w0.fma(FloatVector.broadcast(F, xs[x + 5]), b5);
                b6 = w0.fma(FloatVector.broadcast(F, xs[x + 6]), b6);
                b7 = w0.fma(FloatVector.broadcast(F, xs[x + 7]), b7);
                FloatVector w1 = q8(p, q + L);
                b0 = w1.fma(FloatVector.broadcast(F, xs[x + 8]), b0);
                b1 = w1.fma(FloatVector.broadcast(F, xs[x + 9]), b1);
                b2 = w1.fma(FloatVector.broadcast(F, xs[x + 10]), b2);
                b3 = w1.fma(FloatVector.broadcast(F, xs[x + 11]), b3);
                b4 = w1.fma(FloatVector.broadcast(F, xs[x + 12]), b4);
                b5 = w1.fma(FloatVector.broadcast(F, xs[x + 13]), b5);
                b6 = w1.fma(FloatVector.broadcast(F, xs[x + 14]), b6);
                b7 = w1.fma(FloatVector.broadcast(F, xs[x + 15]), b7);
            }
            FloatVector d = FloatVector.fromByteBuffer(F, p, at + blk * L * 4, NATIVE);
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

    @Override
    public void gPanels4x1(ByteBuffer p, int at, int panelBytes, int scaleBytes, boolean off, boolean nibbles, int gs, int groups,
                           float[] x, int x0, float[] sums, float[] out, int o) {
        if (nibbles) {
            gPanels4x1N(p, at, panelBytes, scaleBytes, off, gs, groups, x, x0, sums, out, o);
            return;
        }
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int quants = at + scaleBytes, q1 = panelBytes, q2 = 2 * panelBytes, q3 = 3 * panelBytes, ob = groups * L * 4;
        for (int g = 0; g < groups; g++) {
            FloatVector b0 = FloatVector.zero(F), b1 = b0, b2 = b0, b3 = b0;
            for (int k = g * gs, end = k + gs; k < end; k++) {
                FloatVector v = FloatVector.broadcast(F, x[x0 + k]);
                int q = quants + k * L;
                b0 = q8(p, q).fma(v, b0);
                b1 = q8(p, q1 + q).fma(v, b1);
                b2 = q8(p, q2 + q).fma(v, b2);
                b3 = q8(p, q3 + q).fma(v, b3);
            }
            int s = at + g * L * 4;
            a0 = FloatVector.fromByteBuffer(F, p, s, NATIVE).fma(b0, a0);
            a1 = FloatVector.fromByteBuffer(F, p, q1 + s, NATIVE).fma(b1, a1);
            a2 = FloatVector.fromByteBuffer(F, p, q2 + s, NATIVE).fma(b2, a2);
            a3 = FloatVector.fromByteBuffer(F, p, q3 + s, NATIVE).fma(b3, a3);
            if (off) {
                FloatVector xsum = FloatVector.broadcast(F, sums[g]);
                a0 = FloatVector.fromByteBuffer(F, p, ob + s, NATIVE).fma(xsum, a0);
                a1 = FloatVector.fromByteBuffer(F, p, q1 + ob + s, NATIVE).fma(xsum, a1);
                a2 = FloatVector.fromByteBuffer(F, p, q2 + ob + s, NATIVE).fma(xsum, a2);
                a3 = FloatVector.fromByteBuffer(F, p, q3 + ob + s, NATIVE).fma(xsum, a3);
            }
        }
        MINUS_ZERO.add(a0).intoArray(out, o);
        MINUS_ZERO.add(a1).intoArray(out, o + L);
        MINUS_ZERO.add(a2).intoArray(out, o + 2 * L);
        MINUS_ZERO.add(a3).intoArray(out, o + 3 * L);
    }

    @Override
    public void gPanel8(ByteBuffer p, int at, int scaleBytes, boolean off, boolean nibbles, int gs, int groups, float[] xs, int xsOff,
                        float[] sums, float[] acc) {
        if (nibbles) {
            gPanel8N(p, at, scaleBytes, off, gs, groups, xs, xsOff, sums, acc);
            return;
        }
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        int quants = at + scaleBytes, ob = groups * L * 4;
        if (xsOff < 0 || xsOff + groups * gs * 8 > xs.length) throw new IndexOutOfBoundsException();
        for (int g = 0; g < groups; g++) {
            FloatVector b0 = FloatVector.zero(F), b1 = b0, b2 = b0, b3 = b0, b4 = b0, b5 = b0, b6 = b0, b7 = b0;
            for (int k = g * gs, end = k + gs; k < end; k++) {
                FloatVector w = q8(p, quants + k * L);
                int x = xsOff + k * 8;
                b0 = w.fma(FloatVector.broadcast(F, xs[x]), b0);
                b1 = w.fma(FloatVector.broadcast(F, xs[x + 1]), b1);
                b2 = w.fma(FloatVector.broadcast(F, xs[x + 2]), b2);
                b3 = w.fma(FloatVector.broadcast(F, xs[x + 3]), b3);
                b4 = w.fma(FloatVector.broadcast(F, xs[x + 4]), b4);
                b5 = w.fma(FloatVector.broadcast(F, xs[x + 5]), b5);
                b6 = w.fma(FloatVector.broadcast(F, xs[x + 6]), b6);
                b7 = w.fma(FloatVector.broadcast(F, xs[x + 7]), b7);
            }
            FloatVector d = FloatVector.fromByteBuffer(F, p, at + g * L * 4, NATIVE);
            a0 = d.fma(b0, a0);
            a1 = d.fma(b1, a1);
            a2 = d.fma(b2, a2);
            a3 = d.fma(b3, a3);
            a4 = d.fma(b4, a4);
            a5 = d.fma(b5, a5);
            a6 = d.fma(b6, a6);
            a7 = d.fma(b7, a7);
            if (off) {
                FloatVector m = FloatVector.fromByteBuffer(F, p, at + ob + g * L * 4, NATIVE);
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

    /** gPanels4x1 over nibble panels (two columns per byte; even columns first, then odd, per group); the same sums as VectorKernels.gPanels4x1N. */
    private static void gPanels4x1N(ByteBuffer p, int at, int panelBytes, int scaleBytes, boolean off, int gs, int groups,
                                    float[] x, int x0, float[] sums, float[] out, int o) {
        // Two panels a call: with four, the method grew past the JIT's node budget for inlining before it reached
        // the final stores, left them as calls, and boxed the accumulators (KernelAllocationTest at real sizes).
        gPanels2x1N(p, at, panelBytes, scaleBytes, gs, groups, x, x0, out, o);
        gPanels2x1N(p, at + 2 * panelBytes, panelBytes, scaleBytes, gs, groups, x, x0, out, o + 2 * L);
        if (off) {
            int ob = groups * L * 4;
            for (int i = 0; i < 4; i++) addOffsets(p, at + i * panelBytes + ob, groups, sums, 0, out, o + i * L);
        }
    }

    /** Two consecutive nibble panels times one token, without their offsets, into out[o .. o + 2L). */
    private static void gPanels2x1N(ByteBuffer p, int at, int panelBytes, int scaleBytes, int gs, int groups,
                                    float[] x, int x0, float[] out, int o) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        int quants = at + scaleBytes, q1 = panelBytes;
        for (int g = 0; g < groups; g++) {
            FloatVector b0 = FloatVector.zero(F), b1 = b0;
            int j0 = g * gs / 2, j1 = j0 + gs / 2;
            for (int j = j0; j < j1; j++) {
                FloatVector v = FloatVector.broadcast(F, x[x0 + 2 * j]);
                int q = quants + j * L;
                b0 = ((FloatVector) ByteVector.fromByteBuffer(B, p, q, NATIVE).and(LOW_NIBBLE).convertShape(VectorOperators.B2F, F, 0)).fma(v, b0);
                b1 = ((FloatVector) ByteVector.fromByteBuffer(B, p, q1 + q, NATIVE).and(LOW_NIBBLE).convertShape(VectorOperators.B2F, F, 0)).fma(v, b1);
            }
            for (int j = j0; j < j1; j++) {
                FloatVector v = FloatVector.broadcast(F, x[x0 + 2 * j + 1]);
                int q = quants + j * L;
                b0 = ((FloatVector) ByteVector.fromByteBuffer(B, p, q, NATIVE).lanewise(VectorOperators.LSHR, 4).and(LOW_NIBBLE).convertShape(VectorOperators.B2F, F, 0)).fma(v, b0);
                b1 = ((FloatVector) ByteVector.fromByteBuffer(B, p, q1 + q, NATIVE).lanewise(VectorOperators.LSHR, 4).and(LOW_NIBBLE).convertShape(VectorOperators.B2F, F, 0)).fma(v, b1);
            }
            int s = at + g * L * 4;
            a0 = FloatVector.fromByteBuffer(F, p, s, NATIVE).fma(b0, a0);
            a1 = FloatVector.fromByteBuffer(F, p, q1 + s, NATIVE).fma(b1, a1);
        }
        MINUS_ZERO.add(a0).intoArray(out, o);
        MINUS_ZERO.add(a1).intoArray(out, o + L);
    }

    /** gPanel8 over a nibble panel and staged inputs; the same sums as VectorKernels.gPanel8N. */
    private static void gPanel8N(ByteBuffer p, int at, int scaleBytes, boolean off, int gs, int groups, float[] xs, int xsOff,
                                 float[] sums, float[] acc) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        int quants = at + scaleBytes, ob = groups * L * 4;
        if (xsOff < 0 || xsOff + groups * gs * 8 > xs.length) throw new IndexOutOfBoundsException();
        for (int g = 0; g < groups; g++) {
            FloatVector b0 = FloatVector.zero(F), b1 = b0, b2 = b0, b3 = b0, b4 = b0, b5 = b0, b6 = b0, b7 = b0;
            int j0 = g * gs / 2, j1 = j0 + gs / 2;
            for (int j = j0; j < j1; j++) {
                FloatVector w = ((FloatVector) ByteVector.fromByteBuffer(B, p, quants + j * L, NATIVE).and(LOW_NIBBLE).convertShape(VectorOperators.B2F, F, 0));
                int x = xsOff + 2 * j * 8;
                b0 = w.fma(FloatVector.broadcast(F, xs[x]), b0);
                b1 = w.fma(FloatVector.broadcast(F, xs[x + 1]), b1);
                b2 = w.fma(FloatVector.broadcast(F, xs[x + 2]), b2);
                b3 = w.fma(FloatVector.broadcast(F, xs[x + 3]), b3);
                b4 = w.fma(FloatVector.broadcast(F, xs[x + 4]), b4);
                b5 = w.fma(FloatVector.broadcast(F, xs[x + 5]), b5);
                b6 = w.fma(FloatVector.broadcast(F, xs[x + 6]), b6);
                b7 = w.fma(FloatVector.broadcast(F, xs[x + 7]), b7);
            }
            for (int j = j0; j < j1; j++) {
                FloatVector w = ((FloatVector) ByteVector.fromByteBuffer(B, p, quants + j * L, NATIVE).lanewise(VectorOperators.LSHR, 4).and(LOW_NIBBLE).convertShape(VectorOperators.B2F, F, 0));
                int x = xsOff + (2 * j + 1) * 8;
                b0 = w.fma(FloatVector.broadcast(F, xs[x]), b0);
                b1 = w.fma(FloatVector.broadcast(F, xs[x + 1]), b1);
                b2 = w.fma(FloatVector.broadcast(F, xs[x + 2]), b2);
                b3 = w.fma(FloatVector.broadcast(F, xs[x + 3]), b3);
                b4 = w.fma(FloatVector.broadcast(F, xs[x + 4]), b4);
                b5 = w.fma(FloatVector.broadcast(F, xs[x + 5]), b5);
                b6 = w.fma(FloatVector.broadcast(F, xs[x + 6]), b6);
                b7 = w.fma(FloatVector.broadcast(F, xs[x + 7]), b7);
            }
            FloatVector d = FloatVector.fromByteBuffer(F, p, at + g * L * 4, NATIVE);
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
        if (off) for (int i = 0; i < 8; i++) addOffsets(p, at + ob, groups, sums, i * groups, acc, i * L);
    }

    /** VectorKernels.addOffsets with the offsets read from the panel buffer at byte o0. */
    private static void addOffsets(ByteBuffer p, int o0, int groups, float[] sums, int s0, float[] acc, int a0) {
        FloatVector c = FloatVector.zero(F);
        for (int g = 0; g < groups; g++) c = FloatVector.fromByteBuffer(F, p, o0 + g * L * 4, NATIVE).fma(FloatVector.broadcast(F, sums[s0 + g]), c);
        FloatVector.fromArray(F, acc, a0).add(c).intoArray(acc, a0);
    }
}
