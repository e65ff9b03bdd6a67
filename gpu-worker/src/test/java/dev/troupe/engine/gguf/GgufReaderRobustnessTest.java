package dev.troupe.engine.gguf;

import dev.troupe.engine.gguf.GgufTestSupport.Bytes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The reader must answer every malformed file with a GgufFormatException (never an unchecked exception or error). */
class GgufReaderRobustnessTest {
    @TempDir
    Path dir;

    private Path write(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    private GgufFormatException rejects(String name, byte[] bytes, String... fragments) throws IOException {
        Path p = write(name, bytes);
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> GgufFile.open(p).close(), name);
        assertTrue(e.getMessage().contains(name), "message names the file: " + e.getMessage());
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "message mentions '" + f + "': " + e.getMessage());
        return e;
    }

    /** A valid file whose bytes end exactly where its last tensor ends, so that every proper prefix is invalid. */
    private Path smallValidFile() throws IOException {
        GgufWriter w = new GgufWriter()
                .putString("general.architecture", "llama")
                .putString("general.name", "robustness")
                .putUInt32("llama.block_count", 1)
                .putFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f)
                .putBool("tokenizer.ggml.add_bos_token", true);
        String[] tokens = new String[40];
        for (int i = 0; i < tokens.length; i++) tokens[i] = "tok" + i;
        w.putStringArray("tokenizer.ggml.tokens", tokens);
        w.put("bools", GgufValue.array(GgufValueType.BOOL, new boolean[] {true, false}));
        w.put("u16s", GgufValue.array(GgufValueType.UINT16, new short[] {1, 2, 3}));
        w.put("f64", GgufValue.of(GgufValueType.FLOAT64, 2.5));
        w.put("nested", GgufValue.array(GgufValueType.ARRAY, new GgufValue[] {
                GgufValue.array(GgufValueType.INT8, new byte[] {1, -1}), GgufValue.array(GgufValueType.STRING, new String[] {"s"})}));
        w.addTensor("a", GgmlType.F32, new long[] {8}, new float[8]);
        w.addTensor("b", GgmlType.F16, new long[] {16, 2}, new float[32]);
        w.addTensor("c", GgmlType.Q8_0, new long[] {32, 2}, new float[64]);
        w.addTensor("d", GgmlType.F32, new long[] {8, 2}, new float[16]);
        Path p = dir.resolve("small-valid.gguf");
        w.write(p);
        try (GgufFile f = GgufFile.open(p)) {
            GgufTensor last = f.tensor("d");
            assertEquals(Files.size(p), last.fileOffset() + last.byteSize(), "no trailing padding in this file");
        }
        return p;
    }

    @Test
    void everyTruncationIsAFormatError() throws IOException {
        Path valid = smallValidFile();
        byte[] bytes = Files.readAllBytes(valid);
        assertTrue(bytes.length > 1000 && bytes.length < 4000, "about 2 KB: " + bytes.length);
        Path p = dir.resolve("truncated.gguf");
        Files.write(p, bytes);
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            for (int n = bytes.length - 1; n >= 0; n--) {
                ch.truncate(n);
                int len = n;
                GgufFormatException e = assertThrows(GgufFormatException.class, () -> GgufFile.open(p).close(), () -> "prefix of " + len + " bytes");
                if (!e.getMessage().contains("truncated.gguf")) throw new AssertionError("prefix " + n + ": message does not name the file: " + e.getMessage());
            }
        }
    }

    @Test
    void wrongMagic() throws IOException {
        byte[] b = new Bytes().u32(0x58554747).u32(3).u64(0).u64(0).bytes(); // "GGUX"
        rejects("magic.gguf", b, "GGUF", "byte 0");
        rejects("empty.gguf", new byte[0], "byte 0");
        rejects("tiny.gguf", new byte[] {'G', 'G'}, "byte 0");
    }

    @Test
    void unsupportedVersion() throws IOException {
        rejects("v1.gguf", new Bytes().header(1, 0, 0).bytes(), "version 1");
        rejects("v4.gguf", new Bytes().header(4, 0, 0).bytes(), "version 4");
        // v2 and v3 are accepted
        for (int v : new int[] {2, 3}) {
            try (GgufFile f = GgufFile.open(write("ok" + v + ".gguf", new Bytes().header(v, 0, 0).bytes()))) {
                assertEquals(v, f.version());
            }
        }
    }

    /** A v3 header with one metadata entry whose value bytes are given. */
    private static byte[] oneKey(String key, int type, Bytes value) {
        return new Bytes().header(3, 0, 1).str(key).u32(type).raw(value.bytes()).bytes();
    }

    @Test
    void unknownMetadataValueTypes() throws IOException {
        rejects("vtype.gguf", oneKey("k", 13, new Bytes().u32(0)), "unknown metadata value type 13", "'k'");
        rejects("vtype-neg.gguf", oneKey("k", -1, new Bytes().u32(0)), "-1");
        rejects("etype.gguf", oneKey("k", 9, new Bytes().u32(42).u64(1).u32(0)), "unknown array element type 42");
        rejects("bool.gguf", oneKey("k", 7, new Bytes().u8(2)), "expected 0 or 1");
    }

    @Test
    void absurdLengthsAndCounts() throws IOException {
        rejects("keylen.gguf", new Bytes().header(3, 0, 1).u64(1L << 62).bytes(), "string length");
        rejects("keylen-neg.gguf", new Bytes().header(3, 0, 1).u64(-1).bytes(), "string length");
        rejects("strlen.gguf", oneKey("k", 8, new Bytes().u64(Long.MAX_VALUE)), "string length");
        rejects("arrcount.gguf", oneKey("k", 9, new Bytes().u32(5).u64(1L << 60)), "element count");
        rejects("arrcount-neg.gguf", oneKey("k", 9, new Bytes().u32(0).u64(-5)), "element count");
        rejects("arrcount-str.gguf", oneKey("k", 9, new Bytes().u32(8).u64(1000).str("only one")), "element count");
        rejects("tcount.gguf", new Bytes().header(3, 1L << 60, 0).bytes(), "tensor count");
        rejects("tcount-neg.gguf", new Bytes().header(3, -1, 0).bytes(), "tensor count");
        rejects("kvcount.gguf", new Bytes().header(3, 0, Long.MAX_VALUE).bytes(), "metadata count");
    }

    @Test
    void deeplyNestedArrays() throws IOException {
        Bytes b = new Bytes().header(3, 0, 1).str("deep").u32(9);
        for (int i = 0; i < 200_000; i++) b.u32(9).u64(1); // ARRAY<ARRAY> of one element, 200k levels down
        b.u32(4).u64(0);
        rejects("deep.gguf", b.bytes(), "nest");
    }

    /** A v3 file with one tensor info (and no metadata) followed by data bytes. */
    private static byte[] oneTensor(int nDims, long[] dims, int type, long offset, int dataBytes) {
        Bytes b = new Bytes().header(3, 1, 0).str("t").u32(nDims);
        for (long d : dims) b.u64(d);
        b.u32(type).u64(offset).padTo(32);
        return b.raw(new byte[dataBytes]).bytes();
    }

    @Test
    void badTensorInfos() throws IOException {
        try (GgufFile f = GgufFile.open(write("tensor-ok.gguf", oneTensor(1, new long[] {8}, 0, 0, 32)))) {
            assertEquals(8, f.tensor("t").elements());
        }
        rejects("ttype.gguf", oneTensor(1, new long[] {8}, 99, 0, 32), "unknown tensor type id 99");
        rejects("ttype-neg.gguf", oneTensor(1, new long[] {8}, -3, 0, 32), "unknown tensor type id -3");
        rejects("misaligned.gguf", oneTensor(1, new long[] {4}, 0, 4, 64), "not aligned");
        rejects("negoffset.gguf", oneTensor(1, new long[] {8}, 0, -32, 64));
        rejects("pastend.gguf", oneTensor(1, new long[] {8}, 0, 32, 32), "truncated");
        rejects("shortdata.gguf", oneTensor(1, new long[] {8}, 0, 0, 31), "truncated");
        rejects("hugeoffset.gguf", oneTensor(1, new long[] {8}, 0, Long.MAX_VALUE - 31, 32));
        rejects("hugeoffset2.gguf", oneTensor(1, new long[] {8}, 0, 1L << 62, 32));
        long big = Integer.MAX_VALUE;
        rejects("elements-overflow.gguf", oneTensor(4, new long[] {big, big, big, big}, 0, 0, 32));
        rejects("bytes-overflow.gguf", oneTensor(3, new long[] {big, big, 4}, 28, 0, 32));
        rejects("huge-tensor.gguf", oneTensor(2, new long[] {big, 1000}, 0, 0, 32), "truncated");
        rejects("huge-tensor2.gguf", oneTensor(2, new long[] {big, big}, 0, 0, 32), "more bytes than a file can hold");
        rejects("dims0.gguf", oneTensor(0, new long[0], 0, 0, 32), "dimensions");
        rejects("dims5.gguf", oneTensor(5, new long[] {1, 1, 1, 1, 1}, 0, 0, 32), "dimensions");
        rejects("dimzero.gguf", oneTensor(1, new long[] {0}, 0, 0, 32), "dimension 0");
        rejects("dimneg.gguf", oneTensor(2, new long[] {8, -1}, 0, 0, 32), "dimension 1");
        rejects("q8row.gguf", oneTensor(1, new long[] {16}, 8, 0, 64), "block size");
        Bytes dup = new Bytes().header(3, 2, 0);
        for (int i = 0; i < 2; i++) dup.str("t").u32(1).u64(8).u32(0).u64(0);
        rejects("dup.gguf", dup.padTo(32).raw(new byte[32]).bytes(), "duplicate");
    }

    @Test
    void badAlignment() throws IOException {
        rejects("align3.gguf", oneKey("general.alignment", 4, new Bytes().u32(24)), "power of two");
        rejects("align0.gguf", oneKey("general.alignment", 4, new Bytes().u32(0)), "power of two");
        rejects("alignstr.gguf", oneKey("general.alignment", 8, new Bytes().str("32")), "power of two");
        rejects("alignhuge.gguf", oneKey("general.alignment", 10, new Bytes().u64(1L << 63)), "power of two");
    }

    @Test
    void hugeLengthsInFilesOverTwoGigabytes() throws IOException {
        // Sparse files: lengths that fit in the file but not in a Java array must not become negative array sizes.
        long size = 3L << 30;
        Object[][] cases = {
                {"big-str.gguf", new Bytes().header(3, 0, 1).str("k").u32(8).u64((1L << 31) + 5).bytes()},
                {"big-key.gguf", new Bytes().header(3, 0, 1).u64((1L << 31) + 5).bytes()},
                {"big-arr.gguf", new Bytes().header(3, 0, 1).str("k").u32(9).u32(0).u64((1L << 31) + 5).bytes()},
                {"big-arr2.gguf", new Bytes().header(3, 0, 1).str("k").u32(9).u32(0).u64(1L << 32).bytes()},
        };
        for (Object[] c : cases) {
            Path p = write((String) c[0], (byte[]) c[1]);
            try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
                f.setLength(size);
            }
            GgufFormatException e = assertThrows(GgufFormatException.class, () -> GgufFile.open(p).close(), (String) c[0]);
            assertTrue(e.getMessage().contains((String) c[0]), e.getMessage());
            Files.delete(p);
        }
    }

    @Test
    void missingTensorAndWrongMetadataTypes() throws IOException {
        Path p = smallValidFile();
        try (GgufFile f = GgufFile.open(p)) {
            GgufFormatException e = assertThrows(GgufFormatException.class, () -> f.tensor("nope.weight"));
            assertTrue(e.getMessage().contains("nope.weight") && e.getMessage().contains("small-valid.gguf"), e.getMessage());
            assertFalse(f.hasTensor("nope.weight"));
            assertThrows(GgufFormatException.class, () -> f.getString("llama.block_count"));
            assertThrows(GgufFormatException.class, () -> f.getString("missing.key"));
            assertEquals("fallback", f.getString("missing.key", "fallback"));
            assertThrows(GgufFormatException.class, () -> f.getLong("general.name"));
            assertThrows(GgufFormatException.class, () -> f.getInt("llama.attention.layer_norm_rms_epsilon"));
            assertThrows(GgufFormatException.class, () -> f.getInt("missing.key"));
            assertEquals(5, f.getInt("missing.key", 5));
            assertThrows(GgufFormatException.class, () -> f.getFloat("general.name", 0f));
            assertThrows(GgufFormatException.class, () -> f.getBoolean("llama.block_count", false));
            assertThrows(GgufFormatException.class, () -> f.getStringArray("general.name"));
            assertThrows(GgufFormatException.class, () -> f.getStringArray("u16s"));
            assertThrows(GgufFormatException.class, () -> f.getFloatArray("tokenizer.ggml.tokens"));
            assertThrows(GgufFormatException.class, () -> f.getIntArray("bools"));
            assertThrows(GgufFormatException.class, () -> f.getIntArray("nested"));
            assertArrayEquals(new int[] {1, 2, 3}, f.getIntArray("u16s"));
            GgufFormatException t = assertThrows(GgufFormatException.class, () -> f.getString("llama.block_count"));
            assertTrue(t.getMessage().contains("llama.block_count"), t.getMessage());
        }
        Path big = write("big-int.gguf", oneKey("n", 10, new Bytes().u64(1L << 40)));
        try (GgufFile f = GgufFile.open(big)) {
            assertEquals(1L << 40, f.getLong("n"));
            assertThrows(GgufFormatException.class, () -> f.getInt("n"));
        }
    }

    private static void assertArrayEquals(int[] expected, int[] actual) {
        assertTrue(Arrays.equals(expected, actual), Arrays.toString(expected) + " vs " + Arrays.toString(actual));
    }
}
