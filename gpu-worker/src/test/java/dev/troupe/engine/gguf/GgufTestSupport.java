package dev.troupe.engine.gguf;

import org.junit.jupiter.api.Assumptions;

import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Helpers shared by the GGUF tests: a little-endian byte builder and deep comparison of metadata values. */
final class GgufTestSupport {
    private GgufTestSupport() {}

    /** Builds raw (possibly malformed) GGUF bytes by hand. */
    static final class Bytes {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Bytes u8(int v) { out.write(v); return this; }

        Bytes u32(long v) { for (int i = 0; i < 4; i++) out.write((int) (v >>> (8 * i))); return this; }

        Bytes u64(long v) { for (int i = 0; i < 8; i++) out.write((int) (v >>> (8 * i))); return this; }

        Bytes str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            u64(b.length);
            out.write(b, 0, b.length);
            return this;
        }

        Bytes raw(byte[] b) { out.write(b, 0, b.length); return this; }

        Bytes header(int version, long tensors, long kvs) { return u32(GgufFile.MAGIC).u32(version).u64(tensors).u64(kvs); }

        Bytes padTo(int alignment) { while (out.size() % alignment != 0) out.write(0); return this; }

        int size() { return out.size(); }

        byte[] bytes() { return out.toByteArray(); }
    }

    static void assertValueEquals(String key, GgufValue expected, GgufValue actual) {
        assertEquals(expected.type(), actual.type(), key + ": type");
        assertEquals(expected.elementType(), actual.elementType(), key + ": element type");
        Object e = expected.value(), a = actual.value();
        if (expected.type() != GgufValueType.ARRAY) {
            if (e instanceof Float) {
                assertEquals(Float.floatToRawIntBits((Float) e), Float.floatToRawIntBits((Float) a), key);
            } else if (e instanceof Double) {
                assertEquals(Double.doubleToRawLongBits((Double) e), Double.doubleToRawLongBits((Double) a), key);
            } else {
                assertEquals(e, a, key);
            }
            return;
        }
        if (e instanceof GgufValue[]) {
            GgufValue[] ea = (GgufValue[]) e;
            assertTrue(a instanceof GgufValue[], key + ": nested array class");
            GgufValue[] aa = (GgufValue[]) a;
            assertEquals(ea.length, aa.length, key + ": length");
            for (int i = 0; i < ea.length; i++) assertValueEquals(key + "[" + i + "]", ea[i], aa[i]);
        } else if (e instanceof float[]) {
            float[] ef = (float[]) e, af = (float[]) a;
            assertEquals(ef.length, af.length, key + ": length");
            for (int i = 0; i < ef.length; i++) {
                assertEquals(Float.floatToRawIntBits(ef[i]), Float.floatToRawIntBits(af[i]), key + "[" + i + "]");
            }
        } else if (e instanceof double[]) {
            double[] ed = (double[]) e, ad = (double[]) a;
            assertEquals(ed.length, ad.length, key + ": length");
            for (int i = 0; i < ed.length; i++) {
                assertEquals(Double.doubleToRawLongBits(ed[i]), Double.doubleToRawLongBits(ad[i]), key + "[" + i + "]");
            }
        } else {
            assertEquals(e.getClass(), a.getClass(), key + ": array class");
            if (!Arrays.deepEquals(new Object[] {e}, new Object[] {a})) fail(key + ": array contents differ");
        }
    }

    /**
     * The shared test models: {@code ../shared/models} from the project root (tests run in the module directory,
     * so the project root's parent is searched too); the system property {@code troupe.models} overrides.
     * Null when absent.
     */
    static Path modelsDir() {
        String prop = System.getProperty("troupe.models");
        if (prop != null) return Files.isDirectory(Path.of(prop)) ? Path.of(prop) : null;
        Path p = Path.of("").toAbsolutePath();
        for (int up = 0; up < 3 && p != null; up++, p = p.getParent()) {
            Path candidate = p.resolveSibling("shared").resolve("models");
            if (p.getParent() != null && Files.isDirectory(candidate)) return candidate;
        }
        return null;
    }

    /** A shared test model, or a skipped test saying where the models were looked for. */
    static Path model(String name) {
        Path dir = modelsDir();
        Assumptions.assumeTrue(dir != null && Files.isRegularFile(dir.resolve(name)),
                "../shared/models not found (looked above " + Path.of("").toAbsolutePath() + ")");
        return dir.resolve(name);
    }

    static float[] dequantize(GgufTensor t) {
        float[] out = new float[Math.toIntExact(t.elements())];
        TensorCodec.of(t.type()).dequantize(t.data(), 0, out, 0, out.length);
        return out;
    }
}
