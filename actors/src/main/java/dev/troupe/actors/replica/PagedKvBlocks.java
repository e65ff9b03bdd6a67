package dev.troupe.actors.replica;

import dev.troupe.engine.kv.PagedKvCache;
import dev.troupe.scheduler.KvBlocks;
import dev.troupe.scheduler.ScheduledSequence;

/** The scheduler's view of the engine's paged KV cache, with its prefix cache when enabled. */
final class PagedKvBlocks implements KvBlocks {
    private final PagedKvCache kv;
    private final boolean prefixCaching;

    PagedKvBlocks(PagedKvCache kv, boolean prefixCaching) {
        this.kv = kv;
        this.prefixCaching = prefixCaching;
    }

    @Override public int open() { return kv.open(); }

    @Override public boolean reserve(int slot, int tokens) { return kv.reserve(slot, tokens); }

    @Override public int blocksNeeded(int slot, int tokens) { return kv.blocksNeeded(slot, tokens); }

    @Override public void release(int slot) { kv.release(slot); }

    @Override public int freeBlocks() { return kv.freeBlocks(); }

    @Override public int totalBlocks() { return kv.totalBlocks(); }

    @Override public int blockSize() { return kv.blockSize(); }

    @Override
    public int attachCachedPrefix(int slot, ScheduledSequence<?> s) {
        return prefixCaching ? kv.attachCachedPrefix(slot, tokens(s), s.totalTokens()) : 0;
    }

    @Override
    public void computed(int slot, ScheduledSequence<?> s, int computedTokens) {
        if (prefixCaching) kv.computed(slot, tokens(s), computedTokens);
    }

    private static int[] tokens(ScheduledSequence<?> s) {
        return ((LiveRequest) s.payload()).tokens;
    }
}
