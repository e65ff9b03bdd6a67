package dev.troupe.engine.kernel;

import dev.troupe.engine.gguf.Float16;
import dev.troupe.engine.gguf.GgmlType;
import dev.troupe.engine.model.WeightMatrix;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * SIMD kernels on the Java Vector API. Weights stay in the mapped file; each tile of {@link #TILE_ROWS}
 * rows is decoded once into the thread's L1-resident scratch and then multiplied with up to four
 * tokens at a time (a 4x4 register block: 16 accumulators), so batched steps read each weight once.
 */
public final class VectorKernels implements Kernels {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    /** Bytes that widen to one float vector (B2F keeps the lane count). */
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(F.vectorBitSize() / 4));
    private static final int Q8_BLOCK = 32;
    private static final int Q8_BLOCK_BYTES = 34;

    /** True when this JVM can run these kernels at a useful width. */
    public static boolean usable() {
        return L >= 8 && Q8_BLOCK % L == 0;
    }

    @Override
    public String name() { return "vector(" + F.vectorBitSize() + "-bit)"; }

    @Override
    public void matmul(WeightMatrix w, float[] x, int xOff, int xStride, int tokens,
                       float[] out, int outOff, int outStride, int r0, int r1, KernelScratch scratch) {
        int cols = w.cols();
        float[] tile = scratch.tile;
        boolean q8 = w.type() == GgmlType.Q8_0;
        for (int r = r0; r < r1; r += TILE_ROWS) {
            int n = Math.min(TILE_ROWS, r1 - r);
            if (q8 && n == TILE_ROWS && tokens < 4) {
                // Few tokens: widen the quantized rows in registers instead of through the tile.
                w.copyRawRows(r, n, scratch.raw);
                for (int t = 0; t < tokens; t++) {
                    q8Block4x1(scratch.raw, w.rowBytes(), cols, x, xOff + t * xStride, out, outOff + t * outStride + r);
                }
                continue;
            }
            loadTile(w, r, n, tile, scratch.raw);
            if (n == TILE_ROWS) {
                int t = 0;
                for (; t + 4 <= tokens; t += 4) {
                    block4x4(tile, cols, x, xOff + t * xStride, xStride, out, outOff + t * outStride + r, outStride);
                }
                for (; t < tokens; t++) {
                    block4x1(tile, cols, x, xOff + t * xStride, out, outOff + t * outStride + r);
                }
            } else {
                for (int i = 0; i < n; i++) {
                    for (int t = 0; t < tokens; t++) {
                        out[outOff + t * outStride + r + i] = dot(tile, i * cols, x, xOff + t * xStride, cols);
                    }
                }
            }
        }
    }

    /** Decodes rows [row, row + n) into tile[i * cols ..]. */
    private static void loadTile(WeightMatrix w, int row, int n, float[] tile, byte[] raw) {
        int cols = w.cols();
        if (w.type() == GgmlType.F32) {
            w.floats().get(row * cols, tile, 0, n * cols);
        } else if (w.type() == GgmlType.Q8_0) {
            w.copyRawRows(row, n, raw);
            int blocks = n * cols / Q8_BLOCK;
            for (int b = 0, src = 0, dst = 0; b < blocks; b++, src += Q8_BLOCK_BYTES, dst += Q8_BLOCK) {
                float d = q8Scale(raw, src);
                for (int j = 0; j < Q8_BLOCK; j += L) {
                    q8Lanes(raw, src + 2 + j).mul(d).intoArray(tile, dst + j);
                }
            }
        } else {
            for (int i = 0; i < n; i++) w.dequantizeRow(row + i, tile, i * cols);
        }
    }

    private static float q8Scale(byte[] raw, int block) {
        return Float16.toFloat((short) ((raw[block] & 0xFF) | (raw[block + 1] << 8)));
    }

    /** L quantized weights widened to floats (unscaled). */
    private static FloatVector q8Lanes(byte[] raw, int at) {
        return (FloatVector) ByteVector.fromArray(B, raw, at).convertShape(VectorOperators.B2F, F, 0);
    }

    /**
     * Four Q8_0 rows (raw, row stride rowBytes) times one token, dequantizing in registers with exactly
     * the arithmetic of {@link #loadTile} + {@link #block4x1}, so results match the batched path bit for bit.
     */
    private static void q8Block4x1(byte[] raw, int rowBytes, int cols, float[] x, int x0, float[] out, int o) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int r1 = rowBytes, r2 = 2 * rowBytes, r3 = 3 * rowBytes;
        for (int c = 0, blk = 0; c < cols; c += Q8_BLOCK, blk += Q8_BLOCK_BYTES) {
            float d0 = q8Scale(raw, blk), d1 = q8Scale(raw, r1 + blk), d2 = q8Scale(raw, r2 + blk), d3 = q8Scale(raw, r3 + blk);
            for (int j = 0; j < Q8_BLOCK; j += L) {
                FloatVector v = FloatVector.fromArray(F, x, x0 + c + j);
                int q = blk + 2 + j;
                a0 = q8Lanes(raw, q).mul(d0).fma(v, a0);
                a1 = q8Lanes(raw, r1 + q).mul(d1).fma(v, a1);
                a2 = q8Lanes(raw, r2 + q).mul(d2).fma(v, a2);
                a3 = q8Lanes(raw, r3 + q).mul(d3).fma(v, a3);
            }
        }
        out[o] = a0.reduceLanes(VectorOperators.ADD);
        out[o + 1] = a1.reduceLanes(VectorOperators.ADD);
        out[o + 2] = a2.reduceLanes(VectorOperators.ADD);
        out[o + 3] = a3.reduceLanes(VectorOperators.ADD);
    }

    /** Four weight rows (tile, row stride cols) times four tokens (x, stride xStride). */
    private static void block4x4(float[] w, int cols, float[] x, int x0, int xStride, float[] out, int o, int outStride) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        int x1 = x0 + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
        int w1 = cols, w2 = 2 * cols, w3 = 3 * cols;
        int c = 0;
        int bound = F.loopBound(cols);
        for (; c < bound; c += L) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + c);
            FloatVector v1 = FloatVector.fromArray(F, x, x1 + c);
            FloatVector v2 = FloatVector.fromArray(F, x, x2 + c);
            FloatVector v3 = FloatVector.fromArray(F, x, x3 + c);
            FloatVector r = FloatVector.fromArray(F, w, c);
            a00 = r.fma(v0, a00); a01 = r.fma(v1, a01); a02 = r.fma(v2, a02); a03 = r.fma(v3, a03);
            r = FloatVector.fromArray(F, w, w1 + c);
            a10 = r.fma(v0, a10); a11 = r.fma(v1, a11); a12 = r.fma(v2, a12); a13 = r.fma(v3, a13);
            r = FloatVector.fromArray(F, w, w2 + c);
            a20 = r.fma(v0, a20); a21 = r.fma(v1, a21); a22 = r.fma(v2, a22); a23 = r.fma(v3, a23);
            r = FloatVector.fromArray(F, w, w3 + c);
            a30 = r.fma(v0, a30); a31 = r.fma(v1, a31); a32 = r.fma(v2, a32); a33 = r.fma(v3, a33);
        }
        float s00 = a00.reduceLanes(VectorOperators.ADD), s01 = a01.reduceLanes(VectorOperators.ADD);
        float s02 = a02.reduceLanes(VectorOperators.ADD), s03 = a03.reduceLanes(VectorOperators.ADD);
        float s10 = a10.reduceLanes(VectorOperators.ADD), s11 = a11.reduceLanes(VectorOperators.ADD);
        float s12 = a12.reduceLanes(VectorOperators.ADD), s13 = a13.reduceLanes(VectorOperators.ADD);
        float s20 = a20.reduceLanes(VectorOperators.ADD), s21 = a21.reduceLanes(VectorOperators.ADD);
        float s22 = a22.reduceLanes(VectorOperators.ADD), s23 = a23.reduceLanes(VectorOperators.ADD);
        float s30 = a30.reduceLanes(VectorOperators.ADD), s31 = a31.reduceLanes(VectorOperators.ADD);
        float s32 = a32.reduceLanes(VectorOperators.ADD), s33 = a33.reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            float v0 = x[x0 + c], v1 = x[x1 + c], v2 = x[x2 + c], v3 = x[x3 + c];
            float r = w[c];
            s00 += r * v0; s01 += r * v1; s02 += r * v2; s03 += r * v3;
            r = w[w1 + c];
            s10 += r * v0; s11 += r * v1; s12 += r * v2; s13 += r * v3;
            r = w[w2 + c];
            s20 += r * v0; s21 += r * v1; s22 += r * v2; s23 += r * v3;
            r = w[w3 + c];
            s30 += r * v0; s31 += r * v1; s32 += r * v2; s33 += r * v3;
        }
        out[o] = s00; out[o + 1] = s10; out[o + 2] = s20; out[o + 3] = s30;
        o += outStride;
        out[o] = s01; out[o + 1] = s11; out[o + 2] = s21; out[o + 3] = s31;
        o += outStride;
        out[o] = s02; out[o + 1] = s12; out[o + 2] = s22; out[o + 3] = s32;
        o += outStride;
        out[o] = s03; out[o + 1] = s13; out[o + 2] = s23; out[o + 3] = s33;
    }

    /**
     * Four weight rows times one token. Each (row, token) sum is formed in exactly the order of
     * {@link #block4x4} and {@link #dot}, so a token's results do not depend on what else is in its batch.
     */
    private static void block4x1(float[] w, int cols, float[] x, int x0, float[] out, int o) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int w1 = cols, w2 = 2 * cols, w3 = 3 * cols;
        int c = 0;
        int bound = F.loopBound(cols);
        for (; c < bound; c += L) {
            FloatVector v = FloatVector.fromArray(F, x, x0 + c);
            a0 = FloatVector.fromArray(F, w, c).fma(v, a0);
            a1 = FloatVector.fromArray(F, w, w1 + c).fma(v, a1);
            a2 = FloatVector.fromArray(F, w, w2 + c).fma(v, a2);
            a3 = FloatVector.fromArray(F, w, w3 + c).fma(v, a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD);
        float s3 = a3.reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            float v = x[x0 + c];
            s0 += w[c] * v; s1 += w[w1 + c] * v; s2 += w[w2 + c] * v; s3 += w[w3 + c] * v;
        }
        out[o] = s0; out[o + 1] = s1; out[o + 2] = s2; out[o + 3] = s3;
    }

    @Override
    public float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        int i = 0;
        float sum = 0f;
        if (n >= L) {
            FloatVector acc = FloatVector.zero(F);
            int bound = F.loopBound(n);
            for (; i < bound; i += L) {
                acc = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc);
            }
            sum = acc.reduceLanes(VectorOperators.ADD);
        }
        for (; i < n; i++) sum += a[aOff + i] * b[bOff + i];
        return sum;
    }

    @Override
    public void swiglu(float[] gate, float[] up, int off, int n) {
        int i = 0;
        int bound = F.loopBound(n);
        for (; i < bound; i += L) {
            FloatVector g = FloatVector.fromArray(F, gate, off + i);
            FloatVector sig = g.neg().lanewise(VectorOperators.EXP).add(1f);
            g.div(sig).mul(FloatVector.fromArray(F, up, off + i)).intoArray(gate, off + i);
        }
        for (; i < n; i++) {
            float g = gate[off + i];
            gate[off + i] = g / (1f + (float) Math.exp(-g)) * up[off + i];
        }
    }

    @Override
    public float expShiftSum(float[] a, int off, int n, float max) {
        int i = 0;
        float sum = 0f;
        if (n >= L) {
            FloatVector acc = FloatVector.zero(F);
            int bound = F.loopBound(n);
            for (; i < bound; i += L) {
                FloatVector e = FloatVector.fromArray(F, a, off + i).sub(max).lanewise(VectorOperators.EXP);
                e.intoArray(a, off + i);
                acc = acc.add(e);
            }
            sum = acc.reduceLanes(VectorOperators.ADD);
        }
        for (; i < n; i++) {
            float e = (float) Math.exp(a[off + i] - max);
            a[off + i] = e;
            sum += e;
        }
        return sum;
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
