package dev.troupe.engine.model;

import dev.troupe.engine.gguf.GgmlType;
import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.gguf.GgufFormatException;
import dev.troupe.engine.gguf.GgufTensor;

import java.util.List;

/**
 * Hyper-parameters of a Llama-family model, read from GGUF metadata. Two GGUF architectures share this forward
 * pass: {@code llama} (Llama 2 and 3, Mistral, TinyLlama, SmolLM; RoPE on adjacent pairs) and {@code qwen2}
 * (biases on the Q, K, V projections; RoPE on the two halves of each head, "NEOX" style).
 */
public record LlamaConfig(
        String architecture,
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
        float normEps,
        boolean neoxRope,   // rotate (x[i], x[i + ropeDim/2]) instead of (x[2i], x[2i+1])
        float[] ropeFreqFactors) { // [ropeDim / 2] divisors of each rotation frequency (Llama 3 scaling), or null

    /** The architecture a plain Llama file names (the registry records it). */
    public static final String ARCHITECTURE = "llama";
    /** Every {@code general.architecture} this forward pass runs. */
    public static final List<String> ARCHITECTURES = List.of("llama", "qwen2");

    public int kvDim() { return kvHeads * headDim; }

    /** Query heads that share one key/value head. */
    public int groupSize() { return heads / kvHeads; }

    public static LlamaConfig from(GgufFile f) throws GgufFormatException {
        if (!f.has("general.architecture")) {
            throw new GgufFormatException(f.path(), "no general.architecture in the metadata (supported: " + String.join(", ", ARCHITECTURES) + ")");
        }
        String arch = f.getString("general.architecture");
        if (!ARCHITECTURES.contains(arch)) {
            throw new GgufFormatException(f.path(), "unsupported architecture '" + arch + "' (supported: " + String.join(", ", ARCHITECTURES) + ")");
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
        if (f.has(p + "attention.key_length") && f.getInt(p + "attention.key_length") != headDim
                || f.has(p + "attention.value_length") && f.getInt(p + "attention.value_length") != headDim) {
            throw new GgufFormatException(f.path(), "attention.key_length/value_length differ from embedding_length / head_count = "
                    + headDim + "; heads of another size are not supported");
        }
        int vocab = f.tensor("token_embd.weight").rows();
        int ropeDim = f.getInt(p + "rope.dimension_count", headDim);
        if (ropeDim > headDim || ropeDim % 2 != 0) {
            throw new GgufFormatException(f.path(), "rope.dimension_count " + ropeDim + " must be even and at most the head size " + headDim);
        }
        float ropeBase = f.getFloat(p + "rope.freq_base", 10000f);
        float ropeScale = 1f;
        float[] factors = null;
        if (f.has(p + "rope.scale_linear")) ropeScale = 1f / f.getFloat(p + "rope.scale_linear", 1f);
        String scaling = f.has(p + "rope.scaling.type") ? f.getString(p + "rope.scaling.type") : "none";
        switch (scaling) {
            case "none":
                break;
            case "linear":
                ropeScale = 1f / f.getFloat(p + "rope.scaling.factor", 1f);
                break;
            case "llama3":
                // Files converted by llama.cpp carry the factors as rope_freqs.weight; this covers files that
                // only state the parameters.
                factors = llama3Factors(f, p, ropeDim, ropeBase);
                break;
            default:
                throw new GgufFormatException(f.path(), "unsupported rope.scaling.type '" + scaling + "' (supported: none, linear, llama3)");
        }
        if (f.hasTensor("rope_freqs.weight")) factors = freqFactors(f, ropeDim);
        return new LlamaConfig(arch, dim, f.getInt(p + "feed_forward_length"), f.getInt(p + "block_count"), heads, kvHeads, headDim,
                vocab, f.getInt(p + "context_length"), ropeDim, ropeBase, ropeScale,
                f.getFloat(p + "attention.layer_norm_rms_epsilon", 1e-5f), arch.equals("qwen2"), factors);
    }

    /** The {@code rope_freqs.weight} tensor: one F32 divisor per rotated pair. */
    private static float[] freqFactors(GgufFile f, int ropeDim) throws GgufFormatException {
        GgufTensor t = f.tensor("rope_freqs.weight");
        if (t.elements() != ropeDim / 2 || t.type() != GgmlType.F32) {
            throw new GgufFormatException(f.path(), "rope_freqs.weight must be " + ropeDim / 2 + " F32 values, found " + t.elements()
                    + " of " + t.type());
        }
        float[] out = new float[ropeDim / 2];
        for (int i = 0; i < out.length; i++) out[i] = t.data().getFloat(4 * i);
        return out;
    }

    /**
     * Llama 3.1's frequency scaling from its published parameters: wavelengths shorter than
     * original_context / high_freq_factor keep their frequency, longer than original_context / low_freq_factor
     * are divided by factor, and those in between blend the two.
     */
    static float[] llama3Factors(GgufFile f, String p, int ropeDim, float base) throws GgufFormatException {
        float factor = f.getFloat(p + "rope.scaling.factor", 8f);
        float low = f.getFloat(p + "rope.scaling.low_freq_factor", 1f);
        float high = f.getFloat(p + "rope.scaling.high_freq_factor", 4f);
        int original = f.getInt(p + "rope.scaling.original_context_length", 8192);
        if (!(high > low) || !(factor > 0)) {
            throw new GgufFormatException(f.path(), "llama3 rope scaling needs high_freq_factor > low_freq_factor and factor > 0");
        }
        float[] out = new float[ropeDim / 2];
        for (int i = 0; i < out.length; i++) {
            double freq = Math.pow(base, -2.0 * i / ropeDim);
            double wavelen = 2 * Math.PI / freq;
            if (wavelen < original / high) out[i] = 1f;
            else if (wavelen > original / low) out[i] = factor;
            else {
                double smooth = (original / wavelen - low) / (high - low);
                out[i] = (float) (1 / ((1 - smooth) / factor + smooth));
            }
        }
        return out;
    }
}
