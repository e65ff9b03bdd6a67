package dev.troupe.engine.model;

import dev.troupe.engine.gguf.GgmlType;

/**
 * Which part of a model one slice of a tensor-parallel group computes: a contiguous run of query heads
 * (with the key/value heads they read, so grouped-query attention stays within the slice), a run of FFN
 * hidden units and a run of the vocabulary. Attention-output and FFN-down projections then produce
 * partial sums over the slice's columns, which the group adds up; embeddings and logits are split by
 * vocabulary rows. {@link #whole} is the single-slice case.
 *
 * @param rank       this slice's place in the group, 0 = the leader
 * @param ranks      slices in the group (N)
 * @param headStart  first query head of this slice
 * @param heads      query heads of this slice
 * @param kvHeadStart first key/value head of this slice
 * @param kvHeads    key/value heads of this slice
 * @param ffnStart   first FFN hidden unit
 * @param ffn        FFN hidden units of this slice
 * @param vocabStart first vocabulary row (embedding and classifier)
 * @param vocab      vocabulary rows of this slice
 */
public record TensorShard(int rank, int ranks, int headStart, int heads, int kvHeadStart, int kvHeads,
                          int ffnStart, int ffn, int vocabStart, int vocab) {

    public static TensorShard whole(LlamaConfig c) {
        return new TensorShard(0, 1, 0, c.heads(), 0, c.kvHeads(), 0, c.ffnDim(), 0, c.vocab());
    }

    /**
     * Slice {@code rank} of {@code ranks}. {@code columnBlock} is the largest block (in columns) of the
     * types of the matrices split by columns (attn_output, ffn_down): a share must not cut a block.
     * Refuses, with the numbers, a split the model's shape does not allow.
     */
    public static TensorShard of(LlamaConfig c, int rank, int ranks, int columnBlock) {
        if (ranks < 1 || rank < 0 || rank >= ranks) throw new IllegalArgumentException("slice " + rank + " of " + ranks);
        if (c.kvHeads() % ranks != 0) {
            throw new IllegalArgumentException("the model has " + c.kvHeads() + " key/value heads, which do not split "
                    + ranks + " ways (tensor parallelism splits whole key/value heads with their query heads)");
        }
        int kvPer = c.kvHeads() / ranks, headsPer = c.heads() / ranks;
        if ((headsPer * c.headDim()) % columnBlock != 0) {
            throw new IllegalArgumentException("a " + ranks + "-way share of attn_output is " + headsPer * c.headDim()
                    + " columns, not a whole number of the weight type's " + columnBlock + "-column blocks");
        }
        // FFN units go out in whole blocks, as evenly as they can.
        if (c.ffnDim() % columnBlock != 0) {
            throw new IllegalArgumentException("the FFN width " + c.ffnDim() + " is not a whole number of " + columnBlock + "-column blocks");
        }
        int blocks = c.ffnDim() / columnBlock;
        if (blocks < ranks) {
            throw new IllegalArgumentException("the FFN width " + c.ffnDim() + " has " + blocks + " blocks of " + columnBlock
                    + " columns, fewer than " + ranks + " slices");
        }
        int f0 = split(blocks, rank, ranks) * columnBlock, f1 = split(blocks, rank + 1, ranks) * columnBlock;
        int v0 = split(c.vocab(), rank, ranks), v1 = split(c.vocab(), rank + 1, ranks);
        return new TensorShard(rank, ranks, rank * headsPer, headsPer, rank * kvPer, kvPer, f0, f1 - f0, v0, v1 - v0);
    }

    /** The column block of the matrices a split cuts by columns. */
    public static int columnBlock(GgmlType... types) {
        int b = 1;
        for (GgmlType t : types) b = Math.max(b, t.blockSize());
        return b;
    }

    private static int split(int units, int part, int parts) {
        return (int) ((long) units * part / parts);
    }

    public boolean isWhole() { return ranks == 1; }

    public boolean isLeader() { return rank == 0; }

    /** First vocabulary row of slice {@code r} of this group (the same split as {@link #of}). */
    public int vocabStartOf(int r, int totalVocab) { return split(totalVocab, r, ranks); }
}
