package dev.troupe.engine.gguf;

import java.nio.ByteBuffer;

/**
 * Converts between one tensor type's stored bytes and floats. One implementation per type; the compute
 * backends have their own fused kernels, these are the reference conversions (and the writer's quantizers).
 */
public interface TensorCodec {
    GgmlType type();

    /** Decodes {@code count} elements (a multiple of the block size) starting at byte {@code byteOffset} of src. */
    void dequantize(ByteBuffer src, long byteOffset, float[] dst, int dstOffset, int count);

    /** Encodes {@code count} floats (a multiple of the block size) to dst at byte {@code byteOffset}. */
    void quantize(float[] src, int srcOffset, int count, ByteBuffer dst, long byteOffset);

    /** The codec for a type, or an exception naming the type and what is supported. */
    static TensorCodec of(GgmlType type) {
        switch (type) {
            case F32: return F32Codec.INSTANCE;
            case F16: return F16Codec.INSTANCE;
            case Q8_0: return Q8_0Codec.INSTANCE;
            default:
                throw new UnsupportedOperationException("tensor type " + type + " is not supported yet (supported: F32, F16, Q8_0)");
        }
    }

    static boolean isSupported(GgmlType type) {
        return type == GgmlType.F32 || type == GgmlType.F16 || type == GgmlType.Q8_0;
    }
}
