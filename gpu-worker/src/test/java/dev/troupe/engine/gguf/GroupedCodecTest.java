package dev.troupe.engine.gguf;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Each grouped codec's unpacked form (quants, group scales, offsets) gives back its own decoding bit for
 * bit on random blocks, and its quantizer round-trips Gaussian weights within the error its bit width allows.
 */
class GroupedCodecTest {

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K"})
    void unpackedQuantsAndScalesReproduceTheDecodingBitForBit(GgmlType type) {
        GroupedCodec c = (GroupedCodec) TensorCodec.of(type);
        int blocks = 64, n = blocks * type.blockSize(), groups = n / c.groupSize();
        ByteBuffer raw = randomBlocks(type, blocks, 3);
        float[] want = new float[n];
        c.dequantize(raw, 0, want, 0, n);
        byte[] q = new byte[n];
        float[] scale = new float[groups], offset = new float[groups];
        for (int b = 0; b < blocks; b++) {
            c.unpack(raw, b * type.blockBytes(), q, b * type.blockSize(), scale, offset, b * type.blockSize() / c.groupSize());
        }
        for (int i = 0; i < n; i++) {
            assertTrue(q[i] >= c.quantMin() && q[i] <= c.quantMax(), type + " element " + i + ": quant " + q[i] + " outside the declared range");
            int g = i / c.groupSize();
            float v = c.hasOffset() ? scale[g] * q[i] + offset[g] : scale[g] * q[i];
            assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(v), type + " element " + i + ": " + want[i] + " vs " + v);
        }
    }

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "BF16"})
    void quantizeThenDequantizeStaysWithinTheStepOfTheType(GgmlType type) {
        TensorCodec c = TensorCodec.of(type);
        int n = 16 * 256;
        SplittableRandom rnd = new SplittableRandom(17);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * 0.05);
        ByteBuffer buf = ByteBuffer.allocate((int) type.bytesFor(n)).order(ByteOrder.LITTLE_ENDIAN);
        c.quantize(x, 0, n, buf, 0);
        float[] y = new float[n];
        c.dequantize(buf, 0, y, 0, n);
        double err = 0, norm = 0;
        for (int i = 0; i < n; i++) { err += (x[i] - y[i]) * (double) (x[i] - y[i]); norm += x[i] * (double) x[i]; }
        double rel = Math.sqrt(err / norm);
        // relative RMS error bounds: about 1/levels of the range, with slack for the 6-bit scales of K-quants
        double bound = switch (type) {
            case Q4_0, Q4_1, Q4_K -> 0.15;
            case Q5_0, Q5_1, Q5_K -> 0.07;
            case Q6_K -> 0.035;
            case Q8_K -> 0.01;
            default -> 0.005; // BF16
        };
        assertTrue(rel < bound, type + ": relative RMS error " + rel + " over " + bound);
        assertTrue(rel > 0, type + ": no error at all is suspicious for random data");
    }

    @org.junit.jupiter.api.Test
    void bf16DecodesAsTheHighHalfOfAFloatAndRoundsToNearestEven() {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        b.putShort(0, (short) 0x3F80).putShort(2, (short) 0xC049).putShort(4, (short) 0x7F80).putShort(6, (short) 0x0001);
        float[] out = new float[4];
        BF16Codec.INSTANCE.dequantize(b, 0, out, 0, 4);
        assertEquals(1f, out[0]);
        assertEquals(Float.intBitsToFloat(0xC0490000), out[1]);
        assertEquals(Float.POSITIVE_INFINITY, out[2]);
        assertEquals(Float.intBitsToFloat(0x00010000), out[3]);
        assertEquals((short) 0x3F80, BF16Codec.fromFloat(Float.intBitsToFloat(0x3F808000)));  // tie: to even
        assertEquals((short) 0x3F82, BF16Codec.fromFloat(Float.intBitsToFloat(0x3F818000)));  // tie: to even (up)
        assertTrue(Float.isNaN(Float.intBitsToFloat(BF16Codec.fromFloat(Float.NaN) << 16)));
    }

    @org.junit.jupiter.api.Test
    void typesWithoutAQuantizerSayWhy() {
        float[] x = new float[256];
        ByteBuffer b = ByteBuffer.allocate(256);
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, () -> Q2_KCodec.INSTANCE.quantize(x, 0, 256, b, 0));
        assertTrue(e.getMessage().contains("Q2_K"), e.getMessage());
    }

    /** Random blocks that decode to finite values of at most 1e3 (random half scales can be inf/NaN/huge). */
    static ByteBuffer randomBlocks(GgmlType type, int blocks, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        TensorCodec codec = TensorCodec.of(type);
        ByteBuffer buf = ByteBuffer.allocate(blocks * type.blockBytes()).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[type.blockSize()];
        for (int b = 0; b < blocks; b++) {
            int at = b * type.blockBytes();
            while (true) {
                for (int i = 0; i < type.blockBytes(); i++) buf.put(at + i, (byte) rnd.nextInt(256));
                codec.dequantize(buf, at, out, 0, out.length);
                boolean ok = true;
                for (float v : out) ok &= Float.isFinite(v) && Math.abs(v) <= 1e3f;
                if (ok) break;
            }
        }
        return buf;
    }
}
