package dev.troupe.engine.gguf;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.util.Arrays;

/**
 * A tensor of a GGUF file. {@code shape[0]} is the fastest-varying dimension (the row length), as in
 * GGUF. The data is memory-mapped on first use and never copied onto the heap.
 */
public final class GgufTensor {
    private final String name;
    private final GgmlType type;
    private final long[] shape;
    private final long fileOffset;
    private final long byteSize;
    private final FileChannel channel;
    private volatile ByteBuffer data;

    GgufTensor(String name, GgmlType type, long[] shape, long fileOffset, long byteSize, FileChannel channel) {
        this.name = name;
        this.type = type;
        this.shape = shape;
        this.fileOffset = fileOffset;
        this.byteSize = byteSize;
        this.channel = channel;
    }

    public String name() { return name; }

    public GgmlType type() { return type; }

    public long[] shape() { return shape.clone(); }

    public int dims() { return shape.length; }

    /** Size of dimension {@code i}; 1 beyond the tensor's rank. */
    public long dim(int i) { return i < shape.length ? shape[i] : 1; }

    public long elements() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    /** Elements in one row ({@code shape[0]}). */
    public int rowLength() { return (int) shape[0]; }

    /** Number of rows (product of all dimensions but the first). */
    public int rows() { return (int) (elements() / shape[0]); }

    /** Bytes of one row. */
    public int rowBytes() { return (int) type.bytesFor(shape[0]); }

    /** Absolute offset of the data in the file. */
    public long fileOffset() { return fileOffset; }

    public long byteSize() { return byteSize; }

    /** The data as a read-only little-endian mapped buffer (position 0, limit = byteSize). */
    public ByteBuffer data() {
        ByteBuffer d = data;
        if (d == null) {
            synchronized (this) {
                d = data;
                if (d == null) {
                    try {
                        d = channel.map(FileChannel.MapMode.READ_ONLY, fileOffset, byteSize).order(ByteOrder.LITTLE_ENDIAN);
                    } catch (IOException e) {
                        throw new UncheckedIOException("mapping tensor '" + name + "'", e);
                    }
                    data = d;
                }
            }
        }
        return d.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Forgets the cached mapping (views already handed out keep it alive); a later {@link #data} maps again. */
    public synchronized void dropMapping() {
        data = null;
    }

    @Override
    public String toString() {
        return name + " " + type + " " + Arrays.toString(shape);
    }
}
