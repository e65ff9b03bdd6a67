package dev.troupe.engine.kernel;

/**
 * A matmul input interleaved for the panel kernels, {@code [group][col][8]}: the eight values of a column side by
 * side behind one index instead of behind eight offsets (which the JIT spills). One per thread team, shared by
 * its threads: the first thread to need an input stages it, the others find it staged; every row chunk of every
 * thread then reads the same copy, so a long prompt chunk is staged once, not once per chunk of rows.
 */
public final class StagedInput {
    private final int capacity;
    private final int maxCols;
    private final float[] staged;
    private final Held stagedHolds = new Held();
    /** The native kernels' quantized copies (NativeMatmul.quantize), one per kind, made on first use. */
    private final Quantized[] quantized = {new Quantized(), new Quantized()};

    /** Which input a copy holds: tokens [0, tokens) of {@code cols} at {@code from[off + t * stride]}; none when from is null. */
    private static class Held {
        float[] from;
        int off, stride, tokens, cols;

        boolean holds(float[] x, int xOff, int xStride, int tokens, int cols) {
            return from == x && off == xOff && stride == xStride && this.tokens == tokens && this.cols == cols;
        }

        void hold(float[] x, int xOff, int xStride, int tokens, int cols) {
            from = x;
            off = xOff;
            stride = xStride;
            this.tokens = tokens;
            this.cols = cols;
        }
    }

    /** One kind's quantized copy. */
    private static final class Quantized extends Held {
        java.nio.ByteBuffer buffer;
        long address;
    }

    /** Room for {@code maxTokens} tokens of up to {@code maxCols} columns. */
    public StagedInput(int maxTokens, int maxCols) {
        this.capacity = maxTokens;
        this.maxCols = maxCols;
        this.staged = new float[(maxTokens + 7) / 8 * 8 * maxCols];
    }

    /** The most tokens an input can have to be staged. */
    public int capacity() { return capacity; }

    /**
     * The contents of the next input may differ from the last one's in the same buffer (a new layer's input): the
     * next matmul stages it again. Called before the first matmul of every new input, while no thread is in one; a
     * different buffer, offset, stride or token count is noticed without it.
     */
    public synchronized void newInput() {
        stagedHolds.from = null;
        for (Quantized q : quantized) q.from = null;
    }

    /**
     * The address of tokens [0, tokens) of x quantized by NativeMatmul.quantize as {@code kind} (by the quantizer of
     * {@code level}, which the first caller of an input chooses: every level writes the same bytes), quantized only if they
     * are not already: one thread quantizes, every row chunk of every thread reads the same copy (each kind has its
     * own, so matrices of both kinds can share an input). The caller has checked x's bounds.
     */
    synchronized long quantized(float[] x, int xOff, int xStride, int tokens, int cols, int kind, int level) {
        Quantized q = quantized[kind];
        if (q.holds(x, xOff, xStride, tokens, cols)) return q.address;
        if (tokens > capacity) throw new IllegalArgumentException(tokens + " tokens; at most " + capacity + " can be quantized");
        long bytes = NativeMatmul.quantizedBytes(tokens, cols);
        if (q.buffer == null || q.buffer.capacity() < bytes) {
            long room = Math.max(bytes, NativeMatmul.quantizedBytes(capacity, maxCols));
            q.buffer = java.nio.ByteBuffer.allocateDirect(Math.toIntExact(room + 64)).alignedSlice(64);
            q.address = NativeMatmul.address(q.buffer);
        }
        NativeMatmul.quantize(level, kind, x, xOff, xStride, tokens, cols, q.address);
        q.hold(x, xOff, xStride, tokens, cols);
        return q.address;
    }

    /**
     * The staged tokens [0, tokens) of x (rows of {@code cols} at {@code xOff + t * xStride}), group g (tokens
     * 8g..8g+7) at {@code 8 * g * cols}, the last token repeated into a short last group's unused lanes; staged
     * only if they are not already. Returning under the lock publishes the staged values to every thread that asks.
     */
    synchronized float[] stage(float[] x, int xOff, int xStride, int tokens, int cols) {
        if (stagedHolds.holds(x, xOff, xStride, tokens, cols)) return staged;
        if (tokens > capacity) throw new IllegalArgumentException(tokens + " tokens; at most " + capacity + " can be staged");
        float[] st = staged;
        for (int g = 0; g < tokens; g += 8) {
            int base = g * cols;
            for (int i = 0; i < 8; i++) {
                int row = xOff + Math.min(g + i, tokens - 1) * xStride;
                for (int k = 0; k < cols; k++) st[base + k * 8 + i] = x[row + k];
            }
        }
        stagedHolds.hold(x, xOff, xStride, tokens, cols);
        return st;
    }
}
