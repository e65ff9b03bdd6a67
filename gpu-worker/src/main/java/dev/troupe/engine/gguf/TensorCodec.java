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
            case BF16: return BF16Codec.INSTANCE;
            case Q4_0: return Q4_0Codec.INSTANCE;
            case Q4_1: return Q4_1Codec.INSTANCE;
            case Q5_0: return Q5_0Codec.INSTANCE;
            case Q5_1: return Q5_1Codec.INSTANCE;
            case Q2_K: return Q2_KCodec.INSTANCE;
            case Q3_K: return Q3_KCodec.INSTANCE;
            case Q4_K: return Q4_KCodec.INSTANCE;
            case Q5_K: return Q5_KCodec.INSTANCE;
            case Q6_K: return Q6_KCodec.INSTANCE;
            case Q8_K: return Q8_KCodec.INSTANCE;
            default:
                throw new UnsupportedOperationException("tensor type " + type + " is not supported (supported: " + SUPPORTED + ")");
        }
    }

    /** The types with a codec, for error messages. */
    String SUPPORTED = "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K";

    static boolean isSupported(GgmlType type) {
        switch (type) {
            case F32: case F16: case BF16: case Q8_0: case Q4_0: case Q4_1: case Q5_0: case Q5_1:
            case Q2_K: case Q3_K: case Q4_K: case Q5_K: case Q6_K: case Q8_K:
                return true;
            default:
                return false;
        }
    }
}
