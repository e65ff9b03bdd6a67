package dev.troupe.engine.gguf;

import java.nio.ByteBuffer;

/**
 * Q8_K: 256 elements in 292 bytes: a 32-bit float scale d, 256 signed bytes, then sixteen 16-bit sums of
 * groups of 16 quants (used by llama.cpp's dot products, not needed to decode). Element = d * q.
 */
public final class Q8_KCodec extends GroupedCodec {
    public static final Q8_KCodec INSTANCE = new Q8_KCodec();
    private static final int BLOCK = 256, BYTES = 292;

    private Q8_KCodec() {}

    @Override public GgmlType type() { return GgmlType.Q8_K; }
    @Override public int groupSize() { return 32; }
    @Override public boolean hasOffset() { return false; }
    @Override public int quantMin() { return -128; }
    @Override public int quantMax() { return 127; }

    @Override
    public void dequantize(ByteBuffer src, long byteOffset, float[] dst, int dstOffset, int count) {
        int at = Math.toIntExact(byteOffset);
        for (int b = 0; b < count / BLOCK; b++, at += BYTES) {
            float d = src.getFloat(at);
            for (int i = 0; i < BLOCK; i++) dst[dstOffset + b * BLOCK + i] = d * src.get(at + 4 + i);
        }
    }

    @Override
    public void unpack(ByteBuffer src, int at, byte[] q, int qOff, float[] scale, float[] offset, int sOff) {
        float d = src.getFloat(at);
        for (int g = 0; g < 8; g++) scale[sOff + g] = d;
        for (int i = 0; i < BLOCK; i++) q[qOff + i] = src.get(at + 4 + i);
    }

    @Override
    public void quantize(float[] src, int srcOffset, int count, ByteBuffer dst, long byteOffset) {
        int at = Math.toIntExact(byteOffset);
        for (int b = 0; b < count / BLOCK; b++, at += BYTES) {
            int o = srcOffset + b * BLOCK;
            float amax = 0;
            for (int i = 0; i < BLOCK; i++) amax = Math.max(amax, Math.abs(src[o + i]));
            float d = amax / 127f, id = d != 0 ? 1f / d : 0f;
            dst.putFloat(at, d);
            for (int g = 0; g < 16; g++) {
                int sum = 0;
                for (int i = 0; i < 16; i++) {
                    int qv = clamp(nearest(src[o + 16 * g + i] * id), -127, 127);
                    dst.put(at + 4 + 16 * g + i, (byte) qv);
                    sum += qv;
                }
                dst.putShort(at + 260 + 2 * g, (short) sum);
            }
        }
    }
}
