package dev.troupe.engine.gguf;

/**
 * One metadata value with its GGUF type. Scalars: integers as {@link Long} (unsigned 64-bit values above
 * Long.MAX_VALUE wrap), FLOAT32 as {@link Float}, FLOAT64 as {@link Double}, BOOL as {@link Boolean},
 * STRING as {@link String}. Arrays ({@code type == ARRAY}) keep their element type in {@code elementType}
 * and a primitive Java array as value: byte[] (U)INT8, short[] (U)INT16, int[] (U)INT32, long[] (U)INT64,
 * float[], double[], boolean[], String[], or GgufValue[] for nested arrays.
 */
public record GgufValue(GgufValueType type, GgufValueType elementType, Object value) {

    public static GgufValue of(GgufValueType type, Object value) {
        return new GgufValue(type, null, value);
    }

    public static GgufValue array(GgufValueType elementType, Object array) {
        return new GgufValue(GgufValueType.ARRAY, elementType, array);
    }

    public static GgufValue string(String s) { return of(GgufValueType.STRING, s); }

    public static GgufValue uint32(long v) { return of(GgufValueType.UINT32, v); }

    public static GgufValue int32(long v) { return of(GgufValueType.INT32, v); }

    public static GgufValue float32(float v) { return of(GgufValueType.FLOAT32, v); }

    public static GgufValue bool(boolean v) { return of(GgufValueType.BOOL, v); }

    /** Number of elements of an array value. */
    public int length() {
        return java.lang.reflect.Array.getLength(value);
    }

    @Override
    public String toString() {
        if (type != GgufValueType.ARRAY) return type + ":" + value;
        return "ARRAY<" + elementType + ">[" + length() + "]";
    }
}
