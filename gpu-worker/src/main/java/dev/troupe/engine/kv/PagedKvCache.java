package dev.troupe.engine.kv;

import org.agrona.collections.Long2LongHashMap;

import java.util.Arrays;

/**
 * Keys and values of all running sequences in fixed-size blocks from one pool. A sequence holds a
 * block table (logical block -> physical block); blocks are taken as it grows and returned when it is
 * released, so sequences of any length share the pool without fragmentation.
 *
 * <p>Prefix caching: a full block whose positions are all computed can be registered under its tokens
 * and the blocks before it ({@link #computed}). When its sequence ends, a registered block keeps its keys
 * and values (it counts as free, and is reused least recently released first when blocks run out); a new
 * sequence whose tokens start with registered blocks takes them as they are ({@link #attachCachedPrefix})
 * and computes only the rest. Several sequences may hold one block (it is read-only once full).
 * Below a block, prefixes are shared by copy: every block in a registered chain also answers for its first n
 * computed tokens (n under a block), so a prompt that starts like a block (a repeated prompt shorter than a
 * block, a question after a system prompt that ends mid-block) gets those n positions copied into a block of
 * its own instead of computing them. Those entries live as long as the block's content: until it is taken again.
 *
 * <p>Layout per layer: keys {@code [block][kvHead][headDim][slot]} (transposed, so attention scores
 * for a whole block are one vector operation per head dimension, without horizontal sums) and values
 * {@code [block][kvHead][slot][headDim]} (so the weighted sum is one axpy per position). Entries are IEEE half
 * floats ({@link Type#F16}, half the memory; the kernels widen them as they read) or floats ({@link Type#F32}). Not thread-safe: the step loop that owns the engine calls
 * it; the forward pass only reads and writes vectors through {@link #index}.
 */
public final class PagedKvCache {
    private static final long NONE = -1;

    private final int layers;
    private final int kvHeads;
    private final int headDim;
    private final int blockSize;
    private final int numBlocks;
    private final int maxBlocksPerSequence;
    private final Type type;
    private final float[][] keys;     // [layer][numBlocks * kvHeads * blockSize * headDim] (F32), else null
    private final float[][] values;   // same layout as keys
    private final short[][] keysH;    // the same as half floats (F16), else null
    private final short[][] valuesH;

    /** How keys and values are stored. */
    public enum Type {
        F16(2), F32(4);

        /** Bytes of one stored number. */
        public final int bytes;

        Type(int bytes) { this.bytes = bytes; }

        /** "f16" or "f32", as configured (troupe.engine.kv-cache-type). */
        public static Type parse(String s) {
            switch (s.toLowerCase(java.util.Locale.ROOT)) {
                case "f16": return F16;
                case "f32": return F32;
                default: throw new IllegalArgumentException("KV cache type must be f16 or f32, got '" + s + "'");
            }
        }
    }
    private final int[] freeBlocks;   // stack of free physical block ids (holding nothing worth keeping)
    private int freeCount;
    private final int[][] blockTables;     // [sequence][logical block] -> physical block
    private final int[] blocksHeld;        // [sequence] blocks in its table
    private final int[] blocksRegistered;  // [sequence] leading blocks of its table known to be registered
    private final boolean[] open;          // [sequence] slot in use
    private int openCount;

    // Prefix cache, per physical block: holders, and (registered blocks) the content it was registered under.
    private final int[] refs;              // [block] sequences holding it
    private final long[] blockKey;         // [block] registry key, NONE when unregistered
    private final int[] blockParent;       // [block] the registered block before it, -1 for a first block
    private final int[] blockTokens;       // [block * blockSize + slot] its tokens
    private final Long2LongHashMap registry;   // key -> block
    // Partial entries: the key of a block's first n tokens (0 < n < blockSize) -> block, for n <= blockFill.
    private final int[] blockFill;         // [block] leading slots computed, their tokens in blockTokens
    private final long[] blockParentKey;   // [block] the key of the registered block before it (0 for a first block)
    private final Long2LongHashMap partials;
    private final long[] prefixKeys;       // scratch: the keys of a prompt block's first 1, 2, ... tokens
    private final int[] lruPrev, lruNext;  // registered blocks no one holds, least recently released at the head
    private int lruHead = -1, lruTail = -1, cachedCount;
    private long queriedTokens, hitTokens;

