package dev.troupe.engine.gguf;

import java.nio.ByteBuffer;

/**
 * Q6_K: 256 elements in 210 bytes: 128 bytes of low nibbles (ql), 64 bytes of high 2-bit pairs (qh), sixteen
 * signed 8-bit sub-block scales, then half d. Each half n (128 elements) uses ql[64n ..], qh[32n ..] and scales
 * [8n ..]; its quarter k (32 elements, position l) takes the low nibble (k < 2) or high nibble (k >= 2) of
 * ql[l + 32 * (k & 1)], the bits 2k, 2k + 1 of qh[l], and scale 2k + l / 16. Element = (d * scale) * (q - 32).
 */
public final class Q6_KCodec extends GroupedCodec implements IntScaledCodec {
    public static final Q6_KCodec INSTANCE = new Q6_KCodec();
    private static final int BLOCK = 256, BYTES = 210;

    private Q6_KCodec() {}

    @Override public GgmlType type() { return GgmlType.Q6_K; }
    @Override public int groupSize() { return 16; }
    @Override public boolean hasOffset() { return false; }
    @Override public int quantMin() { return -32; }
    @Override public int quantMax() { return 31; }

    /** The 6-bit quant (minus 32) of element l of quarter k of half n. */
    private static int quant(ByteBuffer src, int at, int n, int k, int l) {
        int lo = src.get(at + 64 * n + l + 32 * (k & 1)) & 0xFF;
        lo = k < 2 ? lo & 0xF : lo >>> 4;
        int hi = ((src.get(at + 128 + 32 * n + l) & 0xFF) >>> (2 * k)) & 3;
        return (lo | hi << 4) - 32;
    }

    @Override
    public void dequantize(ByteBuffer src, long byteOffset, float[] dst, int dstOffset, int count) {
        int at = Math.toIntExact(byteOffset);
        for (int b = 0; b < count / BLOCK; b++, at += BYTES) {
            float d = Float16.toFloat(src.getShort(at + 208));
            int o = dstOffset + b * BLOCK;
            for (int n = 0; n < 2; n++) {
                for (int k = 0; k < 4; k++) {
                    for (int l = 0; l < 32; l++) {
                        int sc = src.get(at + 192 + 8 * n + 2 * k + l / 16);
                        dst[o + 128 * n + 32 * k + l] = d * sc * quant(src, at, n, k, l);
                    }
                }
            }
        }
    }

    @Override
    public void unpack(ByteBuffer src, int at, byte[] q, int qOff, float[] scale, float[] offset, int sOff) {
        float d = Float16.toFloat(src.getShort(at + 208));
        quants(src, at, q, qOff, 0);
        // group g of 16 consecutive elements = half n, quarter k, l / 16 = scale 8n + 2k + l / 16 = g
        for (int g = 0; g < 16; g++) scale[sOff + g] = d * src.get(at + 192 + g);
    }

    /** The block's 256 signed quants, plus {@code plus}, in element order to q[qOff ..]. */
    private static void quants(ByteBuffer src, int at, byte[] q, int qOff, int plus) {
        for (int n = 0; n < 2; n++) {
            for (int k = 0; k < 4; k++) {
                for (int l = 0; l < 32; l++) q[qOff + 128 * n + 32 * k + l] = (byte) (quant(src, at, n, k, l) + plus);
            }
        }
    }

    /** a = d, b = -32 d (exact); u = q + 32 in 0..63; sc = mn = the group's signed scale: d sc u - 32 d sc = d sc (u - 32). */
    @Override
    public void unpackInts(ByteBuffer src, int at, byte[] u, int uOff, int[] sc, int[] mn, int gOff, float[] ab) {
        float d = Float16.toFloat(src.getShort(at + 208));
        ab[0] = d;
        ab[1] = -32f * d;
        quants(src, at, u, uOff, 32);
        for (int g = 0; g < 16; g++) sc[gOff + g] = mn[gOff + g] = src.get(at + 192 + g);
    }

    @Override
    public void quantize(float[] src, int srcOffset, int count, ByteBuffer dst, long byteOffset) {
        int at = Math.toIntExact(byteOffset);
        float[] steps = new float[16];
        int[] sc = new int[16];
        for (int b = 0; b < count / BLOCK; b++, at += BYTES) {
            int o = srcOffset + b * BLOCK;
            // Group g here is the g-th run of 16 elements; its scale index is the same g (see the class comment).
            float maxStep = 0;
            for (int g = 0; g < 16; g++) {
                float amax = 0;
                for (int l = 0; l < 16; l++) amax = Math.max(amax, Math.abs(src[o + 16 * g + l]));
                steps[g] = amax / 31f;
                maxStep = Math.max(maxStep, steps[g]);
            }
            float d = maxStep / 127f;
            dst.putShort(at + 208, Float16.fromFloat(d));
            float dq = Float16.toFloat(Float16.fromFloat(d));
            for (int g = 0; g < 16; g++) sc[g] = dq > 0 ? clamp(nearest(steps[g] / dq), -128, 127) : 0;
            for (int i = 0; i < 192; i++) dst.put(at + i, (byte) 0);
            for (int n = 0; n < 2; n++) {
                for (int k = 0; k < 4; k++) {
                    for (int l = 0; l < 32; l++) {
                        int g = 8 * n + 2 * k + l / 16;
                        float step = dq * sc[g];
                        int qv = step != 0 ? clamp(nearest(src[o + 128 * n + 32 * k + l] / step), -32, 31) + 32 : 32;
                        int lo = at + 64 * n + l + 32 * (k & 1), hi = at + 128 + 32 * n + l;
                        dst.put(lo, (byte) (dst.get(lo) | (qv & 0xF) << (k < 2 ? 0 : 4)));
                        dst.put(hi, (byte) (dst.get(hi) | (qv >>> 4) << (2 * k)));
                    }
                }
            }
            for (int g = 0; g < 16; g++) dst.put(at + 192 + g, (byte) sc[g]);
        }
    }
}
