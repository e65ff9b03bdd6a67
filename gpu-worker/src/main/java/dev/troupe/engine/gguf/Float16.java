package dev.troupe.engine.gguf;

/** IEEE 754 half precision conversions (JDK 17 has none built in). */
public final class Float16 {
    private static final float[] TO_FLOAT = new float[65536];

    static {
        for (int i = 0; i < 65536; i++) TO_FLOAT[i] = convert((short) i);
    }

    private Float16() {}

    /** Half (raw bits) to float, by table lookup. */
    public static float toFloat(short bits) {
        return TO_FLOAT[bits & 0xFFFF];
    }

    private static float convert(short h) {
        int bits = h & 0xFFFF;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1F;
        int mant = bits & 0x3FF;
        if (exp == 0x1F) { // inf or NaN
            return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13));
        }
        if (exp == 0) {
            if (mant == 0) return Float.intBitsToFloat(sign);
            // subnormal half: value = mant * 2^-24
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
    }

    /**
     * Float to half (raw bits), rounding to nearest even; overflows to infinity. Branches only on the range (the
     * KV cache converts every key and value it stores, so this is on the prompt's path): normal halves round by
     * integer addition, subnormal ones by a float addition that lines their bits up with the float's mantissa.
     */
    public static short fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int a = bits & 0x7FFFFFFF;
        if (a >= 0x47800000) { // |f| >= 2^16, infinity or NaN
            if (a > 0x7F800000) return (short) (sign | 0x7E00 | ((a & 0x7FFFFF) >>> 13));
            return (short) (sign | 0x7C00);
        }
        if (a < 0x38800000) { // below 2^-14, the smallest normal half: the sum's ulp (2^-24) is the subnormal half's
            return (short) (sign | (Float.floatToRawIntBits(Float.intBitsToFloat(a) + 0.5f) - 0x3F000000));
        }
        // Rebias the exponent (127 -> 15) and round the 13 dropped bits to nearest even; a carry out of the
        // mantissa moves to the next exponent (and from 65520 up, to infinity), as it should.
        a += ((15 - 127) << 23) + 0xFFF + ((a >>> 13) & 1);
        return (short) (sign | (a >>> 13));
    }
}