    // Changes to the block tables since the last drain, as (op, seq, arg) triples, when recording: the
    // leader of a tensor-parallel group ships them with each step so its followers' tables stay identical.
    private int[] journal;
    private int journalLength;

    /**
     * A sequence opened; a block appended to its table (arg = the physical block); a sequence released; the first
     * n positions of block src copied into the sequence's last block (arg = src * blockSize + n).
     */
    public static final int OP_OPEN = 1, OP_APPEND = 2, OP_RELEASE = 3, OP_COPY = 4;

    /** A cache of floats (F32). */
    public PagedKvCache(int layers, int kvHeads, int headDim, int blockSize, int numBlocks, int maxSequences, int maxTokensPerSequence) {
        this(Type.F32, layers, kvHeads, headDim, blockSize, numBlocks, maxSequences, maxTokensPerSequence);
    }

    public PagedKvCache(Type type, int layers, int kvHeads, int headDim, int blockSize, int numBlocks, int maxSequences, int maxTokensPerSequence) {
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
        this.type = type;
        boolean half = type == Type.F16;
        this.keys = half ? null : new float[layers][(int) floatsPerLayer];
        this.values = half ? null : new float[layers][(int) floatsPerLayer];
        this.keysH = half ? new short[layers][(int) floatsPerLayer] : null;
        this.valuesH = half ? new short[layers][(int) floatsPerLayer] : null;
        this.freeBlocks = new int[numBlocks];
        for (int i = 0; i < numBlocks; i++) freeBlocks[i] = numBlocks - 1 - i;
        this.freeCount = numBlocks;
        this.blockTables = new int[maxSequences][maxBlocksPerSequence];
        this.blocksHeld = new int[maxSequences];
        this.blocksRegistered = new int[maxSequences];
        this.open = new boolean[maxSequences];
        this.refs = new int[numBlocks];
        this.blockKey = new long[numBlocks];
        Arrays.fill(blockKey, NONE);
        this.blockParent = new int[numBlocks];
        this.blockTokens = new int[numBlocks * blockSize];
        this.registry = new Long2LongHashMap(Math.max(16, numBlocks * 2), 0.65f, NONE);
        this.blockFill = new int[numBlocks];
        this.blockParentKey = new long[numBlocks];
        this.partials = new Long2LongHashMap(Math.max(16, numBlocks * 2 * (blockSize - 1)), 0.65f, NONE);
        this.prefixKeys = new long[blockSize];
        this.lruPrev = new int[numBlocks];
        this.lruNext = new int[numBlocks];
    }

    /** Bytes an F32 cache of this shape takes. */
    public static long bytesFor(int layers, int kvDim, int blockSize, int numBlocks) {
        return bytesFor(Type.F32, layers, kvDim, blockSize, numBlocks);
    }

    /** Bytes a cache of this shape and type takes. */
    public static long bytesFor(Type type, int layers, int kvDim, int blockSize, int numBlocks) {
        return (long) numBlocks * blockSize * bytesPerToken(type, layers, kvDim);
    }

    /** Bytes of keys and values one token takes in every layer. */
    public static long bytesPerToken(Type type, int layers, int kvDim) {
        return 2L * layers * kvDim * type.bytes;
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
        blocksRegistered[s] = 0;
        openCount++;
        record(OP_OPEN, s, 0);
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
        if (extra > freeBlocks()) return false;
        for (int i = 0; i < extra; i++) append(seq, takeBlock());
        return true;
    }

    /**
     * A block holding nothing worth keeping: a free one, else the least recently released cached one. Its content
     * is about to be overwritten: it answers for no prefix any more.
     */
    private int takeBlock() {
        int b;
        if (freeCount > 0) {
            b = freeBlocks[--freeCount];
        } else {
            b = lruHead;
            unlink(b);
            registry.remove(blockKey[b]);
            blockKey[b] = NONE;
        }
        forgetPartials(b);
        return b;
    }

    private void append(int seq, int block) {
        refs[block]++;
        blockTables[seq][blocksHeld[seq]++] = block;
        record(OP_APPEND, seq, block);
    }

