package dev.troupe.actors.replica;

import dev.troupe.engine.kv.PagedKvCache;
import dev.troupe.scheduler.KvBlocks;

/** The scheduler's view of the engine's paged KV cache. */
final class PagedKvBlocks implements KvBlocks {
    private final PagedKvCache kv;

    PagedKvBlocks(PagedKvCache kv) { this.kv = kv; }

    @Override public int open() { return kv.open(); }

    @Override public boolean reserve(int slot, int tokens) { return kv.reserve(slot, tokens); }

    @Override public int blocksNeeded(int slot, int tokens) { return kv.blocksNeeded(slot, tokens); }

    @Override public void release(int slot) { kv.release(slot); }

    @Override public int freeBlocks() { return kv.freeBlocks(); }

    @Override public int totalBlocks() { return kv.totalBlocks(); }

    @Override public int blockSize() { return kv.blockSize(); }
}
