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
        assertEquals(8, run(kv, a), "the same prompt again: two blocks found, the partial one computed");
        int[] b = a.clone();
        b[5] = -7;                                   // differs in the second block
        assertEquals(4, run(kv, b));
        int[] exact = tokens(8, 1);                  // ends exactly at a block boundary: its last block is computed
        assertEquals(4, run(kv, exact));
        assertEquals(10 + 10 + 10 + 8, kv.prefixQueriedTokens());
        assertEquals(8 + 4 + 4, kv.prefixHitTokens());
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
