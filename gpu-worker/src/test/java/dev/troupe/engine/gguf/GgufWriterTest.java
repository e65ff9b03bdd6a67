package dev.troupe.engine.gguf;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.troupe.engine.gguf.GgufTestSupport.assertValueEquals;
import static dev.troupe.engine.gguf.GgufTestSupport.dequantize;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

class GgufWriterTest {
    @TempDir
    Path dir;

    /** One value of every scalar type, an array of every element type, and nested arrays. */
    static Map<String, GgufValue> everyType() {
        Map<String, GgufValue> m = new LinkedHashMap<>();
        m.put("u8", GgufValue.of(GgufValueType.UINT8, 255L));
        m.put("i8", GgufValue.of(GgufValueType.INT8, -128L));
        m.put("u16", GgufValue.of(GgufValueType.UINT16, 65535L));
        m.put("i16", GgufValue.of(GgufValueType.INT16, -32768L));
        m.put("u32", GgufValue.of(GgufValueType.UINT32, 4294967295L));
        m.put("i32", GgufValue.of(GgufValueType.INT32, (long) Integer.MIN_VALUE));
        m.put("u64", GgufValue.of(GgufValueType.UINT64, -1L)); // 2^64-1, wrapped
        m.put("i64", GgufValue.of(GgufValueType.INT64, Long.MIN_VALUE));
        m.put("f32", GgufValue.of(GgufValueType.FLOAT32, -1.5e-7f));
        m.put("f32.nan", GgufValue.of(GgufValueType.FLOAT32, Float.intBitsToFloat(0x7fc00123)));
        m.put("f32.negzero", GgufValue.of(GgufValueType.FLOAT32, -0.0f));
        m.put("f64", GgufValue.of(GgufValueType.FLOAT64, Math.PI));
        m.put("bool.t", GgufValue.of(GgufValueType.BOOL, true));
        m.put("bool.f", GgufValue.of(GgufValueType.BOOL, false));
        m.put("str", GgufValue.string("h\u00e9llo \u2581w\u00f6rld \ud83d\ude00"));
        m.put("str.empty", GgufValue.string(""));
        m.put("a.u8", GgufValue.array(GgufValueType.UINT8, new byte[] {0, 1, (byte) 255}));
        m.put("a.i8", GgufValue.array(GgufValueType.INT8, new byte[] {-128, 0, 127}));
        m.put("a.u16", GgufValue.array(GgufValueType.UINT16, new short[] {0, (short) 65535}));
        m.put("a.i16", GgufValue.array(GgufValueType.INT16, new short[] {Short.MIN_VALUE, 7}));
        m.put("a.u32", GgufValue.array(GgufValueType.UINT32, new int[] {0, -1}));
        m.put("a.i32", GgufValue.array(GgufValueType.INT32, new int[] {Integer.MIN_VALUE, 0, Integer.MAX_VALUE}));
        m.put("a.u64", GgufValue.array(GgufValueType.UINT64, new long[] {0, -1}));
        m.put("a.i64", GgufValue.array(GgufValueType.INT64, new long[] {Long.MIN_VALUE, Long.MAX_VALUE}));
        m.put("a.f32", GgufValue.array(GgufValueType.FLOAT32, new float[] {1f, -0f, Float.NaN, Float.NEGATIVE_INFINITY, Float.MIN_VALUE}));
        m.put("a.f64", GgufValue.array(GgufValueType.FLOAT64, new double[] {Double.MAX_VALUE, -0.0}));
        m.put("a.bool", GgufValue.array(GgufValueType.BOOL, new boolean[] {true, false, true}));
        m.put("a.str", GgufValue.array(GgufValueType.STRING, new String[] {"a", "", "\u2581the", "<0x0A>"}));
        m.put("a.empty", GgufValue.array(GgufValueType.INT32, new int[0]));
        // longer than the reader's initial array capacity, so its growing path is exercised too
        int[] many = new int[10_007];
        String[] words = new String[5_003];
        for (int i = 0; i < many.length; i++) many[i] = i * 31;
        for (int i = 0; i < words.length; i++) words[i] = "w" + i;
        m.put("a.many", GgufValue.array(GgufValueType.INT32, many));
        m.put("a.words", GgufValue.array(GgufValueType.STRING, words));
        m.put("a.nested", GgufValue.array(GgufValueType.ARRAY, new GgufValue[] {
                GgufValue.array(GgufValueType.STRING, new String[] {"x", "y"}),
                GgufValue.array(GgufValueType.INT32, new int[] {1, 2, 3}),
                GgufValue.array(GgufValueType.ARRAY, new GgufValue[] {GgufValue.array(GgufValueType.BOOL, new boolean[] {true})}),
                GgufValue.array(GgufValueType.FLOAT64, new double[0])}));
        return m;
    }

