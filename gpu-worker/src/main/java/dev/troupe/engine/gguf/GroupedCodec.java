package dev.troupe.engine.gguf;

import java.nio.ByteBuffer;

/**
 * A block-quantized type whose every element is {@code scale * q} or {@code scale * q + offset}, with a small
 * integer q and a (scale, offset) pair shared by a group of consecutive elements (16 or 32). All the GGML
 * quantized types we load have this shape once their packed scales are unpacked, so the vector kernels need
 * one int8-with-group-scales layout for all of them instead of one kernel per type.
 *
 * <p>{@link #unpack} must agree with {@link #dequantize} bit for bit: {@code dequantize} computes each element
 * as {@code scale * q} (no offset) or {@code scale * q + offset} in float, the same operations in the same
 * order as the GGML reference.
 */
public abstract class GroupedCodec implements TensorCodec {
    /** Elements sharing one scale and offset; divides the block size. */
    public abstract int groupSize();

    /** Whether elements carry an additive offset per group (types with a per-block minimum). */
    public abstract boolean hasOffset();

    /**
     * The smallest and largest quant {@link #unpack} produces. A range of at most 16 values lets the vector
     * backend keep two quants per byte.
     */
    public abstract int quantMin();

    public abstract int quantMax();

    /**
     * Unpacks the block at byte {@code at}: its {@code blockSize} quants to q[qOff ..] (each in -128..127) and
     * its {@code blockSize / groupSize} group scales (and offsets, when {@link #hasOffset}) to scale[sOff ..]
     * and offset[sOff ..].
     */
    public abstract void unpack(ByteBuffer src, int at, byte[] q, int qOff, float[] scale, float[] offset, int sOff);

    /** Round half away from zero (C's roundf), as the quantizers want; Math.round rounds -2.5 to -2. */
    static int nearest(float v) {
        return (int) (v < 0 ? -Math.floor(-v + 0.5f) : Math.floor(v + 0.5f));
    }

    static int clamp(int v, int lo, int hi) {
        return v < lo ? lo : v > hi ? hi : v;
    }
}
