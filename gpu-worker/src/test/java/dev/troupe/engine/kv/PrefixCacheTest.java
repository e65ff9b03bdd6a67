package dev.troupe.engine.kv;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The paged cache's prefix cache: registered full blocks outlive their sequence and serve later prompts. */
class PrefixCacheTest {
    private static final int BS = 4;

    private static PagedKvCache cache(int blocks) {
        return new PagedKvCache(1, 1, 2, BS, blocks, 4, 64);
    }

    private static int[] tokens(int n, int seed) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = seed * 1000 + i;
        return t;
    }

    /** Runs a sequence over all of its tokens as a step loop would, then releases it. */
    private static int run(PagedKvCache kv, int[] t) {
        int s = kv.open();
        int cached = kv.attachCachedPrefix(s, t, t.length);
        assertTrue(kv.reserve(s, t.length));
        kv.computed(s, t, t.length);
        kv.release(s);
        return cached;
    }

    @Test
    void aPromptStartingWithCachedBlocksTakesThemAndKeepsItsLastTokenToCompute() {
        PagedKvCache kv = cache(16);
        int[] a = tokens(10, 1);                    // blocks [0,4) [4,8) full, [8,10) partial
        assertEquals(0, run(kv, a));
        assertEquals(2, kv.cachedBlocks(), "the two full blocks stay cached");
        assertEquals(16, kv.freeBlocks(), "cached blocks count as free");
        assertEquals(0, kv.usedBlocks());
        assertEquals(9, run(kv, a), "the same prompt again: two blocks found, and a copy of the third's first token");
        int[] b = a.clone();
        b[5] = -7;                                   // differs in the second block, after its first token
        assertEquals(5, run(kv, b));
        int[] exact = tokens(8, 1);                  // ends exactly at a block boundary: its last token is computed
        assertEquals(7, run(kv, exact));
        assertEquals(10 + 10 + 10 + 8, kv.prefixQueriedTokens());
        assertEquals(9 + 5 + 7, kv.prefixHitTokens());
    }

    /** Stores key = (pos, seed) and value = (-pos, seed) at each of the sequence's positions [from, to). */
    private static void write(PagedKvCache kv, int s, int from, int to, int seed) {
        for (int pos = from; pos < to; pos++) {
            kv.write(0, s, pos, 0, new float[]{pos, seed}, 0, new float[]{-pos, seed}, 0);
        }
    }

    /** The key and value stored at a position of a sequence. */
    private static float[] read(PagedKvCache kv, int s, int pos) {
        int base = kv.blockBase(s, pos / BS, 0), slot = pos % BS;
        return new float[]{kv.keys(0)[base + slot], kv.keys(0)[base + BS + slot], kv.values(0)[base + slot * 2], kv.values(0)[base + slot * 2 + 1]};
    }

    @Test
    void aPromptStartingLikeAComputedBlockGetsACopyOfItsStartInABlockOfItsOwn() {
        PagedKvCache kv = cache(16);
        int[] a = tokens(7, 1);                       // [0,4) full, [4,7) computed in a block still being written
        int s = kv.open();
        assertTrue(kv.reserve(s, 8));
        write(kv, s, 0, 7, 1);
        kv.computed(s, a, 7);
        int[] b = tokens(7, 1);
        b[6] = -1;                                    // the same but for its last token
        int t = kv.open();
        assertEquals(6, kv.attachCachedPrefix(t, b, 7), "one block shared, two positions of the next copied");
        assertNotEquals(kv.blockBase(s, 1, 0), kv.blockBase(t, 1, 0), "the partial block is copied, not shared");
        assertEquals(kv.blockBase(s, 0, 0), kv.blockBase(t, 0, 0), "the full block is shared");
        for (int pos = 0; pos < 6; pos++) assertArrayEquals(read(kv, s, pos), read(kv, t, pos), "position " + pos);
        assertTrue(kv.reserve(t, 8));
        write(kv, t, 6, 8, 2);                        // t's own positions do not touch s's block
        assertArrayEquals(new float[]{6, 1, -6, 1}, read(kv, s, 6));
        kv.computed(t, b, 7);
        // a's block now answers for its first 3 tokens, b's for its own first 3: another b finds b's.
        int u = kv.open();
        assertEquals(6, kv.attachCachedPrefix(u, tokens(7, 1), 7), "at most up to the last token");
        int[] longer = java.util.Arrays.copyOf(b, 9);
        int w = kv.open();
        assertEquals(7, kv.attachCachedPrefix(w, longer, 9), "b's start of three tokens");
        assertArrayEquals(new float[]{6, 2, -6, 2}, read(kv, w, 6));
    }

    @Test
    void aBlockTakenAgainNoLongerAnswersForItsOldStart() {
        PagedKvCache kv = cache(2);
        int[] a = tokens(3, 1);
        assertEquals(0, run(kv, a));
        assertEquals(2, run(kv, a), "a's block was free, and still held a's first two tokens");
        assertEquals(0, run(kv, tokens(8, 2)), "a prompt taking every block overwrites a's");
        assertEquals(0, run(kv, a), "so a finds nothing");
        assertEquals(2, kv.prefixHitTokens());
    }

    @Test
    void aFollowerReplayingACopyCopiesTheSamePositions() {
        PagedKvCache leader = cache(8), follower = cache(8);
        leader.recordChanges();
        int[] a = tokens(6, 1);
        int s = leader.open();
        assertTrue(leader.reserve(s, 6));
        write(leader, s, 0, 6, 1);
        leader.computed(s, a, 6);
        int t = leader.open();
        assertEquals(5, leader.attachCachedPrefix(t, a, 6));
        int[] j = leader.journal();
        boolean copied = false;
        for (int i = 0; i < leader.journalLength(); i += 3) {
            assertTrue(follower.replay(j[i], j[i + 1], j[i + 2]));
            if (j[i] == PagedKvCache.OP_COPY) {
                copied = true;
            } else if (j[i] == PagedKvCache.OP_APPEND && j[i + 1] == s) {
                int blk = follower.capacity(s) / BS - 1;  // the follower's own keys and values, as its forward pass writes them
                write(follower, s, blk * BS, Math.min(6, blk * BS + BS), 1);
            }
        }
        assertTrue(copied, "the copy is in the journal");
        for (int pos = 0; pos < 5; pos++) assertArrayEquals(read(leader, t, pos), read(follower, t, pos), "position " + pos);
        int own = leader.blockBase(t, 1, 0) / (BS * 2);   // t's copy (a head of 2 numbers a position)
        assertFalse(follower.replay(PagedKvCache.OP_COPY, t, own * BS + 1), "not onto its own source");
    }

    @Test
    void aBlockOnlyMatchesAfterTheSameBlocks() {
        PagedKvCache kv = cache(16);
        int[] a = tokens(9, 1);
        run(kv, a);
        int[] shifted = new int[9];                  // a's second block's tokens, but after another first block
        System.arraycopy(tokens(4, 2), 0, shifted, 0, 4);
        System.arraycopy(a, 4, shifted, 4, 5);
        assertEquals(0, run(kv, shifted));
    }

    @Test
    void sequencesShareCachedBlocksAndTheLeastRecentlyReleasedAreTakenFirst() {
        PagedKvCache kv = cache(6);
        int[] a = tokens(9, 1), b = tokens(9, 2);
        run(kv, a);                                   // a's two blocks cached first
        run(kv, b);                                   // then b's
        assertEquals(4, kv.cachedBlocks());
        int s1 = kv.open(), s2 = kv.open();
        assertEquals(8, kv.attachCachedPrefix(s1, b, 9));
        assertEquals(8, kv.attachCachedPrefix(s2, b, 9), "two sequences hold the same blocks");
        assertEquals(2, kv.usedBlocks());
        // Four more blocks: the two free ones, then a's (released before b's), not b's (held).
        int s3 = kv.open();
        assertTrue(kv.reserve(s3, 16));
        assertEquals(0, kv.cachedBlocks());
        assertFalse(kv.reserve(s3, 20), "nothing left to take");
        kv.release(s3);
        kv.release(s1);
        assertEquals(0, kv.cachedBlocks(), "b's blocks are still held by s2");
        kv.release(s2);
        assertEquals(2, kv.cachedBlocks(), "and cached once no one holds them");
        assertEquals(0, run(kv, a), "a was evicted");
        assertEquals(8, run(kv, b));
    }

    @Test
    void aFollowerCacheReplayingTheJournalHoldsTheSameBlocks() {
        PagedKvCache leader = cache(8), follower = cache(8);
        leader.recordChanges();
        int[] a = tokens(9, 1);
        run(leader, a);
        int s = leader.open();
        leader.attachCachedPrefix(s, a, 9);
        assertTrue(leader.reserve(s, 12));
        int[] j = leader.journal();
        for (int i = 0; i < leader.journalLength(); i += 3) assertTrue(follower.replay(j[i], j[i + 1], j[i + 2]));
        for (int blk = 0; blk < 3; blk++) assertEquals(leader.blockBase(s, blk, 0), follower.blockBase(s, blk, 0), "block " + blk);
        assertEquals(leader.capacity(s), follower.capacity(s));
        assertFalse(follower.replay(PagedKvCache.OP_OPEN, s, 0), "an open slot cannot be opened again");
    }
}
