package dev.troupe.engine.tokenizer;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Writes a minimal GGUF v3 file (metadata only, no tensors) so tests can build tokenizers through fromGguf. */
final class GgufTestWriter {
    private final Map<String, Object> kv = new LinkedHashMap<>();

    GgufTestWriter put(String key, Object value) {
        kv.put(key, value);
        return this;
    }

    Path write(Path dir) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        u32(out, 0x46554747);
        u32(out, 3);
        u64(out, 0);
        u64(out, kv.size());
        for (Map.Entry<String, Object> e : kv.entrySet()) {
            str(out, e.getKey());
            Object v = e.getValue();
            if (v instanceof String) {
                u32(out, 8);
                str(out, (String) v);
            } else if (v instanceof Integer) {
                u32(out, 4); // UINT32
                u32(out, (Integer) v);
            } else if (v instanceof Boolean) {
                u32(out, 7);
                out.write((Boolean) v ? 1 : 0);
            } else if (v instanceof String[]) {
                u32(out, 9);
                u32(out, 8);
                String[] a = (String[]) v;
                u64(out, a.length);
                for (String s : a) str(out, s);
            } else if (v instanceof int[]) {
                u32(out, 9);
                u32(out, 5);
                int[] a = (int[]) v;
                u64(out, a.length);
                for (int x : a) u32(out, x);
            } else if (v instanceof float[]) {
                u32(out, 9);
                u32(out, 6);
                float[] a = (float[]) v;
                u64(out, a.length);
                for (float x : a) u32(out, Float.floatToIntBits(x));
            } else {
                throw new IllegalArgumentException("unsupported test value " + v);
            }
        }
        Path p = Files.createTempFile(dir, "tok", ".gguf");
        Files.write(p, out.toByteArray());
        return p;
    }

    private static void u32(ByteArrayOutputStream out, int v) {
        out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array());
    }

    private static void u64(ByteArrayOutputStream out, long v) {
        out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
    }

    private static void str(ByteArrayOutputStream out, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        u64(out, b.length);
        out.writeBytes(b);
    }
}
