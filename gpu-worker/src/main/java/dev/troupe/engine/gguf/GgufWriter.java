package dev.troupe.engine.gguf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Writes GGUF v3 files: metadata in insertion order, then the tensor directory, then the tensor data, each
 * tensor at an offset aligned to {@code general.alignment} (32 unless that key is put).
 *
 * <p>Tensor data is streamed: float tensors are encoded with the type's {@link TensorCodec} in small chunks
 * straight into the file, and a {@link TensorSource} produces its floats only when that tensor is being
 * written, so a model larger than the heap can be written one tensor at a time. The file is first written
 * next to the target and moved into place when complete, so a failed write leaves no half file behind.
 *
 * <p>Not thread-safe. A writer can be written more than once; sources are asked again each time.
 */
public final class GgufWriter {
    /** Produces all the floats of one tensor (in GGUF order: shape[0] fastest) when it is written. */
    @FunctionalInterface
    public interface TensorSource {
        float[] values() throws IOException;
    }

    /** Longest tensor name llama.cpp accepts (GGML_MAX_NAME - 1 bytes of UTF-8). */
    public static final int MAX_TENSOR_NAME_BYTES = 63;
    private static final int MAX_DIMS = 4;
    private static final int BUFFER_BYTES = 1 << 20;
    private static final java.security.SecureRandom TMP_SALT = new java.security.SecureRandom();

    private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
    private final Map<String, PendingTensor> tensors = new LinkedHashMap<>();

    /** A tensor to be written: exactly one of floats, source, raw is set. */
    private record PendingTensor(String name, GgmlType type, long[] shape, long elements, long bytes,
                                 float[] floats, TensorSource source, ByteBuffer raw) {}

    // ---------------------------------------------------------------- metadata

