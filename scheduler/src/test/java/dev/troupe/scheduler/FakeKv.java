package dev.troupe.scheduler;

/** Counts blocks per slot, like the engine's paged cache, without storing anything. */
final class FakeKv implements KvBlocks {
    final int blockSize;
    final int totalBlocks;
    final int[] held;
    final boolean[] open;
    int free;

    FakeKv(int slots, int totalBlocks, int blockSize) {
        this.blockSize = blockSize;
        this.totalBlocks = totalBlocks;
        this.held = new int[slots];
        this.open = new boolean[slots];
        this.free = totalBlocks;
    }

    @Override public int open() {
        for (int s = 0; s < open.length; s++) {
            if (!open[s]) { open[s] = true; held[s] = 0; return s; }
        }
        return -1;
    }

    @Override public boolean reserve(int slot, int tokens) {
        check(slot);
        int extra = blocksNeeded(slot, tokens);
        if (extra > free) return false;
        held[slot] += extra;
        free -= extra;
        return true;
    }

    @Override public int blocksNeeded(int slot, int tokens) {
        check(slot);
        return Math.max(0, (tokens + blockSize - 1) / blockSize - held[slot]);
    }

    @Override public void release(int slot) {
        check(slot);
        free += held[slot];
        held[slot] = 0;
        open[slot] = false;
    }

    int capacity(int slot) { check(slot); return held[slot] * blockSize; }

    int openSlots() { int n = 0; for (boolean b : open) if (b) n++; return n; }

    @Override public int freeBlocks() { return free; }

    @Override public int totalBlocks() { return totalBlocks; }

    @Override public int blockSize() { return blockSize; }

    private void check(int slot) {
        if (slot < 0 || slot >= open.length || !open[slot]) throw new IllegalArgumentException("slot " + slot + " not open");
    }
}
