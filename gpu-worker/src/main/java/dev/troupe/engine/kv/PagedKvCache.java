package dev.troupe.engine.kv;

import java.util.Arrays;

/**
 * Keys and values of all running sequences in fixed-size blocks from one pool. A sequence holds a
 * block table (logical block -> physical block); blocks are taken as it grows and returned when it is
 * released, so sequences of any length share the pool without fragmentation.
 *
 * <p>Layout per layer: keys {@code [block][kvHead][headDim][slot]} (transposed, so attention scores
 * for a whole block are one vector operation per head dimension, without horizontal sums) and values
 * {@code [block][kvHead][slot][headDim]} (so the weighted sum is one axpy per position). Not thread-safe: the step loop that owns the engine calls
 * it; the forward pass only reads and writes vectors through {@link #index}.
 */
public final class PagedKvCache {
    private final int layers;
    private final int kvHeads;
    private final int headDim;
    private final int blockSize;
    private final int numBlocks;
    private final int maxBlocksPerSequence;
    private final float[][] keys;     // [layer][numBlocks * kvHeads * blockSize * headDim]
    private final float[][] values;   // same layout as keys
    private final int[] freeBlocks;   // stack of free physical block ids
    private int freeCount;
    private final int[][] blockTables;     // [sequence][logical block] -> physical block
    private final int[] blocksHeld;        // [sequence] blocks in its table
    private final boolean[] open;          // [sequence] slot in use
    private int openCount;
    // Changes to the block tables since the last drain, as (op, seq, arg) triples, when recording: the
    // leader of a tensor-parallel group ships them with each step so its followers' tables stay identical.
    private int[] journal;
    private int journalLength;

    public static final int OP_OPEN = 1, OP_RESERVE = 2, OP_RELEASE = 3;

    public PagedKvCache(int layers, int kvHeads, int headDim, int blockSize, int numBlocks, int maxSequences, int maxTokensPerSequence) {
        if (blockSize < 1 || numBlocks < 1 || maxSequences < 1) {
            throw new IllegalArgumentException("KV cache needs blockSize, numBlocks and maxSequences >= 1");
        }
        long floatsPerLayer = (long) numBlocks * kvHeads * blockSize * headDim;
        if (floatsPerLayer > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("KV cache of " + numBlocks + " blocks of " + blockSize
                    + " tokens is too large for one layer array; lower troupe.engine.kv-cache-tokens");
        }
        this.layers = layers;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.blockSize = blockSize;
        this.numBlocks = numBlocks;
        this.maxBlocksPerSequence = (maxTokensPerSequence + blockSize - 1) / blockSize;
        this.keys = new float[layers][(int) floatsPerLayer];
        this.values = new float[layers][(int) floatsPerLayer];
        this.freeBlocks = new int[numBlocks];
        for (int i = 0; i < numBlocks; i++) freeBlocks[i] = numBlocks - 1 - i;
        this.freeCount = numBlocks;
        this.blockTables = new int[maxSequences][maxBlocksPerSequence];
        this.blocksHeld = new int[maxSequences];
        this.open = new boolean[maxSequences];
    }

    /** Bytes a cache of this shape takes. */
    public static long bytesFor(int layers, int kvDim, int blockSize, int numBlocks) {
        return 2L * layers * numBlocks * blockSize * kvDim * Float.BYTES;
    }

    /** Opens a sequence slot holding no blocks; -1 when all slots are taken. */
    public int open() {
        for (int s = 0; s < open.length; s++) {
            if (!open[s]) {
                openSlot(s);
                return s;
            }
        }
        return -1;
    }

    private void openSlot(int s) {
        open[s] = true;
        blocksHeld[s] = 0;
        openCount++;
        record(OP_OPEN, s, 0);
    }

    /** From now on, block-table changes are kept for {@link #drainJournal} (a tensor-parallel leader). */
    public void recordChanges() {
        if (journal == null) journal = new int[3 * 64];
    }

    private void record(int op, int seq, int arg) {
        if (journal == null) return;
        if (journalLength + 3 > journal.length) journal = Arrays.copyOf(journal, journal.length * 2);
        journal[journalLength++] = op;
        journal[journalLength++] = seq;
        journal[journalLength++] = arg;
    }

