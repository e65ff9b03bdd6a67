package dev.troupe.engine.gguf;

import java.nio.ByteBuffer;

/**
 * A super-block type (256 elements a block) whose every element is, with small integers only, {@code a * sc[g] * u + b * mn[g]}: an
 * unsigned quant u, and per group g of {@link #groupSize()} elements an integer scale sc and offset mn, with two
 * float multipliers (a, b) for the whole block. The K-quants have this shape, which lets integer kernels sum
 * {@code sc[g] * (u . x)} and {@code mn[g] * sum(x)} exactly and scale once a block (native int8 kernels).
 */
public interface IntScaledCodec {
    /** Elements sharing sc and mn. */
    int groupSize();

    /**
     * Unpacks the block at byte {@code at}: its quants to u[uOff ..], its group scales and offsets to sc[gOff ..] and
     * mn[gOff ..] (each in -128..127), and its multipliers a, b to ab[0], ab[1].
     */
    void unpackInts(ByteBuffer src, int at, byte[] u, int uOff, int[] sc, int[] mn, int gOff, float[] ab);

    /** The codec of {@code type} when it has this shape, else null. */
    static IntScaledCodec of(GgmlType type) {
        TensorCodec c = TensorCodec.of(type);
        return c instanceof IntScaledCodec ? (IntScaledCodec) c : null;
    }
}