    /** Blocks that {@link #reserve} would need to take for the sequence to hold {@code tokens}. */
    public int blocksNeeded(int seq, int tokens) {
        checkOpen(seq);
        return Math.max(0, (tokens + blockSize - 1) / blockSize - blocksHeld[seq]);
    }

    /** Returns all blocks of the sequence to the pool (registered ones stay cached) and frees its slot. */
    public void release(int seq) {
        checkOpen(seq);
        int[] table = blockTables[seq];
        for (int i = 0; i < blocksHeld[seq]; i++) {
            int b = table[i];
            if (--refs[b] > 0) continue;
            if (blockKey[b] != NONE) linkTail(b);
            else freeBlocks[freeCount++] = b;
        }
        blocksHeld[seq] = 0;
        open[seq] = false;
        openCount--;
        record(OP_RELEASE, seq, 0);
    }

    /**
     * A new sequence (holding no blocks) whose first {@code length} tokens are {@code tokens[0, length)}
     * takes the registered blocks that hold exactly its leading full blocks, then, in a block of its own, a copy
     * of the longest computed start of a block that matches its next tokens; all at most up to its last token
     * (which it computes itself, for its logits). Returns the positions it now holds computed.
     */
    public int attachCachedPrefix(int seq, int[] tokens, int length) {
        checkOpen(seq);
        if (blocksHeld[seq] != 0) throw new IllegalStateException("sequence " + seq + " already holds blocks");
        queriedTokens += length;
        int parent = -1;
        long parentKey = 0;
        int limit = Math.min((length - 1) / blockSize, maxBlocksPerSequence);
        for (int blk = 0; blk < limit; blk++) {
            long key = key(parentKey, tokens, blk * blockSize);
            int b = (int) registry.get(key);
            if (b < 0 || blockParent[b] != parent || !sameTokens(b, tokens, blk * blockSize)) break;
            if (refs[b] == 0) unlink(b);
            append(seq, b);
            parent = b;
            parentKey = key;
        }
        blocksRegistered[seq] = blocksHeld[seq];
        int hit = blocksHeld[seq] * blockSize;
        int want = Math.min(blockSize - 1, length - 1 - hit);
        if (want > 0 && blocksHeld[seq] < maxBlocksPerSequence && freeBlocks() > 0) {
            int found = findPartial(parent, parentKey, tokens, hit, want);
            if (found >= 0) {
                int src = found / blockSize, n = found % blockSize;
                int dst = takeBlock();   // may be src itself (free, or cached and unheld): its first n slots are intact
                append(seq, dst);
                if (dst != src) {
                    copySlots(src, dst, n);
                    record(OP_COPY, seq, found);
                }
                registerPartial(dst, parent, parentKey, tokens, hit, n);
                hit += n;
            }
        }
        hitTokens += hit;
        return hit;
    }

    /**
     * The block (times blockSize, plus n) whose first n computed tokens, after the registered block parent, are
     * tokens[from, from + n), for the largest n <= want; -1 when none is.
     */
    private int findPartial(int parent, long parentKey, int[] tokens, int from, int want) {
        long h = seed(parentKey);
        for (int i = 0; i < want; i++) prefixKeys[i] = finish(h = mix(h, tokens[from + i]));
        for (int n = want; n > 0; n--) {
            int b = (int) partials.get(prefixKeys[n - 1]);
            if (b >= 0 && blockFill[b] >= n && blockParent[b] == parent && blockParentKey[b] == parentKey
                    && Arrays.equals(blockTokens, b * blockSize, b * blockSize + n, tokens, from, from + n)) {
                return b * blockSize + n;
            }
        }
        return -1;
    }

    /**
     * Block b, following the registered block parent, holds tokens[from, from + filled) computed: its starts of
     * 1 .. filled tokens (under a block) become findable by {@link #findPartial}.
     */
    private void registerPartial(int b, int parent, long parentKey, int[] tokens, int from, int filled) {
        int known = blockFill[b];
        if (filled <= known) return;
        blockParent[b] = parent;
        blockParentKey[b] = parentKey;
        System.arraycopy(tokens, from + known, blockTokens, b * blockSize + known, filled - known);
        long h = seed(parentKey);
        for (int n = 1; n <= Math.min(filled, blockSize - 1); n++) {
            h = mix(h, tokens[from + n - 1]);
            if (n > known) partials.put(finish(h), b);
        }
        blockFill[b] = filled;
    }

