package dev.troupe.engine.gguf;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Writes Llama-architecture GGUF models with random weights, named and shaped as llama.cpp names them, for
 * tests and benchmarks. Matrices are drawn from N(0, std) (norm weights are 1 plus small noise) with a seed,
 * each tensor from its own stream so the result does not depend on write order; tensors are generated one at a
 * time while the file is written. Matrices (token_embd and output included) use the requested type (or the
 * Q4_K_M mix, {@link #q4kM}); norms stay F32.
 *
 * <p>Tokenizer metadata is either copied from another GGUF (all {@code tokenizer.*} keys, the per-token arrays
 * padded with {@code <unused_N>} tokens of type 5 up to the vocab size) or a synthetic SentencePiece vocab:
 * {@code <unk>}, {@code <s>}, {@code </s>}, the 256 byte tokens, then pieces.
 *
 * <pre>{@code
 * new RandomLlamaWriter(new LlamaShape(64, 256, 2, 4, 2, 300, 128, 10000f, 1e-5f, false))
 *         .type(GgmlType.Q8_0).seed(7).write(path);
 * }</pre>
 */
public final class RandomLlamaWriter {

    /** The model's hyper-parameters. {@code dim} must be divisible by heads, heads by kvHeads. */
    public record LlamaShape(int dim, int ffnDim, int layers, int heads, int kvHeads, int vocab, int contextLength,
                             float ropeBase, float normEps, boolean tiedOutput) {
        public LlamaShape {
            positive("dim", dim);
            positive("ffnDim", ffnDim);
            positive("layers", layers);
            positive("heads", heads);
            positive("kvHeads", kvHeads);
            positive("vocab", vocab);
            positive("contextLength", contextLength);
            if (dim % heads != 0) throw new IllegalArgumentException("dim " + dim + " is not divisible by heads " + heads);
            if (heads % kvHeads != 0) throw new IllegalArgumentException("heads " + heads + " is not divisible by kvHeads " + kvHeads);
            if ((dim / heads) % 2 != 0) throw new IllegalArgumentException("head dimension " + dim / heads + " must be even for RoPE");
            if (!(ropeBase > 0) || !(normEps > 0)) throw new IllegalArgumentException("ropeBase and normEps must be > 0");
        }

        /** A shape with rope base 10000, eps 1e-5 and a separate output matrix. */
        public static LlamaShape of(int dim, int ffnDim, int layers, int heads, int kvHeads, int vocab, int contextLength) {
            return new LlamaShape(dim, ffnDim, layers, heads, kvHeads, vocab, contextLength, 10000f, 1e-5f, false);
        }

        public int headDim() { return dim / heads; }

        public int kvDim() { return kvHeads * headDim(); }

        private static void positive(String what, int v) {
            if (v <= 0) throw new IllegalArgumentException(what + " must be > 0, got " + v);
        }
    }

    /** Token types as llama.cpp numbers them. */
    public static final int TOKEN_NORMAL = 1, TOKEN_UNKNOWN = 2, TOKEN_CONTROL = 3, TOKEN_UNUSED = 5, TOKEN_BYTE = 6;
    /** Specials and byte tokens take 259 ids; a synthetic vocab needs a few pieces beyond them. */
    public static final int SYNTHETIC_MIN_VOCAB = 259 + 8;
    /** Standard deviation of the noise added to the 1.0 norm weights. */
    public static final float NORM_NOISE = 0.01f;

    private final LlamaShape shape;
    private GgmlType type = GgmlType.F32;
    private boolean q4kM;
    private long seed = 0;
    private float std = 0.02f;
    private Path tokenizerFrom;
    private String name = "random-llama";

    public RandomLlamaWriter(LlamaShape shape) {
        this.shape = Objects.requireNonNull(shape, "shape");
    }

    /** Types the writer can produce (those whose codec has a quantizer). */
    public static final java.util.List<GgmlType> WRITABLE = java.util.List.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0,
            GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K);

    /** Type of the 2-D matrices: F32 (default) or another of {@link #WRITABLE}. Clears {@link #q4kM}. */
    public RandomLlamaWriter type(GgmlType type) {
        if (!WRITABLE.contains(type)) {
            throw new IllegalArgumentException("weight type must be one of " + WRITABLE + ", got " + type);
        }
        this.type = type;
        this.q4kM = false;
        return this;
    }

    /**
     * The Q4_K_M layout: Q4_K matrices, except output.weight, every attn_v and every ffn_down in Q6_K (llama.cpp
     * gives Q6_K to some of attn_v/ffn_down only; all of them keeps this simple and still mixes the two types).
     * Quantized with this project's simple quantizers, not llama.cpp's.
     */
    public RandomLlamaWriter q4kM() {
        this.type = GgmlType.Q4_K;
        this.q4kM = true;
        return this;
    }

    private GgmlType typeOf(String tensor) {
        if (!q4kM) return type;
        return tensor.equals("output.weight") || tensor.endsWith("attn_v.weight") || tensor.endsWith("ffn_down.weight") ? GgmlType.Q6_K : GgmlType.Q4_K;
    }

    public RandomLlamaWriter seed(long seed) { this.seed = seed; return this; }

    /** Standard deviation of the matrix weights (default 0.02). */
    public RandomLlamaWriter std(float std) {
        if (!(std >= 0) || Float.isInfinite(std)) throw new IllegalArgumentException("std must be finite and >= 0, got " + std);
        this.std = std;
        return this;
    }

    /** Copy the tokenizer from this GGUF instead of making a synthetic one (null: synthetic). */
    public RandomLlamaWriter tokenizerFrom(Path gguf) { this.tokenizerFrom = gguf; return this; }

    /** {@code general.name} (default "random-llama"). */
    public RandomLlamaWriter name(String name) { this.name = Objects.requireNonNull(name, "name"); return this; }

    /** The llama.cpp {@code general.file_type} for a weight type. */
    public static int fileType(GgmlType type) {
        switch (type) {
            case F32: return 0;
            case F16: return 1;
            case Q4_0: return 2;
            case Q4_1: return 3;
            case Q8_0: return 7;
            case Q5_0: return 8;
            case Q5_1: return 9;
            case Q4_K: return 14;   // Q4_K_S: all Q4_K
            case Q5_K: return 16;   // Q5_K_S
            case Q6_K: return 18;
            case BF16: return 32;
            default: throw new IllegalArgumentException("no file type for " + type);
        }
    }

    /** Builds the writer (metadata and lazily generated tensors) without writing it. */
    public GgufWriter build() throws IOException {
        int block = q4kM ? 256 : type.blockSize();
        if (shape.dim % block != 0 || shape.ffnDim % block != 0) {
            throw new IllegalArgumentException(type + " needs dim and ffn to be multiples of " + block + " (its block size), got dim "
                    + shape.dim + ", ffn " + shape.ffnDim + "; use F32 or F16 for this shape");
        }
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama");
        w.putString("general.name", name);
        w.putUInt32("llama.context_length", shape.contextLength);
        w.putUInt32("llama.embedding_length", shape.dim);
        w.putUInt32("llama.feed_forward_length", shape.ffnDim);
        w.putUInt32("llama.block_count", shape.layers);
        w.putUInt32("llama.attention.head_count", shape.heads);
        w.putUInt32("llama.attention.head_count_kv", shape.kvHeads);
        w.putUInt32("llama.rope.dimension_count", shape.headDim());
        w.putFloat32("llama.rope.freq_base", shape.ropeBase);
        w.putFloat32("llama.attention.layer_norm_rms_epsilon", shape.normEps);
        w.putUInt32("general.file_type", q4kM ? 15 : fileType(type));
        if (type.blockSize() > 1) w.putUInt32("general.quantization_version", 2);
        if (tokenizerFrom != null) copyTokenizer(w, tokenizerFrom, shape.vocab);
        else syntheticTokenizer(w, shape.vocab);

        int d = shape.dim, f = shape.ffnDim, kv = shape.kvDim(), v = shape.vocab;
        matrix(w, "token_embd.weight", d, v);
        norm(w, "output_norm.weight", d);
        if (!shape.tiedOutput) matrix(w, "output.weight", d, v);
        for (int l = 0; l < shape.layers; l++) {
            String p = "blk." + l + ".";
            norm(w, p + "attn_norm.weight", d);
            matrix(w, p + "attn_q.weight", d, d);
            matrix(w, p + "attn_k.weight", d, kv);
            matrix(w, p + "attn_v.weight", d, kv);
            matrix(w, p + "attn_output.weight", d, d);
            norm(w, p + "ffn_norm.weight", d);
            matrix(w, p + "ffn_gate.weight", d, f);
            matrix(w, p + "ffn_down.weight", f, d);
            matrix(w, p + "ffn_up.weight", d, f);
        }
        return w;
    }

    /** Writes the model to {@code out}. */
    public void write(Path out) throws IOException {
        build().write(out);
    }

    private void matrix(GgufWriter w, String tensor, int rowLength, int rows) {
        long n = (long) rowLength * rows;
        if (n > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("tensor '" + tensor + "' is too large: " + n + " elements");
        w.addTensor(tensor, typeOf(tensor), new long[] {rowLength, rows}, () -> {
            SplittableRandom r = stream(tensor);
            float[] a = new float[(int) n];
            for (int i = 0; i < a.length; i++) a[i] = (float) (r.nextGaussian() * std);
            return a;
        });
    }

    private void norm(GgufWriter w, String tensor, int n) {
        w.addTensor(tensor, GgmlType.F32, new long[] {n}, () -> {
            SplittableRandom r = stream(tensor);
            float[] a = new float[n];
            for (int i = 0; i < n; i++) a[i] = 1f + (float) (r.nextGaussian() * NORM_NOISE);
            return a;
        });
    }

    private SplittableRandom stream(String tensor) {
        long h = seed * 0x9E3779B97F4A7C15L;
        for (int i = 0; i < tensor.length(); i++) h = (h ^ tensor.charAt(i)) * 0xBF58476D1CE4E5B9L;
        return new SplittableRandom(h ^ (h >>> 31));
    }

    // ---------------------------------------------------------------- tokenizers

    private static void copyTokenizer(GgufWriter w, Path source, int vocab) throws IOException {
        try (GgufFile src = GgufFile.open(source)) {
            String[] tokens = src.getStringArray("tokenizer.ggml.tokens");
            int n = tokens.length;
            if (n > vocab) {
                throw new IllegalArgumentException("vocab " + vocab + " is smaller than the " + n + " tokens of " + source);
            }
            for (Map.Entry<String, GgufValue> e : src.metadata().entrySet()) {
                if (!e.getKey().startsWith("tokenizer.")) continue;
                GgufValue v = e.getValue();
                if (n < vocab && v.type() == GgufValueType.ARRAY && v.length() == n) v = padded(e.getKey(), v, tokens, vocab);
                w.put(e.getKey(), v);
            }
        }
    }

    /** Pads a per-token array to vocab entries: tokens get unique {@code <unused_N>}, types 5, scores a very low score. */
    private static GgufValue padded(String key, GgufValue v, String[] tokens, int vocab) {
        int n = tokens.length;
        Object a = v.value();
        if (key.equals("tokenizer.ggml.tokens")) {
            Set<String> seen = new HashSet<>(Arrays.asList(tokens));
            String[] out = Arrays.copyOf(tokens, vocab);
            int next = 0;
            for (int i = n; i < vocab; i++) {
                String t;
                do { t = "<unused_" + next++ + ">"; } while (seen.contains(t));
                out[i] = t;
            }
            return GgufValue.array(GgufValueType.STRING, out);
        }
        if (key.equals("tokenizer.ggml.token_type") && a instanceof int[]) {
            int[] out = Arrays.copyOf((int[]) a, vocab);
            Arrays.fill(out, n, vocab, TOKEN_UNUSED);
            return GgufValue.array(v.elementType(), out);
        }
        if (key.equals("tokenizer.ggml.scores") && a instanceof float[]) {
            float[] out = Arrays.copyOf((float[]) a, vocab);
            Arrays.fill(out, n, vocab, -1e9f);
            return GgufValue.array(v.elementType(), out);
        }
        return v; // some other array that happens to have n entries: not per-token as far as we know
    }

    /** The synthetic SentencePiece vocabulary's tokens (exposed for tests). */
    public static String[] syntheticTokens(int vocab) {
        if (vocab < SYNTHETIC_MIN_VOCAB) {
            throw new IllegalArgumentException("a synthetic vocab needs at least " + SYNTHETIC_MIN_VOCAB
                    + " tokens (3 specials, 256 bytes, some pieces), got " + vocab);
        }
        LinkedHashSet<String> t = new LinkedHashSet<>();
        t.add("<unk>");
        t.add("<s>");
        t.add("</s>");
        for (int b = 0; b < 256; b++) t.add(String.format("<0x%02X>", b));
        String sp = "\u2581";
        String letters = "etaoinshrdlcumwfgypbvkjxqz";
        List<String> pieces = new ArrayList<>();
        pieces.add(sp);
        for (char c : letters.toCharArray()) pieces.add(String.valueOf(c));
        for (String word : new String[] {"the", "and", "to", "was", "a", "he", "she", "it", "in", "of", "they", "said",
                "day", "her", "his", "with", "big", "play", "Once", "upon", "time", "there", "little", "Tim", "Lily"}) {
            pieces.add(sp + word);
        }
        for (char c : letters.toCharArray()) pieces.add(sp + c);
        for (char c : letters.toCharArray()) pieces.add(String.valueOf(Character.toUpperCase(c)));
        for (String p : new String[] {".", ",", "!", "?", "'", "\"", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}) pieces.add(p);
        for (String p : pieces) {
            if (t.size() == vocab) break;
            t.add(p);
        }
        // then letter strings of growing length, with and without the word-start marker
        for (int len = 2; t.size() < vocab; len++) {
            int[] idx = new int[len];
            while (t.size() < vocab) {
                StringBuilder s = new StringBuilder(len);
                for (int i : idx) s.append(letters.charAt(i));
                t.add(s.toString());
                if (t.size() < vocab) t.add(sp + s);
                int k = len - 1;
                while (k >= 0 && ++idx[k] == letters.length()) idx[k--] = 0;
                if (k < 0) break;
            }
        }
        return t.toArray(new String[0]);
    }

    private static void syntheticTokenizer(GgufWriter w, int vocab) {
        String[] tokens = syntheticTokens(vocab);
        float[] scores = new float[vocab];
        int[] types = new int[vocab];
        types[0] = TOKEN_UNKNOWN;
        types[1] = TOKEN_CONTROL;
        types[2] = TOKEN_CONTROL;
        Arrays.fill(types, 3, 259, TOKEN_BYTE);
        for (int i = 259; i < vocab; i++) {
            types[i] = TOKEN_NORMAL;
            scores[i] = -(i - 259);
        }
        w.putString("tokenizer.ggml.model", "llama");
        w.putStringArray("tokenizer.ggml.tokens", tokens);
        w.putFloatArray("tokenizer.ggml.scores", scores);
        w.putInt32Array("tokenizer.ggml.token_type", types);
        w.putUInt32("tokenizer.ggml.bos_token_id", 1);
        w.putUInt32("tokenizer.ggml.eos_token_id", 2);
        w.putUInt32("tokenizer.ggml.unknown_token_id", 0);
        w.putBool("tokenizer.ggml.add_bos_token", true);
        w.putBool("tokenizer.ggml.add_eos_token", false);
    }

    // ---------------------------------------------------------------- command line

    static final String USAGE = String.join("\n",
            "usage: RandomLlamaWriter --out FILE --dim N --ffn N --layers N --heads N --kv-heads N --vocab N --ctx N",
            "                         --type F32|F16|BF16|Q8_0|Q4_0|Q4_1|Q5_0|Q5_1|Q4_K|Q5_K|Q6_K|Q4_K_M --seed S [--tokenizer-from FILE] [--std X] [--rope-base X]",
            "                         [--eps X] [--tied] [--name NAME]",
            "Writes a Llama GGUF with random N(0, std) weights (std 0.02 by default).");

    public static void main(String[] args) {
        int rc = run(args, System.out, System.err);
        if (rc != 0) System.exit(rc);
    }

    /** The command line without exiting: 0 on success, 2 on bad arguments, 1 when writing failed. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        Map<String, String> opts = new java.util.HashMap<>();
        Set<String> flags = Set.of("--tied");
        Set<String> known = Set.of("--out", "--dim", "--ffn", "--layers", "--heads", "--kv-heads", "--vocab", "--ctx", "--type",
                "--seed", "--tokenizer-from", "--std", "--rope-base", "--eps", "--name");
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (flags.contains(a)) {
                opts.put(a, "true");
            } else if (known.contains(a) && i + 1 < args.length) {
                if (opts.put(a, args[++i]) != null) return usage(err, "option " + a + " given twice");
            } else {
                return usage(err, known.contains(a) ? "option " + a + " needs a value" : "unknown argument '" + a + "'");
            }
        }
        for (String required : List.of("--out", "--dim", "--ffn", "--layers", "--heads", "--kv-heads", "--vocab", "--ctx", "--type", "--seed")) {
            if (!opts.containsKey(required)) return usage(err, "missing " + required);
        }
        RandomLlamaWriter writer;
        Path path;
        try {
            LlamaShape shape = new LlamaShape(intOpt(opts, "--dim"), intOpt(opts, "--ffn"), intOpt(opts, "--layers"),
                    intOpt(opts, "--heads"), intOpt(opts, "--kv-heads"), intOpt(opts, "--vocab"), intOpt(opts, "--ctx"),
                    Float.parseFloat(opts.getOrDefault("--rope-base", "10000")), Float.parseFloat(opts.getOrDefault("--eps", "1e-5")),
                    opts.containsKey("--tied"));
            String typeName = opts.get("--type").toUpperCase(java.util.Locale.ROOT);
            GgmlType type;
            try {
                type = typeName.equals("Q4_K_M") ? GgmlType.Q4_K : GgmlType.valueOf(typeName);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--type must be one of " + WRITABLE + " or Q4_K_M, got " + opts.get("--type"));
            }
            writer = new RandomLlamaWriter(shape).type(type).seed(Long.parseLong(opts.get("--seed")))
                    .std(Float.parseFloat(opts.getOrDefault("--std", "0.02")));
            if (typeName.equals("Q4_K_M")) writer.q4kM();
            if (opts.containsKey("--name")) writer.name(opts.get("--name"));
            if (opts.containsKey("--tokenizer-from")) writer.tokenizerFrom(Path.of(opts.get("--tokenizer-from")));
            path = Path.of(opts.get("--out"));
            if (shape.dim % type.blockSize() != 0 || shape.ffnDim % type.blockSize() != 0) {
                throw new IllegalArgumentException(type + " needs --dim and --ffn to be multiples of " + type.blockSize() + ", got " + shape.dim + " and " + shape.ffnDim);
            }
            if (opts.get("--tokenizer-from") == null && shape.vocab < SYNTHETIC_MIN_VOCAB) {
                throw new IllegalArgumentException("--vocab must be at least " + SYNTHETIC_MIN_VOCAB + " for the synthetic tokenizer");
            }
        } catch (IllegalArgumentException e) { // NumberFormatException included
            return usage(err, e.getMessage());
        }
        try {
            writer.write(path);
        } catch (IOException | RuntimeException e) {
            err.println("RandomLlamaWriter: failed to write " + path + ": " + e.getMessage());
            return 1;
        }
        out.println("wrote " + path);
        return 0;
    }

    private static int intOpt(Map<String, String> opts, String key) {
        try {
            return Integer.parseInt(opts.get(key));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " needs an integer, got '" + opts.get(key) + "'");
        }
    }

    private static int usage(PrintStream err, String problem) {
        err.println("RandomLlamaWriter: " + problem);
        err.println(USAGE);
        return 2;
    }
}
