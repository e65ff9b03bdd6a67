package dev.troupe.engine.gguf;

import java.nio.ByteBuffer;

/**
 * Q4_0: 32 elements in 18 bytes: half scale d, then 16 bytes of 4-bit quants. Byte j holds element j in its
 * low nibble and element j + 16 in its high nibble; element = d * (nibble - 8).
 */
public final class Q4_0Codec extends GroupedCodec {
    public static final Q4_0Codec INSTANCE = new Q4_0Codec();
    private static final int BLOCK = 32, BYTES = 18;

    private Q4_0Codec() {}

    @Override public GgmlType type() { return GgmlType.Q4_0; }
    @Override public int groupSize() { return 32; }
    @Override public boolean hasOffset() { return false; }
    @Override public int quantMin() { return -8; }
    @Override public int quantMax() { return 7; }

    @Override
    public void dequantize(ByteBuffer src, long byteOffset, float[] dst, int dstOffset, int count) {
        int at = Math.toIntExact(byteOffset);
        for (int b = 0; b < count / BLOCK; b++, at += BYTES) {
            float d = Float16.toFloat(src.getShort(at));
            int o = dstOffset + b * BLOCK;
            for (int j = 0; j < 16; j++) {
                int v = src.get(at + 2 + j) & 0xFF;
                dst[o + j] = ((v & 0xF) - 8) * d;
                dst[o + j + 16] = ((v >>> 4) - 8) * d;
            }
        }
    }

    @Override
    public void unpack(ByteBuffer src, int at, byte[] q, int qOff, float[] scale, float[] offset, int sOff) {
        scale[sOff] = Float16.toFloat(src.getShort(at));
        for (int j = 0; j < 16; j++) {
            int v = src.get(at + 2 + j) & 0xFF;
            q[qOff + j] = (byte) ((v & 0xF) - 8);
            q[qOff + j + 16] = (byte) ((v >>> 4) - 8);
        }
    }

    @Override
    public void quantize(float[] src, int srcOffset, int count, ByteBuffer dst, long byteOffset) {
        int at = Math.toIntExact(byteOffset);
        for (int b = 0; b < count / BLOCK; b++, at += BYTES) {
            int o = srcOffset + b * BLOCK;
            // The element of largest magnitude maps to -8 exactly, which gives the 16th level to its sign.
            float max = 0;
            for (int j = 0; j < BLOCK; j++) if (Math.abs(src[o + j]) > Math.abs(max)) max = src[o + j];
            float d = max / -8f;
            float id = d != 0 ? 1f / d : 0f;
            dst.putShort(at, Float16.fromFloat(d));
            for (int j = 0; j < 16; j++) {
                int lo = clamp(nearest(src[o + j] * id) + 8, 0, 15);
                int hi = clamp(nearest(src[o + j + 16] * id) + 8, 0, 15);
                dst.put(at + 2 + j, (byte) (lo | hi << 4));
            }
        }
    }
}