    /** Block b's content is about to change: its partial entries go. */
    private void forgetPartials(int b) {
        long h = seed(blockParentKey[b]);
        for (int n = 1; n <= Math.min(blockFill[b], blockSize - 1); n++) {
            long key = finish(h = mix(h, blockTokens[b * blockSize + n - 1]));
            if (partials.get(key) == b) partials.remove(key);
        }
        blockFill[b] = 0;
    }

    /** Copies positions [0, n) of block src, every layer and head, into block dst. */
    private void copySlots(int src, int dst, int n) {
        for (int layer = 0; layer < layers; layer++) {
            for (int h = 0; h < kvHeads; h++) {
                int from = (src * kvHeads + h) * blockSize * headDim, to = (dst * kvHeads + h) * blockSize * headDim;
                for (int d = 0; d < headDim; d++) {   // keys: [headDim][slot]
                    if (type == Type.F16) System.arraycopy(keysH[layer], from + d * blockSize, keysH[layer], to + d * blockSize, n);
                    else System.arraycopy(keys[layer], from + d * blockSize, keys[layer], to + d * blockSize, n);
                }
                // values: [slot][headDim]
                if (type == Type.F16) System.arraycopy(valuesH[layer], from, valuesH[layer], to, n * headDim);
                else System.arraycopy(values[layer], from, values[layer], to, n * headDim);
            }
        }
    }

    /**
     * The sequence's positions [0, computedTokens) hold the keys and values of {@code tokens[0, computedTokens)}:
     * its full blocks among them are registered for later sequences (a block whose content is registered
     * already stays the sequence's own).
     */
    public void computed(int seq, int[] tokens, int computedTokens) {
        checkOpen(seq);
        int[] table = blockTables[seq];
        for (int blk = blocksRegistered[seq]; blk < blocksHeld[seq] && blk * blockSize < computedTokens; blk++) {
            int b = table[blk];
            int parent = blk == 0 ? -1 : table[blk - 1];
            if (parent >= 0 && blockKey[parent] == NONE) break;   // only chains of registered blocks can be found
            long parentKey = parent < 0 ? 0 : blockKey[parent];
            int filled = Math.min(blockSize, computedTokens - blk * blockSize);
            registerPartial(b, parent, parentKey, tokens, blk * blockSize, filled);
            if (filled < blockSize) break;
            if (blockKey[b] == NONE) {
                long key = key(parentKey, tokens, blk * blockSize);
                if (registry.containsKey(key)) break;   // the same content is registered in another block
                registry.put(key, b);
                blockKey[b] = key;
            }
            blocksRegistered[seq] = blk + 1;
        }
    }

    /** The key of a block of tokens following the block with key parentKey (0 for a first block). */
    private long key(long parentKey, int[] tokens, int from) {
        long h = seed(parentKey);
        for (int i = from; i < from + blockSize; i++) h = mix(h, tokens[i]);
        return finish(h);
    }

    private static long seed(long parentKey) { return parentKey * 0x9E3779B97F4A7C15L + 0x632BE59BD9B4E019L; }

    private static long mix(long h, int token) {
        h ^= token;
        h *= 0xBF58476D1CE4E5B9L;
        return h ^ h >>> 31;
    }

    private static long finish(long h) { return h == NONE ? 0 : h; }

    private boolean sameTokens(int block, int[] tokens, int from) {
        return Arrays.equals(blockTokens, block * blockSize, (block + 1) * blockSize, tokens, from, from + blockSize);
    }

    private void linkTail(int b) {
        lruPrev[b] = lruTail;
        lruNext[b] = -1;
        if (lruTail >= 0) lruNext[lruTail] = b;
        else lruHead = b;
        lruTail = b;
        cachedCount++;
    }

    private void unlink(int b) {
        if (lruPrev[b] >= 0) lruNext[lruPrev[b]] = lruNext[b];
        else lruHead = lruNext[b];
        if (lruNext[b] >= 0) lruPrev[lruNext[b]] = lruPrev[b];
        else lruTail = lruPrev[b];
        cachedCount--;
    }

