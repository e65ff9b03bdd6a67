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
    private final ByteBuffer data;       // little-endian, absolute reads only (shared by threads)
    private final FloatBuffer floats;    // F32 view of data, null for other types
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

    public String name() { return name; }

    public GgmlType type() { return type; }

    public int rows() { return rows; }

    public int cols() { return cols; }

    public int rowBytes() { return rowBytes; }

    /** The encoded bytes (absolute reads only). */
    public ByteBuffer data() { return data; }

    /** The F32 view, or null when the type is not F32. */
    public FloatBuffer floats() { return floats; }

    public TensorCodec codec() { return codec; }

    /** The data a backend prepared for this matrix (see Kernels#prepare), or null. */
    public Object kernelData() { return kernelData; }

    public void kernelData(Object data) { this.kernelData = data; }

    /** Copies the raw encoded bytes of rows [row, row + n) into dst[0 ..). */
    public void copyRawRows(int row, int n, byte[] dst) {
        data.get((int) ((long) row * rowBytes), dst, 0, n * rowBytes);
    }

    /** Decodes row {@code row} into dst[dstOff .. dstOff + cols). */
    public void dequantizeRow(int row, float[] dst, int dstOff) {
        if (floats != null) {
            floats.get(row * cols, dst, dstOff, cols);
        } else {
            codec.dequantize(data, (long) row * rowBytes, dst, dstOff, cols);
        }
    }
}
