package dev.troupe.engine.gguf;

import java.nio.ByteBuffer;

/**
 * Q5_K: 256 elements in 176 bytes: half d, half dmin, 12 bytes of 6-bit scales and minimums (packed as in
 * Q4_K), 32 bytes of fifth bits, 128 bytes of low nibbles laid out as Q4_K's. Element e of chunk c (64
 * elements, sub-blocks 2c and 2c + 1) at position l of its 32-element half h takes its fifth bit from bit
 * (2c + h) of qh[l]. Element = (d * scale) * q - (dmin * min).
 */
public final class Q5_KCodec extends GroupedCodec {
    public static final Q5_KCodec INSTANCE = new Q5_KCodec();
    static final int BLOCK = 256, BYTES = 176;

    private Q5_KCodec() {}

    @Override public GgmlType type() { return GgmlType.Q5_K; }
    @Override public int groupSize() { return 32; }
    @Override public boolean hasOffset() { return true; }
    @Override public int quantMin() { return 0; }
    @Override public int quantMax() { return 31; }

    @Override
    public void dequantize(ByteBuffer src, long byteOffset, float[] dst, int dstOffset, int count) {
        int at = Math.toIntExact(byteOffset);
        for (int b = 0; b < count / BLOCK; b++, at += BYTES) {
            float d = Float16.toFloat(src.getShort(at)), dmin = Float16.toFloat(src.getShort(at + 2));
            int o = dstOffset + b * BLOCK;
            for (int c = 0; c < 4; c++) {
                float d1 = d * Q4_KCodec.scale(src, at + 4, 2 * c), m1 = dmin * Q4_KCodec.min(src, at + 4, 2 * c);
                float d2 = d * Q4_KCodec.scale(src, at + 4, 2 * c + 1), m2 = dmin * Q4_KCodec.min(src, at + 4, 2 * c + 1);
                int qs = at + 48 + 32 * c, e = o + 64 * c;
                for (int l = 0; l < 32; l++) {
                    int v = src.get(qs + l) & 0xFF, h = src.get(at + 16 + l) >>> (2 * c);
                    dst[e + l] = d1 * ((v & 0xF) + ((h & 1) << 4)) - m1;
                    dst[e + 32 + l] = d2 * ((v >>> 4) + ((h & 2) << 3)) - m2;
                }
            }
        }
    }

    @Override
    public void unpack(ByteBuffer src, int at, byte[] q, int qOff, float[] scale, float[] offset, int sOff) {
        float d = Float16.toFloat(src.getShort(at)), dmin = Float16.toFloat(src.getShort(at + 2));
        for (int j = 0; j < 8; j++) {
            scale[sOff + j] = d * Q4_KCodec.scale(src, at + 4, j);
            offset[sOff + j] = -(dmin * Q4_KCodec.min(src, at + 4, j));
        }
        for (int c = 0; c < 4; c++) {
            int qs = at + 48 + 32 * c, e = qOff + 64 * c;
            for (int l = 0; l < 32; l++) {
                int v = src.get(qs + l) & 0xFF, h = src.get(at + 16 + l) >>> (2 * c);
                q[e + l] = (byte) ((v & 0xF) + ((h & 1) << 4));
                q[e + 32 + l] = (byte) ((v >>> 4) + ((h & 2) << 3));
            }
        }
    }

    @Override
    public void quantize(float[] src, int srcOffset, int count, ByteBuffer dst, long byteOffset) {
        Q4_KCodec.quantizeAffine(src, srcOffset, count, dst, Math.toIntExact(byteOffset), 31);
    }
}
