package dev.troupe.engine.gguf;

import java.nio.ByteBuffer;

/**
 * Q8_0: blocks of 32 elements, each a half-precision scale d followed by 32 signed bytes q;
 * element = d * q. 34 bytes per block.
 */
public final class Q8_0Codec implements TensorCodec {
    public static final Q8_0Codec INSTANCE = new Q8_0Codec();
    public static final int BLOCK = 32;
    public static final int BLOCK_BYTES = 34;

    private Q8_0Codec() {}

    @Override public GgmlType type() { return GgmlType.Q8_0; }

    @Override
    public void dequantize(ByteBuffer src, long byteOffset, float[] dst, int dstOffset, int count) {
        int at = Math.toIntExact(byteOffset);
        for (int b = 0; b < count / BLOCK; b++, at += BLOCK_BYTES) {
            float d = Float16.toFloat(src.getShort(at));
            int o = dstOffset + b * BLOCK;
            for (int j = 0; j < BLOCK; j++) dst[o + j] = d * src.get(at + 2 + j);
        }
    }

    @Override
    public void quantize(float[] src, int srcOffset, int count, ByteBuffer dst, long byteOffset) {
        int at = Math.toIntExact(byteOffset);
        for (int b = 0; b < count / BLOCK; b++, at += BLOCK_BYTES) {
            int o = srcOffset + b * BLOCK;
            float amax = 0;
            for (int j = 0; j < BLOCK; j++) amax = Math.max(amax, Math.abs(src[o + j]));
            float d = amax / 127f;
            float id = d != 0 ? 1f / d : 0f;
            dst.putShort(at, Float16.fromFloat(d));
            for (int j = 0; j < BLOCK; j++) {
                float v = src[o + j] * id;
                // round half away from zero, like C's roundf
                int q = (int) (v < 0 ? -Math.floor(-v + 0.5f) : Math.floor(v + 0.5f));
                dst.put(at + 2 + j, (byte) q);
            }
        }
    }
}
