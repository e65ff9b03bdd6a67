package dev.troupe.engine;

/**
 * The input of one forward step: tokens of several sequences at their positions, a prefill chunk of
 * some and one decode token of others, mixed freely. Reused from step to step (clear, then add); sized
 * once for the engine's maximum batch tokens.
 */
public final class Batch {
    final int[] tokens;      // [capacity] token id
    final int[] positions;   // [capacity] position of the token in its sequence
    final int[] sequences;   // [capacity] KV cache sequence slot
    final int[] logitRows;   // [capacity] token index of each requested logits row
    final boolean[] argmaxOnly; // [capacity] per logits row: the caller reads only its argmax
    int size;
    int logitCount;

    public Batch(int capacity) {
        tokens = new int[capacity];
        positions = new int[capacity];
        sequences = new int[capacity];
        logitRows = new int[capacity];
        argmaxOnly = new boolean[capacity];
    }

    public void clear() {
        size = 0;
        logitCount = 0;
    }

    /** Adds one token; returns its logits row when wantLogits, else -1. */
    public int add(int sequence, int token, int position, boolean wantLogits) {
        if (size == tokens.length) {
            throw new IllegalStateException("batch is full (" + tokens.length + " tokens)");
        }
        tokens[size] = token;
        positions[size] = position;
        sequences[size] = sequence;
        int row = -1;
        if (wantLogits) {
            row = logitCount;
            argmaxOnly[row] = false;
            logitRows[logitCount++] = size;
        }
        size++;
        return row;
    }

    /**
     * Adds tokens[from, from + count) of a sequence at positions startPos.. ; the last one gets a logits
     * row when logitsForLast. Returns that row, or -1.
     */
    public int addChunk(int sequence, int[] chunk, int from, int count, int startPos, boolean logitsForLast) {
        if (size + count > tokens.length) {
            throw new IllegalStateException("batch of " + tokens.length + " tokens cannot take " + count + " more (has " + size + ")");
        }
        int row = -1;
        for (int i = 0; i < count; i++) {
            row = add(sequence, chunk[from + i], startPos + i, logitsForLast && i == count - 1);
        }
        return row;
    }

    public int size() { return size; }

    public int token(int i) { return tokens[i]; }

    public int position(int i) { return positions[i]; }

    public int sequence(int i) { return sequences[i]; }

    /** Token index of logits row r. */
    public int logitRow(int r) { return logitRows[r]; }

    /**
     * Says that the caller reads only the argmax of logits row r (plain greedy sampling): a model split over
     * slices then gathers each follower slice's largest logit instead of its whole share, so the row holds the
     * leader's columns, each follower's largest logit in place and -inf in that follower's other columns: its
     * argmax is the whole row's.
     */
    public void onlyArgmax(int r) {
        java.util.Objects.checkIndex(r, logitCount);
        argmaxOnly[r] = true;
    }

    /** Whether logits row r was marked {@link #onlyArgmax}. */
    public boolean isArgmaxOnly(int r) { return argmaxOnly[r]; }

    public int capacity() { return tokens.length; }

    public int logitCount() { return logitCount; }

    public boolean isEmpty() { return size == 0; }
}
