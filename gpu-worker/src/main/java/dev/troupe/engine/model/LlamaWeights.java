package dev.troupe.engine.model;

import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.gguf.GgufFormatException;
import dev.troupe.engine.gguf.GgufTensor;

/**
 * All weights of a Llama-family model, bound to their tensors in a GGUF file (mapped, not copied). A tensor
 * this forward pass would not use is refused by name: ignoring one (an output bias, a new norm) would run a
 * different model than the file describes.
 */
public final class LlamaWeights {
    public final WeightMatrix tokenEmbedding;   // [vocab rows, dim cols]
    public final float[] outputNorm;           // [dim]
    public final WeightMatrix output;          // [vocab rows, dim cols]; the embedding when tied
    public final Layer[] layers;

    /** One transformer block. Rows = output features, cols = input features. */
    public static final class Layer {
        public final float[] attnNorm;      // [dim]
        public final WeightMatrix wq;       // [dim, dim]
        public final WeightMatrix wk;       // [kvDim, dim]
        public final WeightMatrix wv;       // [kvDim, dim]
        public final WeightMatrix wo;       // [dim, dim]
        public final float[] ffnNorm;       // [dim]
        public final WeightMatrix wGate;    // [ffn, dim]
        public final WeightMatrix wUp;      // [ffn, dim]
        public final WeightMatrix wDown;    // [dim, ffn]
        public final float[] bq, bk, bv;    // [dim], [kvDim], [kvDim] projection biases (qwen2), or null

        Layer(GgufFile f, LlamaConfig c, int i) throws GgufFormatException {
            String p = "blk." + i + ".";
            attnNorm = vector(f, p + "attn_norm.weight", c.dim());
            wq = matrix(f, p + "attn_q.weight", c.dim(), c.dim());
            wk = matrix(f, p + "attn_k.weight", c.dim(), c.kvDim());
            wv = matrix(f, p + "attn_v.weight", c.dim(), c.kvDim());
            bq = f.hasTensor(p + "attn_q.bias") ? vector(f, p + "attn_q.bias", c.dim()) : null;
            bk = f.hasTensor(p + "attn_k.bias") ? vector(f, p + "attn_k.bias", c.kvDim()) : null;
            bv = f.hasTensor(p + "attn_v.bias") ? vector(f, p + "attn_v.bias", c.kvDim()) : null;
            wo = matrix(f, p + "attn_output.weight", c.dim(), c.dim());
            ffnNorm = vector(f, p + "ffn_norm.weight", c.dim());
            wGate = matrix(f, p + "ffn_gate.weight", c.dim(), c.ffnDim());
            wUp = matrix(f, p + "ffn_up.weight", c.dim(), c.ffnDim());
            wDown = matrix(f, p + "ffn_down.weight", c.ffnDim(), c.dim());
        }
    }

    public LlamaWeights(GgufFile f, LlamaConfig c) throws GgufFormatException {
        tokenEmbedding = matrix(f, "token_embd.weight", c.dim(), c.vocab());
        outputNorm = vector(f, "output_norm.weight", c.dim());
        output = f.hasTensor("output.weight") ? matrix(f, "output.weight", c.dim(), c.vocab()) : tokenEmbedding;
        layers = new Layer[c.layers()];
        for (int i = 0; i < layers.length; i++) layers[i] = new Layer(f, c, i);
        for (GgufTensor t : f.tensors().values()) {
            if (!known(t.name(), c.layers())) {
                throw new GgufFormatException(f.path(), "tensor '" + t.name() + "' is not part of the " + c.architecture()
                        + " forward pass Troupe runs; refusing the file rather than ignoring it");
            }
        }
    }

    private static final java.util.Set<String> TOP = java.util.Set.of("token_embd.weight", "output_norm.weight", "output.weight", "rope_freqs.weight");
    private static final java.util.Set<String> BLOCK = java.util.Set.of("attn_norm.weight", "attn_q.weight", "attn_k.weight",
            "attn_v.weight", "attn_output.weight", "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight",
            "attn_q.bias", "attn_k.bias", "attn_v.bias");

    private static boolean known(String name, int layers) {
        if (TOP.contains(name)) return true;
        if (!name.startsWith("blk.")) return false;
        int dot = name.indexOf('.', 4);
        if (dot < 0) return false;
        try {
            int layer = Integer.parseInt(name.substring(4, dot));
            return layer >= 0 && layer < layers && BLOCK.contains(name.substring(dot + 1));
        } catch (NumberFormatException e) {
            return false;
        }
    }

    private static WeightMatrix matrix(GgufFile f, String name, int cols, int rows) throws GgufFormatException {
        return WeightMatrix.of(f.path(), f.tensor(name), cols, rows);
    }

    /** Norm weights are tiny (one row of dim floats) and read once per step: decode them to the heap. */
    private static float[] vector(GgufFile f, String name, int n) throws GgufFormatException {
        GgufTensor t = f.tensor(name);
        if (t.elements() != n) {
            throw new GgufFormatException(f.path(), "tensor '" + name + "' has " + t.elements() + " elements, expected " + n);
        }
        float[] out = new float[n];
        WeightMatrix.of(f.path(), t, n, 1).dequantizeRow(0, out, 0);
        return out;
    }
}
