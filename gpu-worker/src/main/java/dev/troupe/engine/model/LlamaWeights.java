package dev.troupe.engine.model;

import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.gguf.GgufFormatException;
import dev.troupe.engine.gguf.GgufTensor;

/**
 * The weights of a Llama-family model a {@link TensorShard} computes, bound to their tensors in a GGUF file:
 * row shares are views of the mapped file, column shares are copied out. A tensor this forward pass would
 * not use is refused by name: ignoring one (an output bias, a new norm) would run a different model than
 * the file describes. Shapes below are the shard's (the whole model when it is the only one): Dq = its
 * query heads * headDim, KVs = its key/value heads * headDim, Fs = its FFN units, Vs = its vocabulary rows.
 */
public final class LlamaWeights {
    public final TensorShard shard;
    public final WeightMatrix tokenEmbedding;   // [Vs rows, dim cols]
    public final float[] outputNorm;           // [dim]
    public final WeightMatrix output;          // [Vs rows, dim cols]; the embedding when tied
    public final Layer[] layers;

    /** One transformer block. Rows = output features, cols = input features. */
    public static final class Layer {
        public final float[] attnNorm;      // [dim]
        public final WeightMatrix wq;       // [Dq, dim]
        public final WeightMatrix wk;       // [KVs, dim]
        public final WeightMatrix wv;       // [KVs, dim]
        public final WeightMatrix wo;       // [dim, Dq]: a partial sum when the model is split
        public final float[] ffnNorm;       // [dim]
        public final WeightMatrix wGate;    // [Fs, dim]
        public final WeightMatrix wUp;      // [Fs, dim]
        public final WeightMatrix wDown;    // [dim, Fs]: a partial sum when the model is split
        public final float[] bq, bk, bv;    // [Dq], [KVs], [KVs] projection biases (qwen2), or null

        Layer(GgufFile f, LlamaConfig c, TensorShard s, int i) throws GgufFormatException {
            String p = "blk." + i + ".";
            int hd = c.headDim(), q0 = s.headStart() * hd, dq = s.heads() * hd, kv0 = s.kvHeadStart() * hd, kvs = s.kvHeads() * hd;
            attnNorm = vector(f, p + "attn_norm.weight", c.dim());
            wq = matrix(f, p + "attn_q.weight", c.dim(), c.dim()).rowSlice(q0, dq);
            wk = matrix(f, p + "attn_k.weight", c.dim(), c.kvDim()).rowSlice(kv0, kvs);
            wv = matrix(f, p + "attn_v.weight", c.dim(), c.kvDim()).rowSlice(kv0, kvs);
            bq = f.hasTensor(p + "attn_q.bias") ? part(vector(f, p + "attn_q.bias", c.dim()), q0, dq) : null;
            bk = f.hasTensor(p + "attn_k.bias") ? part(vector(f, p + "attn_k.bias", c.kvDim()), kv0, kvs) : null;
            bv = f.hasTensor(p + "attn_v.bias") ? part(vector(f, p + "attn_v.bias", c.kvDim()), kv0, kvs) : null;
            wo = matrix(f, p + "attn_output.weight", c.dim(), c.dim()).columnSlice(q0, dq);
            ffnNorm = vector(f, p + "ffn_norm.weight", c.dim());
            wGate = matrix(f, p + "ffn_gate.weight", c.dim(), c.ffnDim()).rowSlice(s.ffnStart(), s.ffn());
            wUp = matrix(f, p + "ffn_up.weight", c.dim(), c.ffnDim()).rowSlice(s.ffnStart(), s.ffn());
            wDown = matrix(f, p + "ffn_down.weight", c.ffnDim(), c.dim()).columnSlice(s.ffnStart(), s.ffn());
        }

        private static float[] part(float[] all, int from, int n) {
            return from == 0 && n == all.length ? all : java.util.Arrays.copyOfRange(all, from, from + n);
        }
    }

    /** The whole model. */
    public LlamaWeights(GgufFile f, LlamaConfig c) throws GgufFormatException {
        this(f, c, TensorShard.whole(c));
    }

    /** The share of the model one slice of a tensor-parallel group computes. */
    public LlamaWeights(GgufFile f, LlamaConfig c, TensorShard s) throws GgufFormatException {
        shard = s;
        WeightMatrix embedding = matrix(f, "token_embd.weight", c.dim(), c.vocab());
        tokenEmbedding = embedding.rowSlice(s.vocabStart(), s.vocab());
        outputNorm = vector(f, "output_norm.weight", c.dim());
        output = f.hasTensor("output.weight") ? matrix(f, "output.weight", c.dim(), c.vocab()).rowSlice(s.vocabStart(), s.vocab()) : tokenEmbedding;
        layers = new Layer[c.layers()];
        for (int i = 0; i < layers.length; i++) layers[i] = new Layer(f, c, s, i);
        for (GgufTensor t : f.tensors().values()) {
            if (!known(t.name(), c.layers())) {
                throw new GgufFormatException(f.path(), "tensor '" + t.name() + "' is not part of the " + c.architecture()
                        + " forward pass Troupe runs; refusing the file rather than ignoring it");
            }
        }
    }

    /**
     * Slice {@code rank} of a {@code ranks}-way split of the model in {@code f}, checked against the block
     * sizes of the matrices the split cuts by columns.
     */
    public static TensorShard shard(GgufFile f, LlamaConfig c, int rank, int ranks) throws GgufFormatException {
        java.util.List<dev.troupe.engine.gguf.GgmlType> types = new java.util.ArrayList<>();
        for (int i = 0; i < c.layers(); i++) {
            types.add(f.tensor("blk." + i + ".attn_output.weight").type());
            types.add(f.tensor("blk." + i + ".ffn_down.weight").type());
        }
        return TensorShard.of(c, rank, ranks, TensorShard.columnBlock(types.toArray(new dev.troupe.engine.gguf.GgmlType[0])));
    }

    /** Bytes of the weights this shard holds in their file encoding (views and copies alike). */
    public long bytes() {
        long n = tokenEmbedding.bytes() + (output != tokenEmbedding ? output.bytes() : 0) + 4L * outputNorm.length;
        for (Layer l : layers) {
            n += l.wq.bytes() + l.wk.bytes() + l.wv.bytes() + l.wo.bytes() + l.wGate.bytes() + l.wUp.bytes() + l.wDown.bytes()
                    + 4L * (l.attnNorm.length + l.ffnNorm.length);
        }
        return n;
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
