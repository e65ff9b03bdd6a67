package dev.troupe.engine.gguf;

import java.nio.ByteBuffer;

/**
 * Q5_1: 32 elements in 24 bytes: half scale d, half minimum m, a little-endian 32-bit word of fifth bits, then
 * 16 bytes of low nibbles (element j low, j + 16 high); element = d * (5-bit value) + m.
 */
public final class Q5_1Codec extends GroupedCodec {
    public static final Q5_1Codec INSTANCE = new Q5_1Codec();
    private static final int BLOCK = 32, BYTES = 24;

    private Q5_1Codec() {}

    @Override public GgmlType type() { return GgmlType.Q5_1; }
    @Override public int groupSize() { return 32; }
    @Override public boolean hasOffset() { return true; }
    @Override public int quantMin() { return 0; }
    @Override public int quantMax() { return 31; }

    @Override
    public void dequantize(ByteBuffer src, long byteOffset, float[] dst, int dstOffset, int count) {
        int at = Math.toIntExact(byteOffset);
        for (int b = 0; b < count / BLOCK; b++, at += BYTES) {
            float d = Float16.toFloat(src.getShort(at));
            float m = Float16.toFloat(src.getShort(at + 2));
            int high = src.getInt(at + 4);
            int o = dstOffset + b * BLOCK;
            for (int j = 0; j < 16; j++) {
                int v = src.get(at + 8 + j) & 0xFF;
                dst[o + j] = ((v & 0xF) | ((high >>> j) & 1) << 4) * d + m;
                dst[o + j + 16] = ((v >>> 4) | ((high >>> (j + 16)) & 1) << 4) * d + m;
            }
        }
    }

    @Override
    public void unpack(ByteBuffer src, int at, byte[] q, int qOff, float[] scale, float[] offset, int sOff) {
        scale[sOff] = Float16.toFloat(src.getShort(at));
        offset[sOff] = Float16.toFloat(src.getShort(at + 2));
        int high = src.getInt(at + 4);
        for (int j = 0; j < 16; j++) {
            int v = src.get(at + 8 + j) & 0xFF;
            q[qOff + j] = (byte) ((v & 0xF) | ((high >>> j) & 1) << 4);
            q[qOff + j + 16] = (byte) ((v >>> 4) | ((high >>> (j + 16)) & 1) << 4);
        }
    }

    @Override
    public void quantize(float[] src, int srcOffset, int count, ByteBuffer dst, long byteOffset) {
        int at = Math.toIntExact(byteOffset);
        for (int b = 0; b < count / BLOCK; b++, at += BYTES) {
            int o = srcOffset + b * BLOCK;
            float min = Float.POSITIVE_INFINITY, max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < BLOCK; j++) { min = Math.min(min, src[o + j]); max = Math.max(max, src[o + j]); }
            float d = (max - min) / 31f;
            float id = d != 0 ? 1f / d : 0f;
            dst.putShort(at, Float16.fromFloat(d));
            dst.putShort(at + 2, Float16.fromFloat(min));
            int high = 0;
            for (int j = 0; j < 16; j++) {
                int lo = clamp(nearest((src[o + j] - min) * id), 0, 31);
                int hi = clamp(nearest((src[o + j + 16] - min) * id), 0, 31);
                dst.put(at + 8 + j, (byte) ((lo & 0xF) | (hi & 0xF) << 4));
                high |= (lo >>> 4) << j | (hi >>> 4) << (j + 16);
            }
            dst.putInt(at + 4, high);
        }
    }
}
