package dev.troupe.engine.gguf;

import java.nio.ByteBuffer;

/**
 * Q4_K: 256 elements in 144 bytes: half super-scale d, half super-minimum dmin, 12 bytes holding eight 6-bit
 * sub-block scales and eight 6-bit sub-block minimums ({@link #scale}, {@link #min}), then 128 bytes of 4-bit
 * quants. The block is four chunks of 64 elements; chunk c reads bytes [32c, 32c + 32): the low nibbles are
 * its first 32 elements (sub-block 2c), the high nibbles its last 32 (sub-block 2c + 1).
 * Element = (d * scale) * q - (dmin * min).
 */
public final class Q4_KCodec extends GroupedCodec implements IntScaledCodec {
    public static final Q4_KCodec INSTANCE = new Q4_KCodec();
    static final int BLOCK = 256, BYTES = 144;

    private Q4_KCodec() {}

    @Override public GgmlType type() { return GgmlType.Q4_K; }
    @Override public int groupSize() { return 32; }
    @Override public boolean hasOffset() { return true; }
    @Override public int quantMin() { return 0; }
    @Override public int quantMax() { return 15; }

    /**
     * The 6-bit scale of sub-block j (0..7) from the 12 packed bytes at {@code s}: sub-blocks 0-3 keep theirs in
     * the low 6 bits of bytes 0-3; sub-blocks 4-7 split theirs between the low nibble of bytes 8-11 and the top
     * two bits of bytes 0-3.
     */
    static int scale(ByteBuffer b, int s, int j) {
        return j < 4 ? b.get(s + j) & 63 : (b.get(s + j + 4) & 0xF) | ((b.get(s + j - 4) & 0xFF) >>> 6) << 4;
    }

    /** The 6-bit minimum of sub-block j: bytes 4-7 low bits, or the high nibble of bytes 8-11 plus the top bits of bytes 4-7. */
    static int min(ByteBuffer b, int s, int j) {
        return j < 4 ? b.get(s + j + 4) & 63 : ((b.get(s + j + 4) & 0xFF) >>> 4) | ((b.get(s + j) & 0xFF) >>> 6) << 4;
    }

    /** The inverse of {@link #scale} and {@link #min}: packs eight 6-bit scales and minimums into 12 bytes at s. */
    static void packScales(int[] sc, int[] mn, ByteBuffer b, int s) {
        for (int j = 0; j < 4; j++) {
            b.put(s + j, (byte) (sc[j] | (sc[j + 4] >>> 4) << 6));
            b.put(s + j + 4, (byte) (mn[j] | (mn[j + 4] >>> 4) << 6));
            b.put(s + j + 8, (byte) ((sc[j + 4] & 0xF) | (mn[j + 4] & 0xF) << 4));
        }
    }

    @Override
    public void dequantize(ByteBuffer src, long byteOffset, float[] dst, int dstOffset, int count) {
        int at = Math.toIntExact(byteOffset);
        for (int b = 0; b < count / BLOCK; b++, at += BYTES) {
            float d = Float16.toFloat(src.getShort(at)), dmin = Float16.toFloat(src.getShort(at + 2));
            int o = dstOffset + b * BLOCK;
            for (int c = 0; c < 4; c++) {
                float d1 = d * scale(src, at + 4, 2 * c), m1 = dmin * min(src, at + 4, 2 * c);
                float d2 = d * scale(src, at + 4, 2 * c + 1), m2 = dmin * min(src, at + 4, 2 * c + 1);
                int qs = at + 16 + 32 * c, e = o + 64 * c;
                for (int l = 0; l < 32; l++) {
                    int v = src.get(qs + l) & 0xFF;
                    dst[e + l] = d1 * (v & 0xF) - m1;
                    dst[e + 32 + l] = d2 * (v >>> 4) - m2;
                }
            }
        }
    }

    @Override
    public void unpack(ByteBuffer src, int at, byte[] q, int qOff, float[] scale, float[] offset, int sOff) {
        float d = Float16.toFloat(src.getShort(at)), dmin = Float16.toFloat(src.getShort(at + 2));
        for (int j = 0; j < 8; j++) {
            scale[sOff + j] = d * scale(src, at + 4, j);
            offset[sOff + j] = -(dmin * min(src, at + 4, j));
        }
        nibbles(src, at, q, qOff);
    }

