package dev.troupe.engine.gguf;

import java.nio.ByteBuffer;

/**
 * Q5_0: 32 elements in 22 bytes: half scale d, a little-endian 32-bit word of fifth bits (bit j for element
 * j), then 16 bytes of low nibbles (element j low, element j + 16 high); element = d * (5-bit value - 16).
 */
public final class Q5_0Codec extends GroupedCodec {
    public static final Q5_0Codec INSTANCE = new Q5_0Codec();
    private static final int BLOCK = 32, BYTES = 22;

    private Q5_0Codec() {}

    @Override public GgmlType type() { return GgmlType.Q5_0; }
    @Override public int groupSize() { return 32; }
    @Override public boolean hasOffset() { return false; }
    @Override public int quantMin() { return -16; }
    @Override public int quantMax() { return 15; }

    @Override
    public void dequantize(ByteBuffer src, long byteOffset, float[] dst, int dstOffset, int count) {
        int at = Math.toIntExact(byteOffset);
        for (int b = 0; b < count / BLOCK; b++, at += BYTES) {
            float d = Float16.toFloat(src.getShort(at));
            int high = src.getInt(at + 2);
            int o = dstOffset + b * BLOCK;
            for (int j = 0; j < 16; j++) {
                int v = src.get(at + 6 + j) & 0xFF;
                dst[o + j] = (((v & 0xF) | ((high >>> j) & 1) << 4) - 16) * d;
                dst[o + j + 16] = (((v >>> 4) | ((high >>> (j + 16)) & 1) << 4) - 16) * d;
            }
        }
    }

    @Override
    public void unpack(ByteBuffer src, int at, byte[] q, int qOff, float[] scale, float[] offset, int sOff) {
        scale[sOff] = Float16.toFloat(src.getShort(at));
        int high = src.getInt(at + 2);
        for (int j = 0; j < 16; j++) {
            int v = src.get(at + 6 + j) & 0xFF;
            q[qOff + j] = (byte) (((v & 0xF) | ((high >>> j) & 1) << 4) - 16);
            q[qOff + j + 16] = (byte) (((v >>> 4) | ((high >>> (j + 16)) & 1) << 4) - 16);
        }
    }

    @Override
    public void quantize(float[] src, int srcOffset, int count, ByteBuffer dst, long byteOffset) {
        int at = Math.toIntExact(byteOffset);
        for (int b = 0; b < count / BLOCK; b++, at += BYTES) {
            int o = srcOffset + b * BLOCK;
            float max = 0;
            for (int j = 0; j < BLOCK; j++) if (Math.abs(src[o + j]) > Math.abs(max)) max = src[o + j];
            float d = max / -16f;
            float id = d != 0 ? 1f / d : 0f;
            dst.putShort(at, Float16.fromFloat(d));
            int high = 0;
            for (int j = 0; j < 16; j++) {
                int lo = clamp(nearest(src[o + j] * id) + 16, 0, 31);
                int hi = clamp(nearest(src[o + j + 16] * id) + 16, 0, 31);
                dst.put(at + 6 + j, (byte) ((lo & 0xF) | (hi & 0xF) << 4));
                high |= (lo >>> 4) << j | (hi >>> 4) << (j + 16);
            }
            dst.putInt(at + 2, high);
        }
    }
}