    /** Ints of recorded changes (three per change); see {@link #journal()}. */
    public int journalLength() { return journalLength; }

    /** The recorded changes: (op, seq, arg) triples in [0, journalLength). */
    public int[] journal() { return journal; }

    public void clearJournal() { journalLength = 0; }

    /**
     * Applies a change recorded by another cache of the same shape and history, so both hold the same
     * blocks for the same sequences. False when it does not apply (the caches have diverged).
     */
    public boolean replay(int op, int seq, int arg) {
        if (seq < 0 || seq >= open.length) return false;
        switch (op) {
            case OP_OPEN:
                if (open[seq]) return false;
                openSlot(seq);
                return true;
            case OP_RESERVE:
                return open[seq] && reserve(seq, arg);
            case OP_RELEASE:
                if (!open[seq]) return false;
                release(seq);
                return true;
            default:
                return false;
        }
    }

    /**
     * Makes sure positions [0, tokens) of the sequence have blocks. All or nothing: returns false, and
     * takes nothing, when the pool has too few free blocks or the sequence would exceed its maximum.
     */
    public boolean reserve(int seq, int tokens) {
        checkOpen(seq);
        int needed = (tokens + blockSize - 1) / blockSize;
        if (needed > maxBlocksPerSequence) return false;
        int extra = needed - blocksHeld[seq];
        if (extra <= 0) return true;
        if (extra > freeCount) return false;
        int[] table = blockTables[seq];
        for (int i = 0; i < extra; i++) table[blocksHeld[seq]++] = freeBlocks[--freeCount];
        record(OP_RESERVE, seq, tokens);
        return true;
    }

    /** Blocks that {@link #reserve} would need to take for the sequence to hold {@code tokens}. */
    public int blocksNeeded(int seq, int tokens) {
        checkOpen(seq);
        return Math.max(0, (tokens + blockSize - 1) / blockSize - blocksHeld[seq]);
    }

    /** Returns all blocks of the sequence to the pool and frees its slot. */
    public void release(int seq) {
        checkOpen(seq);
        int[] table = blockTables[seq];
        for (int i = 0; i < blocksHeld[seq]; i++) freeBlocks[freeCount++] = table[i];
        blocksHeld[seq] = 0;
        open[seq] = false;
        openCount--;
        record(OP_RELEASE, seq, 0);
    }

    /** Positions the sequence can hold with the blocks it has. */
    public int capacity(int seq) {
        checkOpen(seq);
        return blocksHeld[seq] * blockSize;
    }

    /** Offset of the (block, kv head) region for the sequence's logical block in a layer's arrays. */
    public int blockBase(int seq, int logicalBlock, int kvHead) {
        return (blockTables[seq][logicalBlock] * kvHeads + kvHead) * blockSize * headDim;
    }

    /** Stores one head's key and value vectors (src[off ..]) for a sequence position in a layer. */
    public void write(int layer, int seq, int pos, int kvHead, float[] key, int keyOff, float[] value, int valueOff) {
        int base = blockBase(seq, pos / blockSize, kvHead);
        int slot = pos % blockSize;
        float[] k = keys[layer];
        for (int d = 0; d < headDim; d++) k[base + d * blockSize + slot] = key[keyOff + d];
        System.arraycopy(value, valueOff, values[layer], base + slot * headDim, headDim);
    }

    public float[] keys(int layer) { return keys[layer]; }

    public float[] values(int layer) { return values[layer]; }

    public int blockSize() { return blockSize; }

    public int totalBlocks() { return numBlocks; }

    public int freeBlocks() { return freeCount; }

    public int usedBlocks() { return numBlocks - freeCount; }

    public int openSequences() { return openCount; }

    public int maxSequences() { return open.length; }

    public int layers() { return layers; }

    private void checkOpen(int seq) {
        if (seq < 0 || seq >= open.length || !open[seq]) {
            throw new IllegalArgumentException("sequence " + seq + " is not open");
        }
    }

    @Override
    public String toString() {
        return "PagedKvCache[" + usedBlocks() + "/" + numBlocks + " blocks of " + blockSize + " used, "
                + openCount + " sequences" + (openCount == 0 ? "" : ", held " + Arrays.toString(Arrays.copyOf(blocksHeld, Math.min(8, blocksHeld.length)))) + "]";
    }
}
