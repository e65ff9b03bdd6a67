package dev.troupe.engine.sampling;

import java.util.Arrays;

/**
 * The token ids of one sequence (prompt followed by generated tokens), in a growable primitive {@code int}
 * buffer. Growth doubles the capacity, so {@link #add(int)} is amortised O(1) and allocation-free once the
 * capacity is large enough (see {@link #ensureCapacity(int)}). Not thread-safe.
 */
public final class TokenHistory {
    private static final int DEFAULT_CAPACITY = 256;

    private int[] tokens;
    private int size;

    public TokenHistory() {
        this(DEFAULT_CAPACITY);
    }

    public TokenHistory(int initialCapacity) {
        if (initialCapacity < 0) {
            throw new IllegalArgumentException("initialCapacity must be >= 0, got " + initialCapacity);
        }
        this.tokens = new int[Math.max(1, initialCapacity)];
    }

    /** Appends one token id. */
    public void add(int token) {
        if (size == tokens.length) {
            grow(size + 1);
        }
        tokens[size++] = token;
    }

    /** Appends {@code tokens[offset .. offset+length)}. */
    public void addAll(int[] src, int offset, int length) {
        if (offset < 0 || length < 0 || offset > src.length - length) {
            throw new IndexOutOfBoundsException(
                    "offset " + offset + ", length " + length + " out of bounds for length " + src.length);
        }
        ensureCapacity(size + length);
        System.arraycopy(src, offset, tokens, size, length);
        size += length;
    }

    /** Appends all of {@code src}. */
    public void addAll(int... src) {
        addAll(src, 0, src.length);
    }

    /** Number of tokens held. */
    public int size() {
        return size;
    }

    /** The token at {@code index} (0 = first prompt token). */
    public int get(int index) {
        if (index < 0 || index >= size) {
            throw new IndexOutOfBoundsException("index " + index + " out of bounds for size " + size);
        }
        return tokens[index];
    }

    /** The most recent token; the history must not be empty. */
    public int last() {
        return get(size - 1);
    }

    /** Forgets all tokens, keeping the capacity. */
    public void clear() {
        size = 0;
    }

    /** Current capacity. */
    public int capacity() {
        return tokens.length;
    }

    /** Makes sure at least {@code minCapacity} tokens fit without growing again. */
    public void ensureCapacity(int minCapacity) {
        if (minCapacity > tokens.length) {
            grow(minCapacity);
        }
    }

    /** A copy of the tokens held (allocates; not for the hot path). */
    public int[] toArray() {
        return Arrays.copyOf(tokens, size);
    }

    private void grow(int minCapacity) {
        if (minCapacity < 0) {
            throw new OutOfMemoryError("token history too large");
        }
        int newCapacity = tokens.length << 1;
        if (newCapacity < minCapacity || newCapacity < 0) {
            newCapacity = minCapacity;
        }
        tokens = Arrays.copyOf(tokens, newCapacity);
    }

    @Override
    public String toString() {
        return "TokenHistory" + Arrays.toString(toArray());
    }
}
