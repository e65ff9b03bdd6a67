package dev.troupe.scheduler;

/**
 * The KV block pool as the batch scheduler sees it: sequence slots and fixed-size blocks of token
 * positions. The step loop implements it over the engine's paged KV cache; tests use a counting fake.
 */
public interface KvBlocks {
    /** Opens a sequence slot holding no blocks; -1 when every slot is taken. */
    int open();

    /** Makes sure positions [0, tokens) of the slot have blocks; all or nothing (false takes nothing). */
    boolean reserve(int slot, int tokens);

    /** Blocks {@link #reserve} would still have to take for the slot to hold {@code tokens} positions. */
    int blocksNeeded(int slot, int tokens);

    /** Returns the slot's blocks to the pool and frees the slot. */
    void release(int slot);

    int freeBlocks();

    int totalBlocks();

    /** Token positions per block. */
    int blockSize();

    /**
     * Prefix caching: a slot just opened for s takes the cached blocks that already hold s's leading tokens.
     * Returns the positions it now holds computed (0 when nothing is cached, or without a prefix cache).
     */
    default int attachCachedPrefix(int slot, ScheduledSequence<?> s) {
        return 0;
    }

    /** The slot's positions [0, computedTokens) now hold s's tokens: its full blocks may be cached for later sequences. */
    default void computed(int slot, ScheduledSequence<?> s, int computedTokens) {}
}
