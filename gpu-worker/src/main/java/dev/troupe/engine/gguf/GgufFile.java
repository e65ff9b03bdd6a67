package dev.troupe.engine.gguf;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A GGUF (v2/v3) model file: metadata and tensor directory read eagerly, tensor data memory-mapped
 * lazily. Every structural problem is reported as a {@link GgufFormatException} naming the file, what was
 * expected and the byte offset.
 */
public final class GgufFile implements AutoCloseable {
    public static final int MAGIC = 0x46554747; // "GGUF" little-endian
    public static final int DEFAULT_ALIGNMENT = 32;
    private static final int MAX_DIMS = 4;
    /** Longest single metadata string accepted (real ones are at most a few hundred KB, e.g. chat templates). */
    public static final int MAX_STRING_BYTES = 256 << 20;
    /** Deepest nesting of metadata arrays accepted (real files use at most 1 level). */
    public static final int MAX_ARRAY_NESTING = 32;
    /** Bytes of the smallest possible tensor info: empty name, 1 dimension, type, offset. */
    private static final int MIN_TENSOR_INFO_BYTES = 8 + 4 + 8 + 4 + 8;

    private final Path path;
    private final FileChannel channel;
    private final int version;
    private final long alignment;
    private final long dataStart;
    private final Map<String, GgufValue> metadata;
    private final Map<String, GgufTensor> tensors;

    private GgufFile(Path path, FileChannel channel, int version, long alignment, long dataStart,
                     Map<String, GgufValue> metadata, Map<String, GgufTensor> tensors) {
        this.path = path;
        this.channel = channel;
        this.version = version;
        this.alignment = alignment;
        this.dataStart = dataStart;
        this.metadata = Collections.unmodifiableMap(metadata);
        this.tensors = Collections.unmodifiableMap(tensors);
    }

