package dev.troupe.engine.gguf;

import java.nio.ByteBuffer;

/** bfloat16: the upper half of an IEEE single, so decoding is a shift. */
public final class BF16Codec implements TensorCodec {
    public static final BF16Codec INSTANCE = new BF16Codec();

    private BF16Codec() {}

    @Override public GgmlType type() { return GgmlType.BF16; }

    @Override
    public void dequantize(ByteBuffer src, long byteOffset, float[] dst, int dstOffset, int count) {
        int at = Math.toIntExact(byteOffset);
        for (int i = 0; i < count; i++) dst[dstOffset + i] = Float.intBitsToFloat((src.getShort(at + 2 * i) & 0xFFFF) << 16);
    }

    @Override
    public void quantize(float[] src, int srcOffset, int count, ByteBuffer dst, long byteOffset) {
        int at = Math.toIntExact(byteOffset);
        for (int i = 0; i < count; i++) dst.putShort(at + 2 * i, fromFloat(src[srcOffset + i]));
    }

    /** Round to nearest even; a NaN stays a (quiet) NaN instead of rounding into infinity. */
    public static short fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7FFFFFFF) > 0x7F800000) return (short) ((bits >>> 16) | 0x40);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }
}
