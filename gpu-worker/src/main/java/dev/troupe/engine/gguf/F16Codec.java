package dev.troupe.engine.gguf;

import java.nio.ByteBuffer;

/** IEEE half precision floats. */
public final class F16Codec implements TensorCodec {
    public static final F16Codec INSTANCE = new F16Codec();

    private F16Codec() {}

    @Override public GgmlType type() { return GgmlType.F16; }

    @Override
    public void dequantize(ByteBuffer src, long byteOffset, float[] dst, int dstOffset, int count) {
        int at = Math.toIntExact(byteOffset);
        for (int i = 0; i < count; i++) dst[dstOffset + i] = Float16.toFloat(src.getShort(at + 2 * i));
    }

    @Override
    public void quantize(float[] src, int srcOffset, int count, ByteBuffer dst, long byteOffset) {
        int at = Math.toIntExact(byteOffset);
        for (int i = 0; i < count; i++) dst.putShort(at + 2 * i, Float16.fromFloat(src[srcOffset + i]));
    }
}