    /**
     * Adds (or replaces, keeping its place) one metadata entry. The value must be shaped as {@link GgufFile}
     * returns it: integer scalars as any integral Number in range of the type, FLOAT32/FLOAT64 as Number,
     * arrays as the matching primitive array (byte[] for (U)INT8, short[], int[], long[], float[], double[],
     * boolean[], String[], or GgufValue[] of ARRAY values for nested arrays). Arrays are copied.
     */
    public GgufWriter put(String key, GgufValue value) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(value, "value of '" + key + "'");
        metadata.put(key, checked(key, value));
        return this;
    }

    public GgufWriter putString(String key, String value) {
        return put(key, GgufValue.string(value));
    }

    public GgufWriter putUInt32(String key, long value) {
        return put(key, GgufValue.uint32(value));
    }

    public GgufWriter putInt32(String key, int value) {
        return put(key, GgufValue.int32(value));
    }

    public GgufWriter putUInt64(String key, long value) {
        return put(key, GgufValue.of(GgufValueType.UINT64, value));
    }

    public GgufWriter putFloat32(String key, float value) {
        return put(key, GgufValue.float32(value));
    }

    public GgufWriter putBool(String key, boolean value) {
        return put(key, GgufValue.bool(value));
    }

    public GgufWriter putStringArray(String key, String... values) {
        return put(key, GgufValue.array(GgufValueType.STRING, values));
    }

    public GgufWriter putFloatArray(String key, float... values) {
        return put(key, GgufValue.array(GgufValueType.FLOAT32, values));
    }

    public GgufWriter putInt32Array(String key, int... values) {
        return put(key, GgufValue.array(GgufValueType.INT32, values));
    }

    /** The metadata put so far, in file order (read-only view). */
    public Map<String, GgufValue> metadata() {
        return Collections.unmodifiableMap(metadata);
    }

    public GgufValue get(String key) {
        return metadata.get(key);
    }

    public GgufWriter remove(String key) {
        metadata.remove(key);
        return this;
    }

    private static GgufValue checked(String key, GgufValue v) {
        GgufValueType type = Objects.requireNonNull(v.type(), "type of '" + key + "'");
        if (type != GgufValueType.ARRAY) {
            if (v.elementType() != null) throw bad(key, "a scalar " + type + " has no element type");
            return GgufValue.of(type, scalar(key, type, v.value()));
        }
        GgufValueType elem = v.elementType();
        if (elem == null) throw bad(key, "an ARRAY needs an element type");
        Object a = v.value();
        Object copy;
        switch (elem) {
            case UINT8: case INT8: copy = ((byte[]) expect(key, a, byte[].class, elem)).clone(); break;
            case UINT16: case INT16: copy = ((short[]) expect(key, a, short[].class, elem)).clone(); break;
            case UINT32: case INT32: copy = ((int[]) expect(key, a, int[].class, elem)).clone(); break;
            case UINT64: case INT64: copy = ((long[]) expect(key, a, long[].class, elem)).clone(); break;
            case FLOAT32: copy = ((float[]) expect(key, a, float[].class, elem)).clone(); break;
            case FLOAT64: copy = ((double[]) expect(key, a, double[].class, elem)).clone(); break;
            case BOOL: copy = ((boolean[]) expect(key, a, boolean[].class, elem)).clone(); break;
            case STRING: {
                String[] s = ((String[]) expect(key, a, String[].class, elem)).clone();
                for (int i = 0; i < s.length; i++) {
                    if (s[i] == null) throw bad(key, "string array element " + i + " is null");
                }
                copy = s;
                break;
            }
            case ARRAY: {
                GgufValue[] in = (GgufValue[]) expect(key, a, GgufValue[].class, elem);
                GgufValue[] out = new GgufValue[in.length];
                for (int i = 0; i < in.length; i++) {
                    String k = key + "[" + i + "]";
                    if (in[i] == null || in[i].type() != GgufValueType.ARRAY) {
                        throw bad(k, "elements of an ARRAY<ARRAY> must be ARRAY values, found " + in[i]);
                    }
                    out[i] = checked(k, in[i]);
                }
                copy = out;
                break;
            }
            default: throw new IllegalStateException(elem.toString());
        }
        return GgufValue.array(elem, copy);
    }

    private static Object expect(String key, Object a, Class<?> cls, GgufValueType elem) {
        if (!cls.isInstance(a)) {
            throw bad(key, "an ARRAY<" + elem + "> needs a " + cls.getSimpleName() + ", found "
                    + (a == null ? "null" : a.getClass().getSimpleName()));
        }
        return a;
    }

    private static Object scalar(String key, GgufValueType type, Object value) {
        switch (type) {
            case UINT8: return integer(key, type, value, 0, 0xFF);
            case INT8: return integer(key, type, value, Byte.MIN_VALUE, Byte.MAX_VALUE);
            case UINT16: return integer(key, type, value, 0, 0xFFFF);
            case INT16: return integer(key, type, value, Short.MIN_VALUE, Short.MAX_VALUE);
            case UINT32: return integer(key, type, value, 0, 0xFFFFFFFFL);
            case INT32: return integer(key, type, value, Integer.MIN_VALUE, Integer.MAX_VALUE);
            // 64-bit: any long (UINT64 above Long.MAX_VALUE is written from its wrapped negative value)
            case UINT64: case INT64: return integer(key, type, value, Long.MIN_VALUE, Long.MAX_VALUE);
            case FLOAT32:
                if (value instanceof Number) return ((Number) value).floatValue();
                throw bad(key, "FLOAT32 needs a Number, found " + value);
            case FLOAT64:
                if (value instanceof Number) return ((Number) value).doubleValue();
                throw bad(key, "FLOAT64 needs a Number, found " + value);
            case BOOL:
                if (value instanceof Boolean) return value;
                throw bad(key, "BOOL needs a Boolean, found " + value);
            case STRING:
                if (value instanceof String) return value;
                throw bad(key, "STRING needs a String, found " + value);
            default: throw new IllegalStateException(type.toString());
        }
    }

    private static Long integer(String key, GgufValueType type, Object value, long min, long max) {
        if (!(value instanceof Long || value instanceof Integer || value instanceof Short || value instanceof Byte)) {
            throw bad(key, type + " needs an integral Number, found " + value);
        }
        long v = ((Number) value).longValue();
        if (v < min || v > max) throw bad(key, "value " + v + " out of range of " + type + " [" + min + ", " + max + "]");
        return v;
    }

    private static IllegalArgumentException bad(String key, String message) {
        return new IllegalArgumentException("metadata '" + key + "': " + message);
    }

    // ---------------------------------------------------------------- tensors

    /** Adds a tensor encoded from {@code values} with the type's codec when written (the array is kept, not copied). */
    /** Drops a tensor added earlier (no-op when absent). */
    public GgufWriter removeTensor(String name) {
        tensors.remove(name);
        return this;
    }

    public GgufWriter addTensor(String name, GgmlType type, long[] shape, float[] values) {
        Objects.requireNonNull(values, "values");
        PendingTensor p = describe(name, type, shape, true);
        if (values.length != p.elements) {
            throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(shape) + " has "
                    + p.elements + " elements but " + values.length + " values were given");
        }
        return add(new PendingTensor(p.name, type, p.shape, p.elements, p.bytes, values, null, null));
    }

    /** Adds a tensor whose floats are produced by {@code source} only while the file is being written. */
    public GgufWriter addTensor(String name, GgmlType type, long[] shape, TensorSource source) {
        Objects.requireNonNull(source, "source");
        PendingTensor p = describe(name, type, shape, true);
        return add(new PendingTensor(p.name, type, p.shape, p.elements, p.bytes, null, source, null));
    }

    /** Adds already-encoded data: the remaining bytes of {@code rawBytes} (its position is not changed). */
    public GgufWriter addTensor(String name, GgmlType type, long[] shape, ByteBuffer rawBytes) {
        Objects.requireNonNull(rawBytes, "rawBytes");
        PendingTensor p = describe(name, type, shape, false);
        if (rawBytes.remaining() != p.bytes) {
            throw new IllegalArgumentException("tensor '" + name + "': " + type + " " + Arrays.toString(shape) + " needs "
                    + p.bytes + " bytes, " + rawBytes.remaining() + " were given");
        }
        return add(new PendingTensor(p.name, type, p.shape, p.elements, p.bytes, null, null, rawBytes.slice()));
    }

    private GgufWriter add(PendingTensor t) {
        tensors.put(t.name, t);
        return this;
    }

    private PendingTensor describe(String name, GgmlType type, long[] shape, boolean needsCodec) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type of tensor '" + name + "'");
        Objects.requireNonNull(shape, "shape of tensor '" + name + "'");
        if (tensors.containsKey(name)) throw new IllegalArgumentException("duplicate tensor name '" + name + "'");
        int nameBytes = name.getBytes(StandardCharsets.UTF_8).length;
        if (nameBytes == 0 || nameBytes > MAX_TENSOR_NAME_BYTES) {
            throw new IllegalArgumentException("tensor name '" + name + "' must be 1.." + MAX_TENSOR_NAME_BYTES + " bytes of UTF-8");
        }
        if (shape.length < 1 || shape.length > MAX_DIMS) {
            throw new IllegalArgumentException("tensor '" + name + "' needs 1.." + MAX_DIMS + " dimensions, got " + shape.length);
        }
        long elements = 1;
        for (int d = 0; d < shape.length; d++) {
            if (shape[d] <= 0 || shape[d] > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("tensor '" + name + "': dimension " + d + " is " + shape[d] + ", expected 1.." + Integer.MAX_VALUE);
            }
            elements = Math.multiplyExact(elements, shape[d]);
        }
        if (shape[0] % type.blockSize() != 0) {
            throw new IllegalArgumentException("tensor '" + name + "' of type " + type + " needs a row length (shape[0]) that is a multiple of "
                    + type.blockSize() + ", got " + shape[0]);
        }
        if (needsCodec) {
            if (!TensorCodec.isSupported(type)) TensorCodec.of(type); // throws, naming the supported types
            if (elements > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("tensor '" + name + "' has " + elements + " elements, too many for one float[]");
            }
        }
        return new PendingTensor(name, type, shape.clone(), elements, type.bytesFor(elements), null, null, null);
    }

    public int tensorCount() {
        return tensors.size();
    }

    // ---------------------------------------------------------------- writing

    /** The alignment the file will use: {@code general.alignment} if put, else 32. */
    public long alignment() {
        GgufValue v = metadata.get("general.alignment");
        if (v == null) return GgufFile.DEFAULT_ALIGNMENT;
        long a = v.type().isInteger() ? (Long) v.value() : -1;
        if (a <= 0 || Long.bitCount(a) != 1) {
            throw new IllegalStateException("general.alignment must be a positive power of two, found " + v);
        }
        return a;
    }

    /** Writes the GGUF v3 file, replacing {@code path} when complete. */
    public void write(Path path) throws IOException {
        long alignment = alignment();
        Path abs = path.toAbsolutePath();
        Path dir = abs.getParent();
        // not Files.createTempFile: that makes the file owner-only, and the model should get the usual permissions
        Path tmp = dir.resolve("." + abs.getFileName() + "." + Long.toHexString(System.nanoTime() ^ TMP_SALT.nextLong()) + ".partial");
        FileChannel created = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        boolean done = false;
        try {
            try (FileChannel ch = created) {
                writeTo(ch, alignment);
                ch.force(false);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
            done = true;
        } finally {
            if (!done) Files.deleteIfExists(tmp);
        }
    }

    private void writeTo(FileChannel ch, long alignment) throws IOException {
        Out out = new Out(ch);
        out.u32(GgufFile.MAGIC);
        out.u32(3);
        out.u64(tensors.size());
        out.u64(metadata.size());
        for (Map.Entry<String, GgufValue> e : metadata.entrySet()) {
            out.string(e.getKey());
            out.u32(e.getValue().type().ordinal());
            value(out, e.getValue());
        }
        List<Long> offsets = new ArrayList<>(tensors.size());
        long offset = 0;
        for (PendingTensor t : tensors.values()) {
            offset = GgufFile.align(offset, alignment);
            offsets.add(offset);
            out.string(t.name);
            out.u32(t.shape.length);
            for (long d : t.shape) out.u64(d);
            out.u32(t.type.id());
            out.u64(offset);
            offset += t.bytes;
        }
        long dataStart = out.padTo(alignment);
        int i = 0;
        for (PendingTensor t : tensors.values()) {
            long start = dataStart + offsets.get(i++);
            out.padTo(alignment);
            if (out.position() != start) throw new IllegalStateException("tensor '" + t.name + "' lands at " + out.position() + ", not " + start);
            data(out, t);
        }
        out.padTo(alignment); // like ggml and gguf-py: the data section ends padded
        out.flush();
    }

    private static void value(Out out, GgufValue v) throws IOException {
        Object x = v.value();
        switch (v.type()) {
            case UINT8: case INT8: out.u8((int) (long) (Long) x); break;
            case UINT16: case INT16: out.u16((int) (long) (Long) x); break;
            case UINT32: case INT32: out.u32((int) (long) (Long) x); break;
            case UINT64: case INT64: out.u64((Long) x); break;
            case FLOAT32: out.u32(Float.floatToRawIntBits((Float) x)); break;
            case FLOAT64: out.u64(Double.doubleToRawLongBits((Double) x)); break;
            case BOOL: out.u8((Boolean) x ? 1 : 0); break;
            case STRING: out.string((String) x); break;
            case ARRAY: array(out, v); break;
            default: throw new IllegalStateException(v.type().toString());
        }
    }

    private static void array(Out out, GgufValue v) throws IOException {
        Object a = v.value();
        out.u32(v.elementType().ordinal());
        out.u64(v.length());
        switch (v.elementType()) {
            case UINT8: case INT8: for (byte b : (byte[]) a) out.u8(b); break;
            case UINT16: case INT16: for (short s : (short[]) a) out.u16(s); break;
            case UINT32: case INT32: for (int n : (int[]) a) out.u32(n); break;
            case UINT64: case INT64: for (long n : (long[]) a) out.u64(n); break;
            case FLOAT32: for (float f : (float[]) a) out.u32(Float.floatToRawIntBits(f)); break;
            case FLOAT64: for (double d : (double[]) a) out.u64(Double.doubleToRawLongBits(d)); break;
            case BOOL: for (boolean b : (boolean[]) a) out.u8(b ? 1 : 0); break;
            case STRING: for (String s : (String[]) a) out.string(s); break;
            case ARRAY: for (GgufValue n : (GgufValue[]) a) array(out, n); break;
            default: throw new IllegalStateException(v.elementType().toString());
        }
    }

    private static void data(Out out, PendingTensor t) throws IOException {
        if (t.raw != null) {
            out.bytes(t.raw.duplicate());
            return;
        }
        float[] values = t.floats;
        if (values == null) {
            values = t.source.values();
            if (values == null || values.length != t.elements) {
                throw new IllegalStateException("source of tensor '" + t.name + "' produced "
                        + (values == null ? "null" : values.length + " values") + ", expected " + t.elements);
            }
        }
        TensorCodec codec = TensorCodec.of(t.type);
        int chunk = BUFFER_BYTES / t.type.blockBytes() * t.type.blockSize(); // elements per encoded chunk
        ByteBuffer buf = out.scratch();
        for (int from = 0; from < values.length; from += chunk) {
            int n = Math.min(chunk, values.length - from);
            buf.clear();
            codec.quantize(values, from, n, buf, 0);
            buf.limit((int) t.type.bytesFor(n));
            out.bytes(buf);
        }
    }

    /** Buffered little-endian output that tracks the absolute file position. */
    private static final class Out {
        private final FileChannel ch;
        private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        private ByteBuffer scratch;
        private long flushed;

        Out(FileChannel ch) { this.ch = ch; }

        long position() { return flushed + buf.position(); }

        ByteBuffer scratch() {
            if (scratch == null) scratch = ByteBuffer.allocate(BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            return scratch;
        }

        private void room(int n) throws IOException {
            if (buf.remaining() < n) flush();
        }

        void flush() throws IOException {
            buf.flip();
            while (buf.hasRemaining()) flushed += ch.write(buf);
            buf.clear();
        }

        void u8(int v) throws IOException { room(1); buf.put((byte) v); }

        void u16(int v) throws IOException { room(2); buf.putShort((short) v); }

        void u32(int v) throws IOException { room(4); buf.putInt(v); }

        void u64(long v) throws IOException { room(8); buf.putLong(v); }

        void string(String s) throws IOException {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            u64(b.length);
            bytes(ByteBuffer.wrap(b));
        }

        /** Writes the remaining bytes of src (consuming them). */
        void bytes(ByteBuffer src) throws IOException {
            if (src.remaining() <= buf.remaining()) {
                buf.put(src);
                return;
            }
            flush();
            while (src.hasRemaining()) flushed += ch.write(src);
        }

        /** Zero-pads to the next multiple of alignment; returns the new position. */
        long padTo(long alignment) throws IOException {
            long pad = GgufFile.align(position(), alignment) - position();
            for (long i = 0; i < pad; i++) u8(0);
            return position();
        }
    }
}