    public static GgufFile open(Path path) throws IOException {
        FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
        try {
            return read(path, ch);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    private static GgufFile read(Path path, FileChannel ch) throws IOException {
        long fileSize = ch.size();
        HeaderReader in = new HeaderReader(path, Channels.newInputStream(ch.position(0)), fileSize);
        int magic = in.i32("magic");
        if (magic != MAGIC) {
            throw new GgufFormatException(path, String.format(
                    "not a GGUF file: expected magic 'GGUF' (0x%08x) at byte 0, found 0x%08x", MAGIC, magic));
        }
        int version = in.i32("version");
        if (version != 2 && version != 3) {
            throw new GgufFormatException(path, "unsupported GGUF version " + version + " at byte 4 (supported: 2, 3)");
        }
        long tensorCount = in.count("tensor count", MIN_TENSOR_INFO_BYTES);
        long kvCount = in.count("metadata count", 8);

        Map<String, GgufValue> metadata = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            long at = in.position();
            String key = in.string("metadata key #" + i);
            int typeId = in.i32("type of metadata '" + key + "'");
            GgufValueType type = GgufValueType.byId(typeId);
            if (type == null) {
                throw new GgufFormatException(path, "unknown metadata value type " + typeId + " for key '" + key + "' at byte " + at);
            }
            metadata.put(key, in.value(type, key));
        }

        long alignment = DEFAULT_ALIGNMENT;
        GgufValue alignValue = metadata.get("general.alignment");
        if (alignValue != null) {
            alignment = alignValue.type().isInteger() ? (Long) alignValue.value() : -1;
            if (alignment <= 0 || Long.bitCount(alignment) != 1) {
                throw new GgufFormatException(path, "general.alignment must be a power of two, found " + alignValue);
            }
        }

        Map<String, GgufTensor> tensors = new LinkedHashMap<>();
        // grown as infos are actually read: a corrupt count must not allocate for tensors that are not there
        List<long[]> shapes = new ArrayList<>();
        List<String> names = new ArrayList<>();
        List<GgmlType> types = new ArrayList<>();
        List<Long> offsets = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (long i = 0; i < tensorCount; i++) {
            long at = in.position();
            String name = in.string("name of tensor #" + i);
            int nDims = in.i32("dimension count of tensor '" + name + "'");
            if (nDims < 1 || nDims > MAX_DIMS) {
                throw new GgufFormatException(path, "tensor '" + name + "' at byte " + at + ": expected 1.." + MAX_DIMS + " dimensions, found " + nDims);
            }
            long[] shape = new long[nDims];
            for (int d = 0; d < nDims; d++) {
                shape[d] = in.i64("dimension " + d + " of tensor '" + name + "'");
                if (shape[d] <= 0 || shape[d] > Integer.MAX_VALUE) {
                    throw new GgufFormatException(path, "tensor '" + name + "': dimension " + d + " is " + shape[d] + ", expected 1.." + Integer.MAX_VALUE);
                }
            }
            int typeId = in.i32("type of tensor '" + name + "'");
            GgmlType type = GgmlType.byId(typeId);
            if (type == null) {
                throw new GgufFormatException(path, "tensor '" + name + "' has unknown tensor type id " + typeId + " (at byte " + (in.position() - 4) + ")");
            }
            long offset = in.i64("data offset of tensor '" + name + "'");
            if (!seen.add(name)) {
                throw new GgufFormatException(path, "duplicate tensor name '" + name + "'");
            }
            names.add(name);
            shapes.add(shape);
            types.add(type);
            offsets.add(offset);
        }
        long dataStart = align(in.position(), alignment);
        for (int i = 0; i < names.size(); i++) {
            String name = names.get(i);
            long[] shape = shapes.get(i);
            GgmlType type = types.get(i);
            long offset = offsets.get(i);
            if (shape[0] % type.blockSize() != 0) {
                throw new GgufFormatException(path, "tensor '" + name + "' of type " + type + " has row length " + shape[0]
                        + ", not a multiple of its block size " + type.blockSize());
            }
            long bytes;
            try {
                long elements = 1;
                for (long d : shape) {
                    elements = Math.multiplyExact(elements, d);
                }
                bytes = Math.multiplyExact(elements / type.blockSize(), (long) type.blockBytes());
            } catch (ArithmeticException e) {
                throw new GgufFormatException(path, "tensor '" + name + "' of type " + type + " and shape " + Arrays.toString(shape)
                        + " has more bytes than a file can hold");
            }
            if (offset % alignment != 0) {
                throw new GgufFormatException(path, "tensor '" + name + "' data offset " + offset + " is not aligned to " + alignment);
            }
            // compared without sums that could overflow: offset + bytes must fit in what follows dataStart
            long room = fileSize - dataStart;
            if (offset < 0 || offset > room || bytes > room - offset) {
                throw new GgufFormatException(path, "truncated: tensor '" + name + "' needs " + bytes + " bytes at data offset " + offset
                        + " but the file has " + fileSize + " bytes, data starting at byte " + dataStart);
            }
            long start = dataStart + offset;
            if (bytes > Integer.MAX_VALUE) {
                throw new GgufFormatException(path, "tensor '" + name + "' is " + bytes + " bytes; tensors over 2 GiB are not supported yet");
            }
            tensors.put(name, new GgufTensor(name, type, shape, start, bytes, ch));
        }
        return new GgufFile(path, ch, version, alignment, dataStart, metadata, tensors);
    }

    static long align(long offset, long alignment) {
        return (offset + alignment - 1) / alignment * alignment;
    }

    public Path path() { return path; }

    public int version() { return version; }

    public long alignment() { return alignment; }

    /** Absolute offset where tensor data begins. */
    public long dataStart() { return dataStart; }

    /** All metadata in file order. */
    public Map<String, GgufValue> metadata() { return metadata; }

    /** All tensors in file order. */
    public Map<String, GgufTensor> tensors() { return tensors; }

    public boolean has(String key) { return metadata.containsKey(key); }

    public boolean hasTensor(String name) { return tensors.containsKey(name); }

    public GgufTensor tensor(String name) throws GgufFormatException {
        GgufTensor t = tensors.get(name);
        if (t == null) throw new GgufFormatException(path, "missing tensor '" + name + "'");
        return t;
    }

    private GgufValue require(String key) throws GgufFormatException {
        GgufValue v = metadata.get(key);
        if (v == null) throw new GgufFormatException(path, "missing metadata key '" + key + "'");
        return v;
    }

    private GgufFormatException wrongType(String key, GgufValue v, String expected) {
        return new GgufFormatException(path, "metadata '" + key + "' should be " + expected + ", found " + v);
    }

    public String getString(String key) throws GgufFormatException {
        GgufValue v = require(key);
        if (v.type() != GgufValueType.STRING) throw wrongType(key, v, "a string");
        return (String) v.value();
    }

    public String getString(String key, String fallback) throws GgufFormatException {
        return has(key) ? getString(key) : fallback;
    }

    public long getLong(String key) throws GgufFormatException {
        GgufValue v = require(key);
        if (!v.type().isInteger()) throw wrongType(key, v, "an integer");
        return (Long) v.value();
    }

    public int getInt(String key) throws GgufFormatException {
        long v = getLong(key);
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) throw wrongType(key, require(key), "a 32-bit integer");
        return (int) v;
    }