    /** The block's 256 quants in element order to q[qOff ..] (see the class comment). */
    private static void nibbles(ByteBuffer src, int at, byte[] q, int qOff) {
        for (int c = 0; c < 4; c++) {
            int qs = at + 16 + 32 * c, e = qOff + 64 * c;
            for (int l = 0; l < 32; l++) {
                int v = src.get(qs + l) & 0xFF;
                q[e + l] = (byte) (v & 0xF);
                q[e + 32 + l] = (byte) (v >>> 4);
            }
        }
    }

    /** a = d, b = -dmin; u the nibble, sc and mn the 6-bit scale and minimum. */
    @Override
    public void unpackInts(ByteBuffer src, int at, byte[] u, int uOff, int[] sc, int[] mn, int gOff, float[] ab) {
        ab[0] = Float16.toFloat(src.getShort(at));
        ab[1] = -Float16.toFloat(src.getShort(at + 2));
        for (int j = 0; j < 8; j++) {
            sc[gOff + j] = scale(src, at + 4, j);
            mn[gOff + j] = min(src, at + 4, j);
        }
        nibbles(src, at, u, uOff);
    }

    @Override
    public void quantize(float[] src, int srcOffset, int count, ByteBuffer dst, long byteOffset) {
        quantizeAffine(src, srcOffset, count, dst, Math.toIntExact(byteOffset), 15);
    }

    /**
     * The shared simple quantizer of Q4_K and Q5_K (levels 15 or 31): per 32-element sub-block the range
     * [min(0, lowest), highest] maps onto 0..levels; the sub-block scales and minimums are then themselves
     * quantized to 6 bits against the block's largest. Not llama.cpp's error-minimising search, so files differ
     * from llama-quantize's, but every file it writes decodes as the format says.
     */
    static void quantizeAffine(float[] src, int srcOffset, int count, ByteBuffer dst, int at, int levels) {
        int bytes = levels == 15 ? BYTES : Q5_KCodec.BYTES;
        float[] scales = new float[8], mins = new float[8];
        int[] sc = new int[8], mn = new int[8];
        for (int b = 0; b < count / BLOCK; b++, at += bytes) {
            int o = srcOffset + b * BLOCK;
            float maxScale = 0, maxMin = 0;
            for (int j = 0; j < 8; j++) {
                float lo = 0, hi = Float.NEGATIVE_INFINITY;
                for (int l = 0; l < 32; l++) { lo = Math.min(lo, src[o + 32 * j + l]); hi = Math.max(hi, src[o + 32 * j + l]); }
                scales[j] = Math.max(hi - lo, 0) / levels;
                mins[j] = -lo;
                maxScale = Math.max(maxScale, scales[j]);
                maxMin = Math.max(maxMin, mins[j]);
            }
            float d = maxScale / 63f, dmin = maxMin / 63f;
            dst.putShort(at, Float16.fromFloat(d));
            dst.putShort(at + 2, Float16.fromFloat(dmin));
            float dq = Float16.toFloat(Float16.fromFloat(d)), dminq = Float16.toFloat(Float16.fromFloat(dmin));
            for (int j = 0; j < 8; j++) {
                sc[j] = dq > 0 ? clamp(nearest(scales[j] / dq), 0, 63) : 0;
                mn[j] = dminq > 0 ? clamp(nearest(mins[j] / dminq), 0, 63) : 0;
            }
            packScales(sc, mn, dst, at + 4);
            int qh = at + 16, qs = levels == 15 ? at + 16 : at + 48;
            if (levels == 31) for (int l = 0; l < 32; l++) dst.put(qh + l, (byte) 0);
            for (int c = 0; c < 4; c++) {
                for (int l = 0; l < 32; l++) {
                    int v = 0;
                    for (int h = 0; h < 2; h++) {
                        int j = 2 * c + h;
                        float step = dq * sc[j], off = dminq * mn[j];
                        int qv = step > 0 ? clamp(nearest((src[o + 32 * j + l] + off) / step), 0, levels) : 0;
                        v |= (qv & 0xF) << (4 * h);
                        if (levels == 31 && qv > 15) dst.put(qh + l, (byte) (dst.get(qh + l) | 1 << j));
                    }
                    dst.put(qs + 32 * c + l, (byte) v);
                }
            }
        }
    }
}