    static float[] gaussian(int n, long seed, float scale) {
        Random r = new Random(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextGaussian() * scale);
        return a;
    }

    @Test
    void roundTripsEveryMetadataTypeAndTensorType() throws IOException {
        Map<String, GgufValue> meta = everyType();
        GgufWriter w = new GgufWriter();
        meta.forEach(w::put);
        w.putString("conv.string", "s").putUInt32("conv.u32", 7).putInt32("conv.i32", -7).putFloat32("conv.f32", 0.25f)
                .putBool("conv.bool", true).putStringArray("conv.strs", "p", "q").putFloatArray("conv.floats", 1f, 2f)
                .putInt32Array("conv.ints", 3, -4);

        Map<String, float[]> inputs = new LinkedHashMap<>();
        Map<String, GgmlType> types = new LinkedHashMap<>();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        Object[][] specs = {
                {"f32.1d", GgmlType.F32, new long[] {5}},
                {"f32.4d", GgmlType.F32, new long[] {2, 3, 4, 5}},
                {"f16.2d", GgmlType.F16, new long[] {7, 3}},
                {"f16.3d", GgmlType.F16, new long[] {4, 3, 2}},
                {"q8.1d", GgmlType.Q8_0, new long[] {64}},
                {"q8.2d", GgmlType.Q8_0, new long[] {96, 5}},
                {"q8.3d", GgmlType.Q8_0, new long[] {32, 2, 3}},
                {"q8.4d", GgmlType.Q8_0, new long[] {32, 2, 2, 2}},
                {"f32.big", GgmlType.F32, new long[] {1024, 300}}, // > the writer's 1 MiB encode chunk
                {"q8.big", GgmlType.Q8_0, new long[] {4096, 256}},
        };
        int seed = 1;
        for (Object[] s : specs) {
            String name = (String) s[0];
            long[] shape = (long[]) s[2];
            long n = 1;
            for (long d : shape) n *= d;
            float[] v = gaussian((int) n, seed++, 3f);
            if (name.equals("q8.2d")) java.util.Arrays.fill(v, 32, 64, 0f); // an all-zero block
            inputs.put(name, v);
            types.put(name, (GgmlType) s[1]);
            shapes.put(name, shape);
            w.addTensor(name, (GgmlType) s[1], shape, v);
        }
        // already-encoded bytes and a lazy source
        ByteBuffer raw = ByteBuffer.allocate(6 * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 6; i++) raw.putShort(Float16.fromFloat(i - 2.5f));
        raw.flip();
        w.addTensor("raw.f16", GgmlType.F16, new long[] {3, 2}, raw);
        assertEquals(0, raw.position(), "the caller's buffer is not consumed");
        float[] lazy = gaussian(64, 99, 1f);
        w.addTensor("lazy.q8", GgmlType.Q8_0, new long[] {32, 2}, () -> lazy.clone());

        Path file = dir.resolve("every.gguf");
        w.write(file);
        assertEquals(0, Files.size(file) % 32, "data section ends padded");

        try (GgufFile f = GgufFile.open(file)) {
            assertEquals(3, f.version());
            assertEquals(32, f.alignment());
            List<String> keys = new ArrayList<>(f.metadata().keySet());
            assertEquals(new ArrayList<>(w.metadata().keySet()), keys, "metadata in insertion order");
            for (Map.Entry<String, GgufValue> e : meta.entrySet()) {
                assertValueEquals(e.getKey(), e.getValue(), f.metadata().get(e.getKey()));
            }
            assertEquals("s", f.getString("conv.string"));
            assertEquals(GgufValueType.UINT32, f.metadata().get("conv.u32").type());
            assertEquals(7, f.getInt("conv.u32"));
            assertEquals(GgufValueType.INT32, f.metadata().get("conv.i32").type());
            assertEquals(-7, f.getInt("conv.i32"));
            assertEquals(0.25f, f.getFloat("conv.f32", 0));
            assertTrue(f.getBoolean("conv.bool", false));
            assertArrayEquals(new String[] {"p", "q"}, f.getStringArray("conv.strs"));
            assertArrayEquals(new float[] {1f, 2f}, f.getFloatArray("conv.floats"));
            assertArrayEquals(new int[] {3, -4}, f.getIntArray("conv.ints"));

            assertEquals(specs.length + 2, f.tensors().size());
            assertEquals(new ArrayList<>(inputs.keySet()), new ArrayList<>(f.tensors().keySet()).subList(0, specs.length),
                    "tensors in insertion order");
            for (GgufTensor t : f.tensors().values()) {
                assertEquals(0, (t.fileOffset() - f.dataStart()) % 32, t.name() + " aligned");
            }
            for (String name : inputs.keySet()) {
                GgufTensor t = f.tensor(name);
                assertEquals(types.get(name), t.type(), name);
                assertArrayEquals(shapes.get(name), t.shape(), name);
                float[] in = inputs.get(name);
                float[] out = dequantize(t);
                switch (t.type()) {
                    case F32:
                        for (int i = 0; i < in.length; i++) {
                            if (Float.floatToRawIntBits(in[i]) != Float.floatToRawIntBits(out[i])) {
                                fail(name + "[" + i + "]: wrote " + in[i] + ", read " + out[i]);
                            }
                        }
                        break;
                    case F16:
                        for (int i = 0; i < in.length; i++) {
                            if (Float16.toFloat(Float16.fromFloat(in[i])) != out[i]) fail(name + "[" + i + "]: " + in[i] + " read as " + out[i]);
                        }
                        break;
                    case Q8_0:
                        assertQ8Matches(name, in, out);
                        break;
                    default:
                        throw new AssertionError(t.type());
                }
            }
            float[] rawOut = dequantize(f.tensor("raw.f16"));
            assertArrayEquals(new float[] {-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f}, rawOut);
            assertQ8Matches("lazy.q8", lazy, dequantize(f.tensor("lazy.q8")));
        }
    }

