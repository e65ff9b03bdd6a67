package dev.troupe.engine.gguf;

import java.nio.ByteBuffer;

/** 32-bit floats, stored as they are. */
public final class F32Codec implements TensorCodec {
    public static final F32Codec INSTANCE = new F32Codec();

    private F32Codec() {}

    @Override public GgmlType type() { return GgmlType.F32; }

    @Override
    public void dequantize(ByteBuffer src, long byteOffset, float[] dst, int dstOffset, int count) {
        int at = Math.toIntExact(byteOffset);
        for (int i = 0; i < count; i++) dst[dstOffset + i] = src.getFloat(at + 4 * i);
    }

    @Override
    public void quantize(float[] src, int srcOffset, int count, ByteBuffer dst, long byteOffset) {
        int at = Math.toIntExact(byteOffset);
        for (int i = 0; i < count; i++) dst.putFloat(at + 4 * i, src[srcOffset + i]);
    }
}