    /** From now on, block-table changes are kept for {@link #journal()} (a tensor-parallel leader). */
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
     * Applies a change recorded by another cache of the same shape: this cache's tables follow that one's,
     * block for block (a follower slice's cache, whose pool its leader manages). False when it does not
     * apply (the caches have diverged).
     */
    public boolean replay(int op, int seq, int arg) {
        if (seq < 0 || seq >= open.length) return false;
        switch (op) {
            case OP_OPEN:
                if (open[seq]) return false;
                open[seq] = true;
                blocksHeld[seq] = 0;
                openCount++;
                return true;
            case OP_APPEND:
                if (!open[seq] || arg < 0 || arg >= numBlocks || blocksHeld[seq] == maxBlocksPerSequence) return false;
                blockTables[seq][blocksHeld[seq]++] = arg;
                return true;
            case OP_RELEASE:
                if (!open[seq]) return false;
                blocksHeld[seq] = 0;
                open[seq] = false;
                openCount--;
                return true;
            case OP_COPY: {
                int src = arg / blockSize, n = arg % blockSize;
                if (!open[seq] || blocksHeld[seq] == 0 || arg < 0 || src >= numBlocks || n == 0) return false;
                int dst = blockTables[seq][blocksHeld[seq] - 1];
                if (dst == src) return false;
                copySlots(src, dst, n);
                return true;
            }
            default:
                return false;
        }
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
        if (type == Type.F16) {
            short[] k = keysH[layer], v = valuesH[layer];
            for (int d = 0; d < headDim; d++) k[base + d * blockSize + slot] = half(key[keyOff + d]);
            for (int d = 0, at = base + slot * headDim; d < headDim; d++) v[at + d] = half(value[valueOff + d]);
            return;
        }
        float[] k = keys[layer];
        for (int d = 0; d < headDim; d++) k[base + d * blockSize + slot] = key[keyOff + d];
        System.arraycopy(value, valueOff, values[layer], base + slot * headDim, headDim);
    }

    /** Rounded to the nearest half float; beyond its range, the largest one (the kernels read no infinities). */
    private static short half(float f) {
        return dev.troupe.engine.gguf.Float16.fromFloat(Math.max(-65504f, Math.min(65504f, f)));
    }

    public Type type() { return type; }

    /** The layer's keys (F32 caches; null for F16). */
    public float[] keys(int layer) { return keys == null ? null : keys[layer]; }

    /** The layer's values (F32 caches; null for F16). */
    public float[] values(int layer) { return values == null ? null : values[layer]; }

    /** The layer's keys as half floats (F16 caches; null for F32). */
    public short[] keysF16(int layer) { return keysH == null ? null : keysH[layer]; }

    /** The layer's values as half floats (F16 caches; null for F32). */
    public short[] valuesF16(int layer) { return valuesH == null ? null : valuesH[layer]; }

    public int blockSize() { return blockSize; }

    /** Bytes of keys and values the pool holds (all layers, all blocks). */
    public long bytes() { return (long) numBlocks * blockSize * bytesPerToken(); }

    /** Bytes of keys and values one token takes (all layers). */
    public long bytesPerToken() { return bytesPerToken(type, layers, kvHeads * headDim); }

    public int totalBlocks() { return numBlocks; }

    /** Blocks a sequence can take now: free ones and cached ones no sequence holds. */
    public int freeBlocks() { return freeCount + cachedCount; }

    /** Blocks held by sequences. */
    public int usedBlocks() { return numBlocks - freeBlocks(); }

    /** Registered blocks no sequence holds (kept for later prompts; taken when blocks run out). */
    public int cachedBlocks() { return cachedCount; }

    /** Prompt tokens looked up in the prefix cache so far. */
    public long prefixQueriedTokens() { return queriedTokens; }

    /** Of those, the tokens found (whose prefill was skipped). */
    public long prefixHitTokens() { return hitTokens; }

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
        return "PagedKvCache[" + usedBlocks() + "/" + numBlocks + " blocks of " + blockSize + " used, " + cachedCount + " cached, "
                + openCount + " sequences" + (openCount == 0 ? "" : ", held " + Arrays.toString(Arrays.copyOf(blocksHeld, Math.min(8, blocksHeld.length)))) + "]";
    }
}
