package dev.troupe.engine.model;

import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.gguf.GgufFormatException;

/** Hyper-parameters of a Llama-architecture model, read from GGUF metadata. */
public record LlamaConfig(
        int dim,            // embedding width
        int ffnDim,         // SwiGLU hidden width
        int layers,
        int heads,          // query heads
        int kvHeads,        // key/value heads (grouped-query attention when < heads)
        int headDim,        // dim / heads
        int vocab,
        int contextLength,
        int ropeDim,        // leading dimensions of each head that RoPE rotates
        float ropeBase,
        float ropeScale,    // positions are multiplied by this (1 / linear scaling factor; 1 = none)
        float normEps) {

    public static final String ARCHITECTURE = "llama";

    public int kvDim() { return kvHeads * headDim; }

    /** Query heads that share one key/value head. */
    public int groupSize() { return heads / kvHeads; }

    public static LlamaConfig from(GgufFile f) throws GgufFormatException {
        String arch = f.getString("general.architecture");
        if (!ARCHITECTURE.equals(arch)) {
            throw new GgufFormatException(f.path(), "unsupported architecture '" + arch + "' (supported: " + ARCHITECTURE + ")");
        }
        String p = arch + ".";
        int dim = f.getInt(p + "embedding_length");
        int heads = f.getInt(p + "attention.head_count");
        int kvHeads = f.getInt(p + "attention.head_count_kv", heads);
        if (heads <= 0 || dim % heads != 0 || kvHeads <= 0 || heads % kvHeads != 0) {
            throw new GgufFormatException(f.path(), "inconsistent attention shape: embedding_length " + dim
                    + ", head_count " + heads + ", head_count_kv " + kvHeads);
        }
        int headDim = dim / heads;
        int vocab = f.tensor("token_embd.weight").rows();
        int ropeDim = f.getInt(p + "rope.dimension_count", headDim);
        if (ropeDim > headDim || ropeDim % 2 != 0) {
            throw new GgufFormatException(f.path(), "rope.dimension_count " + ropeDim + " must be even and at most the head size " + headDim);
        }
        float ropeScale = 1f;
        if (f.has(p + "rope.scale_linear")) ropeScale = 1f / f.getFloat(p + "rope.scale_linear", 1f);
        if (f.has(p + "rope.scaling.type")) {
            String type = f.getString(p + "rope.scaling.type");
            if (type.equals("linear")) ropeScale = 1f / f.getFloat(p + "rope.scaling.factor", 1f);
            else if (!type.equals("none")) {
                throw new GgufFormatException(f.path(), "unsupported rope.scaling.type '" + type + "' (supported: none, linear)");
            }
        }
        return new LlamaConfig(dim, f.getInt(p + "feed_forward_length"), f.getInt(p + "block_count"), heads, kvHeads, headDim,
                vocab, f.getInt(p + "context_length"), ropeDim, f.getFloat(p + "rope.freq_base", 10000f), ropeScale,
                f.getFloat(p + "attention.layer_norm_rms_epsilon", 1e-5f));
    }
}
