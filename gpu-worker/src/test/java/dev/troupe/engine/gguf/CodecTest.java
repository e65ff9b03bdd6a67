package dev.troupe.engine.gguf;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

class CodecTest {
    private static int half(float f) { return Float16.fromFloat(f) & 0xFFFF; }

    @Test
    void everyHalfRoundTripsThroughFloat() {
        for (int h = 0; h < 65536; h++) {
            float f = Float16.toFloat((short) h);
            boolean nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0;
            if (nan) {
                if (!Float.isNaN(f)) fail(String.format("0x%04x should be NaN, got %s", h, f));
                int back = half(f);
                if ((back & 0x7C00) != 0x7C00 || (back & 0x3FF) == 0) fail(String.format("NaN 0x%04x came back as 0x%04x", h, back));
                continue;
            }
            int back = half(f);
            if (back != h) fail(String.format("0x%04x -> %s -> 0x%04x", h, f, back));
        }
    }

    @Test
    void knownHalfValues() {
        assertEquals(1f, Float16.toFloat((short) 0x3C00));
        assertEquals(-2f, Float16.toFloat((short) 0xC000));
        assertEquals(65504f, Float16.toFloat((short) 0x7BFF));
        assertEquals(0x1p-14f, Float16.toFloat((short) 0x0400));
        assertEquals(0x1p-24f, Float16.toFloat((short) 0x0001));
        assertEquals(0x3FFp-24f, Float16.toFloat((short) 0x03FF));
        assertEquals(Float.POSITIVE_INFINITY, Float16.toFloat((short) 0x7C00));
        assertEquals(Float.NEGATIVE_INFINITY, Float16.toFloat((short) 0xFC00));
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(Float16.toFloat((short) 0x8000)));
    }

    @Test
    void roundsToNearestEven() {
        assertEquals(0x3C00, half(1f + 0x1p-11f), "halfway between 1 and its successor: even (1)");
        assertEquals(0x3C01, half(1f + 0x1p-11f + 0x1p-20f), "just above halfway rounds up");
        assertEquals(0x3C00, half(1f + 0x1p-11f - 0x1p-20f), "just below halfway rounds down");
        assertEquals(0x3C02, half(1f + 3 * 0x1p-11f), "halfway between odd 0x3C01 and 0x3C02: even");
        assertEquals(0x6800, half(2049f), "2049 is halfway between 2048 and 2050");
        assertEquals(0x6802, half(2051f), "2051 is halfway between 2050 and 2052");
        assertEquals(0x3BFF, half(1f - 0x1p-11f), "largest half below 1, exactly representable");
        assertEquals(0x3C00, half(1f - 0x1p-12f), "halfway between odd 0x3BFF and 1: even (1), carrying into the exponent");
        assertEquals(0x3BFF, half(1f - 0x1p-12f - 0x1p-20f), "just below that halfway point");
        assertEquals(0xBC01, half(-(1f + 0x1p-10f)), "negative values keep their sign");
        assertEquals(0x3555, half(1f / 3f));
        assertEquals(0x4248, half(3.14159265f));
    }

    @Test
    void subnormals() {
        assertEquals(0x0001, half(0x1p-24f), "smallest subnormal");
        assertEquals(0x8001, half(-0x1p-24f));
        assertEquals(0x0000, half(0x1p-25f), "half of the smallest subnormal: ties to even zero");
        assertEquals(0x0001, half(0x1.01p-25f), "just above: rounds up to the smallest subnormal");
        assertEquals(0x0002, half(3 * 0x1p-25f), "1.5 ulp: ties to even 2");
        assertEquals(0x0002, half(5 * 0x1p-25f), "2.5 ulp: ties to even 2");
        assertEquals(0x03FF, half(0x3FFp-24f), "largest subnormal");
        assertEquals(0x0400, half(0x7FFp-25f), "halfway between the largest subnormal and the smallest normal: even");
        assertEquals(0x0000, half(0x1p-26f));
        assertEquals(0x0000, half(Float.MIN_VALUE), "float subnormals flush to zero");
        assertEquals(0x8000, half(-Float.MIN_VALUE), "keeping the sign");
        assertEquals(0x8000, half(-0f));
    }

    @Test
    void overflowAndSpecials() {
        assertEquals(0x7BFF, half(65504f));
        assertEquals(0x7BFF, half(65519.996f), "below the rounding boundary stays finite");
        assertEquals(0x7C00, half(65520f), "the halfway point to 65536 rounds (to even) to infinity");
        assertEquals(0x7C00, half(1e6f));
        assertEquals(0xFC00, half(-1e6f));
        assertEquals(0x7C00, half(Float.MAX_VALUE));
        assertEquals(0x7C00, half(Float.POSITIVE_INFINITY));
        assertEquals(0xFC00, half(Float.NEGATIVE_INFINITY));
        int nan = half(Float.NaN);
        assertTrue((nan & 0x7C00) == 0x7C00 && (nan & 0x3FF) != 0, String.format("NaN stays NaN: 0x%04x", nan));
        assertTrue(Float.isNaN(Float16.toFloat((short) nan)));
    }

    /** Against a brute-force reference: the nearest half by value, ties to the even bit pattern. */
    @Test
    void randomFloatsRoundCorrectly() {
        float[] positive = new float[0x7C00]; // all finite non-negative halves, in increasing order
        for (int h = 0; h < positive.length; h++) positive[h] = Float16.toFloat((short) h);
        SplittableRandom r = new SplittableRandom(5);
        for (int n = 0; n < 200_000; n++) {
            // uniform exponents over the half range and a bit beyond, random mantissa bits
            int exp = 127 - 27 + r.nextInt(45);
            float f = Float.intBitsToFloat(exp << 23 | r.nextInt(1 << 23));
            double x = f;
            int expected;
            if (x >= 65520) {
                expected = 0x7C00;
            } else {
                int lo = 0, hi = positive.length - 1; // largest h with positive[h] <= x
                while (lo < hi) {
                    int mid = (lo + hi + 1) >>> 1;
                    if (positive[mid] <= x) lo = mid; else hi = mid - 1;
                }
                expected = lo;
                if (lo + 1 < positive.length) {
                    double down = x - positive[lo], up = positive[lo + 1] - x;
                    if (up < down || (up == down && (lo & 1) == 1)) expected = lo + 1;
                } else if (x - positive[lo] > 0) {
                    expected = lo; // between 65504 and 65520
                }
            }
            int got = half(f);
            if (got != expected) fail(String.format("%s (0x%08x): expected 0x%04x, got 0x%04x", f, Float.floatToRawIntBits(f), expected, got));
            if (half(-f) != (expected | 0x8000)) fail("sign symmetry for " + f);
        }
    }

    @Test
    void q8ZeroBlock() {
        ByteBuffer buf = ByteBuffer.allocate(34).order(ByteOrder.LITTLE_ENDIAN);
        buf.put(0, (byte) 0x55); // garbage that must be overwritten
        Q8_0Codec.INSTANCE.quantize(new float[32], 0, 32, buf, 0);
        assertArrayEquals(new byte[34], buf.array());
        float[] out = new float[32];
        java.util.Arrays.fill(out, 9f);
        Q8_0Codec.INSTANCE.dequantize(buf, 0, out, 0, 32);
        assertArrayEquals(new float[32], out);
    }

    @Test
    void q8KnownBlocks() {
        float[] x = new float[64];
        // block 0: amax 127 so d = 1 (half 0x3C00) and q = round half away from zero of x
        float[] head = {127f, -127f, 0.5f, -0.5f, 2.4f, -2.6f, 1.5f, 100f};
        System.arraycopy(head, 0, x, 0, head.length);
        for (int j = 8; j < 32; j++) x[j] = j - 20;
        // block 1: amax 63.5 so d = 0.5 (half 0x3800) and q = round(2x)
        float[] tail = {63.5f, 1f, -0.25f, 0.7f, -63.5f, 0.2f, -0.3f, 10.3f};
        System.arraycopy(tail, 0, x, 32, tail.length);

        byte[] expected = new byte[68];
        expected[0] = 0x00;
        expected[1] = 0x3C;
        byte[] q0 = {127, -127, 1, -1, 2, -3, 2, 100};
        System.arraycopy(q0, 0, expected, 2, q0.length);
        for (int j = 8; j < 32; j++) expected[2 + j] = (byte) (j - 20);
        expected[34] = 0x00;
        expected[35] = 0x38;
        byte[] q1 = {127, 2, -1, 1, -127, 0, -1, 21};
        System.arraycopy(q1, 0, expected, 36, q1.length);

        ByteBuffer buf = ByteBuffer.allocate(68 + 6).order(ByteOrder.LITTLE_ENDIAN);
        float[] src = new float[64 + 5];
        System.arraycopy(x, 0, src, 5, 64);
        Q8_0Codec.INSTANCE.quantize(src, 5, 64, buf, 6); // offsets on both sides
        byte[] got = new byte[68];
        buf.get(6, got);
        assertArrayEquals(expected, got);

        float[] out = new float[64 + 3];
        Q8_0Codec.INSTANCE.dequantize(buf, 6, out, 3, 64);
        for (int j = 0; j < 32; j++) assertEquals(expected[2 + j], out[3 + j], 0f, "block 0 element " + j);
        for (int j = 0; j < 32; j++) assertEquals(expected[36 + j] * 0.5f, out[3 + 32 + j], 0f, "block 1 element " + j);
    }

    @Test
    void q8ErrorBoundOnRandomBlocks() {
        SplittableRandom r = new SplittableRandom(11);
        int n = 32 * 500;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(-6, 4) / 2.0));
        ByteBuffer buf = ByteBuffer.allocate(n / 32 * 34).order(ByteOrder.LITTLE_ENDIAN);
        Q8_0Codec.INSTANCE.quantize(x, 0, n, buf, 0);
        float[] y = new float[n];
        Q8_0Codec.INSTANCE.dequantize(buf, 0, y, 0, n);
        GgufWriterTest.assertQ8Matches("random", x, y);
    }

    @Test
    void f32AndF16CodecsHonourOffsets() {
        float[] x = {1f, -2.5f, 0.1f, 65504f};
        ByteBuffer b = ByteBuffer.allocate(4 + 16).order(ByteOrder.LITTLE_ENDIAN);
        F32Codec.INSTANCE.quantize(x, 0, 4, b, 4);
        float[] y = new float[6];
        F32Codec.INSTANCE.dequantize(b, 4, y, 2, 4);
        assertArrayEquals(new float[] {0, 0, 1f, -2.5f, 0.1f, 65504f}, y);
        ByteBuffer h = ByteBuffer.allocate(2 + 8).order(ByteOrder.LITTLE_ENDIAN);
        F16Codec.INSTANCE.quantize(x, 1, 3, h, 2);
        assertEquals((short) 0xC100, h.getShort(2));
        float[] z = new float[3];
        F16Codec.INSTANCE.dequantize(h, 2, z, 0, 3);
        assertArrayEquals(new float[] {-2.5f, Float16.toFloat(Float16.fromFloat(0.1f)), 65504f}, z);
    }
}
