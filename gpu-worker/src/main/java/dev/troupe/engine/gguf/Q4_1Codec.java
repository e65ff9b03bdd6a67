package dev.troupe.engine.gguf;

import java.nio.ByteBuffer;

/**
 * Q4_1: 32 elements in 20 bytes: half scale d, half minimum m, then 16 bytes of 4-bit quants (element j low
 * nibble, element j + 16 high nibble); element = d * nibble + m.
 */
public final class Q4_1Codec extends GroupedCodec {
    public static final Q4_1Codec INSTANCE = new Q4_1Codec();
    private static final int BLOCK = 32, BYTES = 20;

    private Q4_1Codec() {}

    @Override public GgmlType type() { return GgmlType.Q4_1; }
    @Override public int groupSize() { return 32; }
    @Override public boolean hasOffset() { return true; }
    @Override public int quantMin() { return 0; }
    @Override public int quantMax() { return 15; }

    @Override
    public void dequantize(ByteBuffer src, long byteOffset, float[] dst, int dstOffset, int count) {
        int at = Math.toIntExact(byteOffset);
        for (int b = 0; b < count / BLOCK; b++, at += BYTES) {
            float d = Float16.toFloat(src.getShort(at));
            float m = Float16.toFloat(src.getShort(at + 2));
            int o = dstOffset + b * BLOCK;
            for (int j = 0; j < 16; j++) {
                int v = src.get(at + 4 + j) & 0xFF;
                dst[o + j] = (v & 0xF) * d + m;
                dst[o + j + 16] = (v >>> 4) * d + m;
            }
        }
    }

    @Override
    public void unpack(ByteBuffer src, int at, byte[] q, int qOff, float[] scale, float[] offset, int sOff) {
        scale[sOff] = Float16.toFloat(src.getShort(at));
        offset[sOff] = Float16.toFloat(src.getShort(at + 2));
        for (int j = 0; j < 16; j++) {
            int v = src.get(at + 4 + j) & 0xFF;
            q[qOff + j] = (byte) (v & 0xF);
            q[qOff + j + 16] = (byte) (v >>> 4);
        }
    }

    @Override
    public void quantize(float[] src, int srcOffset, int count, ByteBuffer dst, long byteOffset) {
        int at = Math.toIntExact(byteOffset);
        for (int b = 0; b < count / BLOCK; b++, at += BYTES) {
            int o = srcOffset + b * BLOCK;
            float min = Float.POSITIVE_INFINITY, max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < BLOCK; j++) { min = Math.min(min, src[o + j]); max = Math.max(max, src[o + j]); }
            float d = (max - min) / 15f;
            float id = d != 0 ? 1f / d : 0f;
            dst.putShort(at, Float16.fromFloat(d));
            dst.putShort(at + 2, Float16.fromFloat(min));
            for (int j = 0; j < 16; j++) {
                int lo = clamp(nearest((src[o + j] - min) * id), 0, 15);
                int hi = clamp(nearest((src[o + j + 16] - min) * id), 0, 15);
                dst.put(at + 4 + j, (byte) (lo | hi << 4));
            }
        }
    }
}
