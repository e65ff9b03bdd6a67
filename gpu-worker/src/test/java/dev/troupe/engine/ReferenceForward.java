package dev.troupe.engine;

import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.gguf.GgufTensor;
import dev.troupe.engine.gguf.TensorCodec;

import java.nio.file.Path;

/**
 * A deliberately plain forward pass for tests, written from the model definitions rather than from
 * LlamaModel: double sums, the whole prefix recomputed at every position, every weight decoded to floats
 * with the codecs. It reads the hyper-parameters from the metadata itself, so a mistake in LlamaConfig
 * shows up as a disagreement. Llama (adjacent-pair RoPE) and qwen2 (Q/K/V biases, half-split RoPE); Llama 3
 * frequency factors from rope_freqs.weight.
 */
final class ReferenceForward {
    private ReferenceForward() {}

    /** Logits [position][vocab] after each token of {@code tokens}. */
    static float[][] logits(Path file, int[] tokens) throws Exception {
        try (GgufFile f = GgufFile.open(file)) {
            String a = f.getString("general.architecture") + ".";
            int dim = f.getInt(a + "embedding_length"), layers = f.getInt(a + "block_count"), ffn = f.getInt(a + "feed_forward_length");
            int heads = f.getInt(a + "attention.head_count"), kvHeads = f.getInt(a + "attention.head_count_kv", heads);
            int hd = dim / heads, kvDim = kvHeads * hd;
            double eps = f.getFloat(a + "attention.layer_norm_rms_epsilon", 1e-5f), base = f.getFloat(a + "rope.freq_base", 10000f);
            boolean neox = a.equals("qwen2.");
            float[] factors = f.hasTensor("rope_freqs.weight") ? vec(f, "rope_freqs.weight") : null;
            float[][] emb = mat(f, "token_embd.weight");
            float[][] out = f.hasTensor("output.weight") ? mat(f, "output.weight") : emb;
            int vocab = emb.length, n = tokens.length;
            double[][][] keys = new double[layers][n][], values = new double[layers][n][];
            float[][] result = new float[n][vocab];
            for (int pos = 0; pos < n; pos++) {
                double[] x = new double[dim];
                for (int i = 0; i < dim; i++) x[i] = emb[tokens[pos]][i];
                for (int l = 0; l < layers; l++) {
                    String p = "blk." + l + ".";
                    double[] h = norm(x, vec(f, p + "attn_norm.weight"), eps);
                    double[] q = add(mul(mat(f, p + "attn_q.weight"), h), f, p + "attn_q.bias");
                    double[] k = add(mul(mat(f, p + "attn_k.weight"), h), f, p + "attn_k.bias");
                    double[] v = add(mul(mat(f, p + "attn_v.weight"), h), f, p + "attn_v.bias");
                    for (int hh = 0; hh < heads; hh++) rope(q, hh * hd, hd, pos, base, neox, factors);
                    for (int hh = 0; hh < kvHeads; hh++) rope(k, hh * hd, hd, pos, base, neox, factors);
                    keys[l][pos] = k;
                    values[l][pos] = v;
                    double[] att = new double[dim];
                    for (int hh = 0; hh < heads; hh++) {
                        int kvh = hh / (heads / kvHeads);
                        double[] s = new double[pos + 1];
                        double max = Double.NEGATIVE_INFINITY;
                        for (int j = 0; j <= pos; j++) {
                            double d = 0;
                            for (int e = 0; e < hd; e++) d += q[hh * hd + e] * keys[l][j][kvh * hd + e];
                            s[j] = d / Math.sqrt(hd);
                            max = Math.max(max, s[j]);
                        }
                        double sum = 0;
                        for (int j = 0; j <= pos; j++) sum += s[j] = Math.exp(s[j] - max);
                        for (int j = 0; j <= pos; j++) {
                            for (int e = 0; e < hd; e++) att[hh * hd + e] += s[j] / sum * values[l][j][kvh * hd + e];
                        }
                    }
                    double[] o = mul(mat(f, p + "attn_output.weight"), att);
                    for (int i = 0; i < dim; i++) x[i] += o[i];
                    h = norm(x, vec(f, p + "ffn_norm.weight"), eps);
                    double[] g = mul(mat(f, p + "ffn_gate.weight"), h), u = mul(mat(f, p + "ffn_up.weight"), h);
                    for (int i = 0; i < ffn; i++) g[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
                    double[] d = mul(mat(f, p + "ffn_down.weight"), g);
                    for (int i = 0; i < dim; i++) x[i] += d[i];
                }
                double[] h = norm(x, vec(f, "output_norm.weight"), eps);
                double[] lg = mul(out, h);
                for (int i = 0; i < vocab; i++) result[pos][i] = (float) lg[i];
            }
            return result;
        }
    }

    private static void rope(double[] a, int off, int hd, int pos, double base, boolean neox, float[] factors) {
        int half = hd / 2;
        for (int i = 0; i < half; i++) {
            double theta = pos * Math.pow(base, -2.0 * i / hd) / (factors != null ? factors[i] : 1);
            int i0 = neox ? off + i : off + 2 * i, i1 = neox ? off + i + half : off + 2 * i + 1;
            double x0 = a[i0], x1 = a[i1];
            a[i0] = x0 * Math.cos(theta) - x1 * Math.sin(theta);
            a[i1] = x0 * Math.sin(theta) + x1 * Math.cos(theta);
        }
    }

    private static double[] norm(double[] x, float[] w, double eps) {
        double ss = 0;
        for (double v : x) ss += v * v;
        double s = 1 / Math.sqrt(ss / x.length + eps);
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i] * s * w[i];
        return out;
    }

    private static double[] mul(float[][] m, double[] x) {
        double[] out = new double[m.length];
        for (int r = 0; r < m.length; r++) {
            double s = 0;
            for (int c = 0; c < x.length; c++) s += m[r][c] * x[c];
            out[r] = s;
        }
        return out;
    }

    private static double[] add(double[] a, GgufFile f, String bias) throws Exception {
        if (!f.hasTensor(bias)) return a;
        float[] b = vec(f, bias);
        for (int i = 0; i < a.length; i++) a[i] += b[i];
        return a;
    }

    static float[] vec(GgufFile f, String name) throws Exception {
        GgufTensor t = f.tensor(name);
        float[] v = new float[(int) t.elements()];
        TensorCodec.of(t.type()).dequantize(t.data(), 0, v, 0, v.length);
        return v;
    }

    static float[][] mat(GgufFile f, String name) throws Exception {
        GgufTensor t = f.tensor(name);
        int cols = (int) t.dim(0), rows = t.rows();
        float[] all = vec(f, name);
        float[][] m = new float[rows][];
        for (int r = 0; r < rows; r++) m[r] = java.util.Arrays.copyOfRange(all, r * cols, (r + 1) * cols);
        return m;
    }
}