    public int getInt(String key, int fallback) throws GgufFormatException {
        return has(key) ? getInt(key) : fallback;
    }

    public float getFloat(String key, float fallback) throws GgufFormatException {
        if (!has(key)) return fallback;
        GgufValue v = require(key);
        if (v.value() instanceof Number) return ((Number) v.value()).floatValue();
        throw wrongType(key, v, "a number");
    }

    public boolean getBoolean(String key, boolean fallback) throws GgufFormatException {
        if (!has(key)) return fallback;
        GgufValue v = require(key);
        if (v.type() != GgufValueType.BOOL) throw wrongType(key, v, "a boolean");
        return (Boolean) v.value();
    }

    public String[] getStringArray(String key) throws GgufFormatException {
        GgufValue v = require(key);
        if (v.type() != GgufValueType.ARRAY || v.elementType() != GgufValueType.STRING) throw wrongType(key, v, "an array of strings");
        return (String[]) v.value();
    }

    public float[] getFloatArray(String key) throws GgufFormatException {
        GgufValue v = require(key);
        if (v.type() == GgufValueType.ARRAY && v.value() instanceof float[]) return (float[]) v.value();
        throw wrongType(key, v, "an array of FLOAT32");
    }

    /** An integer array of any integer element type, widened or narrowed to int (values must fit). */
    public int[] getIntArray(String key) throws GgufFormatException {
        GgufValue v = require(key);
        if (v.type() != GgufValueType.ARRAY || v.elementType() == null || !v.elementType().isInteger()) {
            throw wrongType(key, v, "an array of integers");
        }
        Object a = v.value();
        if (a instanceof int[]) return (int[]) a;
        int n = v.length();
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            long x;
            if (a instanceof byte[]) x = ((byte[]) a)[i];
            else if (a instanceof short[]) x = ((short[]) a)[i];
            else x = ((long[]) a)[i];
            out[i] = (int) x;
        }
        return out;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }

    @Override
    public String toString() {
        return "GgufFile[" + path + ", v" + version + ", " + metadata.size() + " keys, " + tensors.size() + " tensors]";
    }

    /** Sequential little-endian reader of the header that knows where it is and how much file is left. */
    private static final class HeaderReader {
        private final Path path;
        private final InputStream in;
        private final long size;
        private long pos;
        private final byte[] scratch = new byte[8];

        HeaderReader(Path path, InputStream in, long size) {
            this.path = path;
            this.in = new BufferedInputStream(in, 1 << 16);
            this.size = size;
        }

        long position() { return pos; }

        private void fill(int n, String what) throws IOException {
            int read = 0;
            while (read < n) {
                int r = in.read(scratch, read, n - read);
                if (r < 0) throw truncated(what, n);
                read += r;
            }
            pos += n;
        }

        private GgufFormatException truncated(String what, long needed) {
            return new GgufFormatException(path, "truncated: expected " + what + " (" + needed + " bytes) at byte " + pos
                    + " but the file has " + size + " bytes");
        }

        int i32(String what) throws IOException {
            fill(4, what);
            return (scratch[0] & 0xFF) | (scratch[1] & 0xFF) << 8 | (scratch[2] & 0xFF) << 16 | (scratch[3] & 0xFF) << 24;
        }

        long i64(String what) throws IOException {
            fill(8, what);
            long v = 0;
            for (int i = 7; i >= 0; i--) v = (v << 8) | (scratch[i] & 0xFF);
            return v;
        }

        /** A count that must fit in what is left of the file, given each item takes at least minBytes. */
        long count(String what, int minBytes) throws IOException {
            long at = pos;
            long n = i64(what);
            if (n < 0 || (minBytes > 0 && n > (size - pos) / minBytes)) {
                throw new GgufFormatException(path, "implausible " + what + " " + n + " at byte " + at + " (file has " + size + " bytes)");
            }
            return n;
        }

        String string(String what) throws IOException {
            long at = pos;
            long len = i64("length of " + what);
            if (len < 0 || len > size - pos) {
                throw new GgufFormatException(path, "string length " + len + " of " + what + " at byte " + at + " runs past the end of the file (" + size + " bytes)");
            }
            if (len > MAX_STRING_BYTES) {
                throw new GgufFormatException(path, "string length " + len + " of " + what + " at byte " + at + " exceeds the limit of "
                        + MAX_STRING_BYTES + " bytes for one string");
            }
            byte[] b = new byte[(int) len];
            int read = 0;
            while (read < len) {
                int r = in.read(b, read, (int) len - read);
                if (r < 0) throw truncated(what, len);
                read += r;
            }
            pos += len;
            try {
                return StandardCharsets.UTF_8.newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(java.nio.ByteBuffer.wrap(b)).toString();
            } catch (CharacterCodingException e) {
                // Some vocabularies carry raw bytes; keep them losslessly rather than fail the whole file.
                return new String(b, StandardCharsets.ISO_8859_1);
            }
        }

        GgufValue value(GgufValueType type, String key) throws IOException {
            String what = "value of '" + key + "'";
            switch (type) {
                case UINT8: fill(1, what); return GgufValue.of(type, (long) (scratch[0] & 0xFF));
                case INT8: fill(1, what); return GgufValue.of(type, (long) scratch[0]);
                case UINT16: fill(2, what); return GgufValue.of(type, (long) ((scratch[0] & 0xFF) | (scratch[1] & 0xFF) << 8));
                case INT16: fill(2, what); return GgufValue.of(type, (long) (short) ((scratch[0] & 0xFF) | (scratch[1] & 0xFF) << 8));
                case UINT32: return GgufValue.of(type, i32(what) & 0xFFFFFFFFL);
                case INT32: return GgufValue.of(type, (long) i32(what));
                case UINT64: case INT64: return GgufValue.of(type, i64(what));
                case FLOAT32: return GgufValue.of(type, Float.intBitsToFloat(i32(what)));
                case FLOAT64: return GgufValue.of(type, Double.longBitsToDouble(i64(what)));
                case BOOL: {
                    fill(1, what);
                    if (scratch[0] != 0 && scratch[0] != 1) {
                        throw new GgufFormatException(path, "boolean " + what + " at byte " + (pos - 1) + " is " + scratch[0] + ", expected 0 or 1");
                    }
                    return GgufValue.of(type, scratch[0] == 1);
                }
                case STRING: return GgufValue.of(type, string(what));
                case ARRAY: return array(key, 1);
                default: throw new IllegalStateException(type.toString());
            }
        }

        /** Initial capacity for an array of n elements: grown as elements are read, so a corrupt count costs nothing. */
        private static int initial(int n) { return Math.min(n, 1 << 12); }

        private static int grow(int capacity, int n) { return (int) Math.min(n, Math.max(16, 2L * capacity)); }

        private GgufValue array(String key, int depth) throws IOException {
            long at = pos;
            if (depth > MAX_ARRAY_NESTING) {
                throw new GgufFormatException(path, "metadata '" + key + "' at byte " + at + " has arrays nested deeper than " + MAX_ARRAY_NESTING);
            }
            int elemId = i32("element type of array '" + key + "'");
            GgufValueType elem = GgufValueType.byId(elemId);
            if (elem == null) {
                throw new GgufFormatException(path, "unknown array element type " + elemId + " for key '" + key + "' at byte " + at);
            }
            int minBytes = elemSize(elem);
            long n = count("element count of array '" + key + "'", Math.max(minBytes, 1));
            if (n > Integer.MAX_VALUE - 8) {
                throw new GgufFormatException(path, "element count " + n + " of array '" + key + "' at byte " + (at + 4) + " is more than a Java array holds");
            }
            int len = (int) n;
            String what = "element of array '" + key + "'";
            switch (elem) {
                case UINT8: case INT8: {
                    byte[] a = new byte[initial(len)];
                    for (int i = 0; i < len; i++) {
                        if (i == a.length) a = Arrays.copyOf(a, grow(a.length, len));
                        fill(1, what);
                        a[i] = scratch[0];
                    }
                    return GgufValue.array(elem, a);
                }
                case UINT16: case INT16: {
                    short[] a = new short[initial(len)];
                    for (int i = 0; i < len; i++) {
                        if (i == a.length) a = Arrays.copyOf(a, grow(a.length, len));
                        fill(2, what);
                        a[i] = (short) ((scratch[0] & 0xFF) | (scratch[1] & 0xFF) << 8);
                    }
                    return GgufValue.array(elem, a);
                }
                case UINT32: case INT32: {
                    int[] a = new int[initial(len)];
                    for (int i = 0; i < len; i++) {
                        if (i == a.length) a = Arrays.copyOf(a, grow(a.length, len));
                        a[i] = i32(what);
                    }
                    return GgufValue.array(elem, a);
                }
                case UINT64: case INT64: {
                    long[] a = new long[initial(len)];
                    for (int i = 0; i < len; i++) {
                        if (i == a.length) a = Arrays.copyOf(a, grow(a.length, len));
                        a[i] = i64(what);
                    }
                    return GgufValue.array(elem, a);
                }
                case FLOAT32: {
                    float[] a = new float[initial(len)];
                    for (int i = 0; i < len; i++) {
                        if (i == a.length) a = Arrays.copyOf(a, grow(a.length, len));
                        a[i] = Float.intBitsToFloat(i32(what));
                    }
                    return GgufValue.array(elem, a);
                }
                case FLOAT64: {
                    double[] a = new double[initial(len)];
                    for (int i = 0; i < len; i++) {
                        if (i == a.length) a = Arrays.copyOf(a, grow(a.length, len));
                        a[i] = Double.longBitsToDouble(i64(what));
                    }
                    return GgufValue.array(elem, a);
                }
                case BOOL: {
                    boolean[] a = new boolean[initial(len)];
                    for (int i = 0; i < len; i++) {
                        if (i == a.length) a = Arrays.copyOf(a, grow(a.length, len));
                        a[i] = (Boolean) value(GgufValueType.BOOL, key).value();
                    }
                    return GgufValue.array(elem, a);
                }
                case STRING: {
                    String[] a = new String[initial(len)];
                    for (int i = 0; i < len; i++) {
                        if (i == a.length) a = Arrays.copyOf(a, grow(a.length, len));
                        a[i] = string(what + " #" + i);
                    }
                    return GgufValue.array(elem, a);
                }
                case ARRAY: {
                    GgufValue[] a = new GgufValue[initial(len)];
                    for (int i = 0; i < len; i++) {
                        if (i == a.length) a = Arrays.copyOf(a, grow(a.length, len));
                        a[i] = array(key + "[" + i + "]", depth + 1);
                    }
                    return GgufValue.array(elem, a);
                }
                default: throw new IllegalStateException(elem.toString());
            }
        }

        private static int elemSize(GgufValueType t) {
            switch (t) {
                case UINT8: case INT8: case BOOL: return 1;
                case UINT16: case INT16: return 2;
                case UINT32: case INT32: case FLOAT32: return 4;
                case UINT64: case INT64: case FLOAT64: case STRING: case ARRAY: return 8;
                default: return 1;
            }
        }
    }
}