    /** Equal to the codec's quantize-then-dequantize, and within amax/127 of the input in every block. */
    static void assertQ8Matches(String name, float[] in, float[] out) {
        ByteBuffer enc = ByteBuffer.allocate(in.length / 32 * 34).order(ByteOrder.LITTLE_ENDIAN);
        Q8_0Codec.INSTANCE.quantize(in, 0, in.length, enc, 0);
        float[] expected = new float[in.length];
        Q8_0Codec.INSTANCE.dequantize(enc, 0, expected, 0, in.length);
        assertArrayEquals(expected, out, name);
        for (int b = 0; b < in.length / 32; b++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(in[b * 32 + j]));
            for (int j = 0; j < 32; j++) {
                int i = b * 32 + j;
                if (!(Math.abs(in[i] - out[i]) <= amax / 127f)) fail(name + "[" + i + "]: " + in[i] + " vs " + out[i] + ", block amax " + amax);
            }
        }
    }

    @Test
    void honoursGeneralAlignment() throws IOException {
        GgufWriter w = new GgufWriter().putUInt32("general.alignment", 256);
        w.addTensor("a", GgmlType.F32, new long[] {3}, new float[] {1, 2, 3});
        w.addTensor("b", GgmlType.F16, new long[] {5}, new float[] {1, 2, 3, 4, 5});
        w.addTensor("c", GgmlType.Q8_0, new long[] {32}, new float[32]);
        Path file = dir.resolve("aligned.gguf");
        w.write(file);
        assertEquals(256, w.alignment());
        try (GgufFile f = GgufFile.open(file)) {
            assertEquals(256, f.alignment());
            assertEquals(0, f.dataStart() % 256);
            for (GgufTensor t : f.tensors().values()) assertEquals(0, t.fileOffset() % 256, t.name());
            assertArrayEquals(new float[] {1, 2, 3}, dequantize(f.tensor("a")));
            assertArrayEquals(new float[] {1, 2, 3, 4, 5}, dequantize(f.tensor("b")));
            assertArrayEquals(new float[32], dequantize(f.tensor("c")));
        }
        assertEquals(0, Files.size(file) % 256);
    }

    @Test
    void emptyFileAndReplacingAKeyKeepsItsPlace() throws IOException {
        Path file = dir.resolve("empty.gguf");
        new GgufWriter().write(file);
        try (GgufFile f = GgufFile.open(file)) {
            assertTrue(f.metadata().isEmpty());
            assertTrue(f.tensors().isEmpty());
        }
        GgufWriter w = new GgufWriter().putString("a", "1").putString("b", "2").putString("a", "3");
        w.write(file);
        try (GgufFile f = GgufFile.open(file)) {
            assertEquals(List.of("a", "b"), new ArrayList<>(f.metadata().keySet()));
            assertEquals("3", f.getString("a"));
        }
        try (var s = Files.list(dir)) {
            assertEquals(List.of(file), s.toList(), "no temporary files left behind");
        }
    }

    @Test
    void sourcesRunOnlyWhileWritingOneAtATime() throws IOException {
        List<String> calls = new ArrayList<>();
        GgufWriter w = new GgufWriter();
        for (int i = 0; i < 3; i++) {
            String name = "t" + i;
            w.addTensor(name, GgmlType.F16, new long[] {8, 2}, () -> {
                calls.add(name);
                return new float[16];
            });
        }
        assertTrue(calls.isEmpty(), "nothing generated before write");
        w.write(dir.resolve("lazy.gguf"));
        assertEquals(List.of("t0", "t1", "t2"), calls);
    }

    @Test
    void failedWriteLeavesNoFile() throws IOException {
        GgufWriter w = new GgufWriter();
        w.addTensor("bad", GgmlType.F32, new long[] {4}, () -> new float[3]);
        Path file = dir.resolve("bad.gguf");
        assertThrows(IllegalStateException.class, () -> w.write(file));
        assertFalse(Files.exists(file));
        try (var s = Files.list(dir)) {
            assertEquals(List.of(), s.toList(), "no partial or temporary file left behind");
        }
    }

    @Test
    void rejectsBadInputEarly() {
        GgufWriter w = new GgufWriter();
        assertThrows(IllegalArgumentException.class, () -> w.put("x", GgufValue.of(GgufValueType.UINT8, 256L)));
        assertThrows(IllegalArgumentException.class, () -> w.put("x", GgufValue.of(GgufValueType.INT32, "1")));
        assertThrows(IllegalArgumentException.class, () -> w.put("x", GgufValue.array(GgufValueType.INT32, new long[1])));
        assertThrows(IllegalArgumentException.class, () -> w.put("x", GgufValue.array(GgufValueType.ARRAY, new GgufValue[] {GgufValue.string("s")})));
        assertThrows(IllegalArgumentException.class, () -> w.put("x", GgufValue.array(null, new int[1])));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("q", GgmlType.Q8_0, new long[] {16, 2}, new float[32]));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("n", GgmlType.F32, new long[] {4}, new float[3]));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("d", GgmlType.F32, new long[] {1, 1, 1, 1, 1}, new float[1]));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("z", GgmlType.F32, new long[] {0}, new float[0]));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("r", GgmlType.F16, new long[] {4}, ByteBuffer.allocate(7)));
        assertThrows(UnsupportedOperationException.class, () -> w.addTensor("k", GgmlType.Q8_1, new long[] {256}, new float[256]));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("x".repeat(64), GgmlType.F32, new long[] {1}, new float[1]));
        w.addTensor("ok", GgmlType.F32, new long[] {1}, new float[1]);
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("ok", GgmlType.F32, new long[] {1}, new float[1]));
        w.putUInt32("general.alignment", 24);
        assertThrows(IllegalStateException.class, () -> w.write(dir.resolve("x.gguf")));
    }

    @Test
    void arraysAreCopiedOnPut() throws IOException {
        int[] a = {1, 2};
        GgufWriter w = new GgufWriter().putInt32Array("a", a);
        a[0] = 99;
        w.write(dir.resolve("c.gguf"));
        try (GgufFile f = GgufFile.open(dir.resolve("c.gguf"))) {
            assertArrayEquals(new int[] {1, 2}, f.getIntArray("a"));
        }
    }
}
