package dev.troupe.engine.model;

import dev.troupe.engine.gguf.GgmlType;
import dev.troupe.engine.gguf.GgufFormatException;
import dev.troupe.engine.gguf.GgufTensor;
import dev.troupe.engine.gguf.TensorCodec;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.file.Path;

/**
 * A 2-D weight as the kernels see it: {@code rows} output features, each a row of {@code cols} input
 * features, stored in the GGUF's own encoding inside the memory-mapped file (never copied to the heap).
 */
public final class WeightMatrix {
    private final String name;
    private final GgmlType type;
    private final int rows;
    private final int cols;
    private final int rowBytes;
    private ByteBuffer data;             // little-endian, absolute reads only (shared by threads); null once released
    private FloatBuffer floats;          // F32 view of data, null for other types
    private final TensorCodec codec;
    private volatile Object kernelData;  // a backend's own copy/layout of this matrix, set once at load

    private WeightMatrix(String name, GgmlType type, int rows, int cols, ByteBuffer data) {
        this.name = name;
        this.type = type;
        this.rows = rows;
        this.cols = cols;
        this.rowBytes = (int) type.bytesFor(cols);
        this.data = data;
        this.floats = type == GgmlType.F32 ? data.asFloatBuffer() : null;
        this.codec = TensorCodec.of(type);
    }

    /** Wraps a tensor, checking it has the expected [cols, rows] GGUF shape and a supported type. */
    public static WeightMatrix of(Path file, GgufTensor t, int expectedCols, int expectedRows) throws GgufFormatException {
        if (t.dims() > 2 || t.dim(0) != expectedCols || t.dim(1) != expectedRows) {
            throw new GgufFormatException(file, "tensor '" + t.name() + "' has shape " + java.util.Arrays.toString(t.shape())
                    + ", expected [" + expectedCols + ", " + expectedRows + "]");
        }
        if (!TensorCodec.isSupported(t.type())) {
            throw new GgufFormatException(file, "tensor '" + t.name() + "' has type " + t.type()
                    + ", which is not supported (supported: " + TensorCodec.SUPPORTED + ")");
        }
        return new WeightMatrix(t.name(), t.type(), expectedRows, expectedCols, t.data());
    }

    /** Rows [r0, r0 + n) as a matrix of their own: a view of the same mapped bytes, nothing copied. */
    public WeightMatrix rowSlice(int r0, int n) {
        if (r0 < 0 || n < 1 || r0 + n > rows) throw new IllegalArgumentException("rows [" + r0 + ", " + (r0 + n) + ") of " + rows + " in " + name);
        if (r0 == 0 && n == rows) return this;
        ByteBuffer part = live().slice((int) ((long) r0 * rowBytes), n * rowBytes).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        return new WeightMatrix(name + "[rows " + r0 + ".." + (r0 + n) + "]", type, n, cols, part);
    }

    /**
     * Columns [c0, c0 + n) of every row as a matrix of their own, copied out of the file (columns are not
     * contiguous). Quantized types keep their encoding, so both ends must fall on a block boundary.
     */
    public WeightMatrix columnSlice(int c0, int n) {
        if (c0 < 0 || n < 1 || c0 + n > cols) throw new IllegalArgumentException("columns [" + c0 + ", " + (c0 + n) + ") of " + cols + " in " + name);
        if (c0 == 0 && n == cols) return this;
        if (c0 % type.blockSize() != 0 || n % type.blockSize() != 0) {
            throw new IllegalArgumentException(name + " is " + type + ", whose blocks hold " + type.blockSize()
                    + " columns: a share of columns [" + c0 + ", " + (c0 + n) + ") would split a block");
        }
        int skip = (int) type.bytesFor(c0), partBytes = (int) type.bytesFor(n);
        ByteBuffer part = ByteBuffer.allocateDirect(rows * partBytes).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        ByteBuffer src = live();
        for (int r = 0; r < rows; r++) part.put(r * partBytes, src, r * rowBytes + skip, partBytes);
        return new WeightMatrix(name + "[cols " + c0 + ".." + (c0 + n) + "]", type, rows, n, part);
    }

    /** Bytes of this matrix in its encoding. */
    public long bytes() { return (long) rows * rowBytes; }

    public String name() { return name; }

    public GgmlType type() { return type; }

    public int rows() { return rows; }

    public int cols() { return cols; }

    public int rowBytes() { return rowBytes; }

    /** The encoded bytes (absolute reads only). */
    public ByteBuffer data() { return live(); }

    /**
     * Lets go of the file's bytes once a backend has its own copy ({@link #kernelData}): with no view left, the
     * tensor's mapping is unmapped when collected and its pages leave the process. Called at load, before any
     * step; reading the bytes afterwards is an error.
     */
    public void releaseData() {
        if (kernelData == null) throw new IllegalStateException(name + " has no copy of its own to compute from");
        data = null;
        floats = null;
    }

    private ByteBuffer live() {
        ByteBuffer d = data;
        if (d == null) throw new IllegalStateException(name + ": its file bytes were released after the backend repacked it");
        return d;
    }

    /** The F32 view, or null when the type is not F32. */
    public FloatBuffer floats() { return floats; }

    public TensorCodec codec() { return codec; }

    /** The data a backend prepared for this matrix (see Kernels#prepare), or null. */
    public Object kernelData() { return kernelData; }

    public void kernelData(Object data) { this.kernelData = data; }

    /** Copies the raw encoded bytes of rows [row, row + n) into dst[0 ..). */
    public void copyRawRows(int row, int n, byte[] dst) {
        live().get((int) ((long) row * rowBytes), dst, 0, n * rowBytes);
    }

    /** Decodes row {@code row} into dst[dstOff .. dstOff + cols). */
    public void dequantizeRow(int row, float[] dst, int dstOff) {
        if (floats != null) {
            floats.get(row * cols, dst, dstOff, cols);
        } else {
            codec.dequantize(live(), (long) row * rowBytes, dst, dstOff, cols);
        }
    }
}
