package dev.troupe.engine;

import dev.troupe.engine.gguf.GgmlType;
import dev.troupe.engine.gguf.GgufFormatException;
import dev.troupe.engine.gguf.GgufValue;
import dev.troupe.engine.gguf.GgufWriter;
import dev.troupe.engine.gguf.RandomLlamaWriter;
import dev.troupe.engine.gguf.RandomLlamaWriter.LlamaShape;
import dev.troupe.engine.kv.PagedKvCache;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Each supported architecture variant, as a small random model, gives the logits of {@link ReferenceForward}
 * (an independent plain implementation) at every position of a prompt, on both backends: Llama with
 * grouped-query attention, tied embeddings (no output.weight), Llama 3 frequency scaling (rope_freqs.weight, or
 * only the rope.scaling metadata), and qwen2 (Q/K/V biases, half-split RoPE). Other architectures, and tensors
 * the forward pass would ignore, are refused by name.
 */
class ArchitecturesTest {
    private static final LlamaShape GQA = new LlamaShape(64, 96, 2, 4, 2, 300, 64, 10000f, 1e-5f, false);
    private static final LlamaShape TIED = new LlamaShape(64, 96, 2, 4, 4, 300, 64, 500000f, 1e-5f, true);
    private static final int[] PROMPT = {1, 17, 260, 42, 5, 299, 100, 7};

    @TempDir Path dir;

    @Test
    void llamaWithGroupedQueryAttention() throws Exception {
        Path p = dir.resolve("gqa.gguf");
        new RandomLlamaWriter(GQA).seed(1).std(0.1f).write(p);
        assertMatchesReference(p);
    }

    @Test
    void llamaWithTiedEmbeddings() throws Exception {
        Path p = dir.resolve("tied.gguf");
        new RandomLlamaWriter(TIED).seed(2).std(0.1f).write(p);
        try (dev.troupe.engine.gguf.GgufFile f = dev.troupe.engine.gguf.GgufFile.open(p)) {
            assertFalse(f.hasTensor("output.weight"));
        }
        assertMatchesReference(p);
    }

    @Test
    void llama3FrequencyScalingFromTheTensorAndFromTheMetadataAgree() throws Exception {
        // Long wavelengths only matter at positions far apart: a small base makes them short enough that
        // every band (kept, blended, divided) occurs within 16 dimensions.
        LlamaShape shape = new LlamaShape(64, 96, 2, 4, 2, 300, 64, 10000f, 1e-5f, false);
        float[] factors = llama3Factors(16, 10000f, 8f, 1f, 4f, 256);
        assertTrue(factors[0] == 1f && factors[2] == 1f && factors[3] > 1f && factors[3] < 8f && factors[7] == 8f, Arrays.toString(factors));
        Path withTensor = dir.resolve("llama3-tensor.gguf");
        GgufWriter w = new RandomLlamaWriter(shape).seed(3).std(0.1f).build();
        w.addTensor("rope_freqs.weight", GgmlType.F32, new long[] {8}, factors);
        w.write(withTensor);
        assertMatchesReference(withTensor);

        Path withMetadata = dir.resolve("llama3-metadata.gguf");
        GgufWriter m = new RandomLlamaWriter(shape).seed(3).std(0.1f).build();
        m.putString("llama.rope.scaling.type", "llama3").putFloat32("llama.rope.scaling.factor", 8f)
                .putFloat32("llama.rope.scaling.low_freq_factor", 1f).putFloat32("llama.rope.scaling.high_freq_factor", 4f)
                .putUInt32("llama.rope.scaling.original_context_length", 256);
        m.write(withMetadata);
        float[][] a = engineLogits(withTensor, "auto"), b = engineLogits(withMetadata, "auto");
        for (int i = 0; i < a.length; i++) assertTrue(LlamaModelTest.maxRelativeError(b[i], a[i]) < 1e-5, "position " + i);
        // and the scaling changes something: without it the logits differ
        Path plain = dir.resolve("plain.gguf");
        new RandomLlamaWriter(shape).seed(3).std(0.1f).write(plain);
        assertTrue(LlamaModelTest.maxRelativeError(engineLogits(plain, "auto")[PROMPT.length - 1], a[PROMPT.length - 1]) > 1e-3);
    }

    @Test
    void qwen2WithBiasesAndHalfSplitRope() throws Exception {
        Path p = dir.resolve("qwen2.gguf");
        GgufWriter w = asQwen2(new RandomLlamaWriter(GQA).seed(4).std(0.1f).build(), GQA, 4);
        w.write(p);
        assertMatchesReference(p);
        // the biases and the rope style matter: the same weights as llama (no biases) give other logits
        Path llama = dir.resolve("as-llama.gguf");
        new RandomLlamaWriter(GQA).seed(4).std(0.1f).write(llama);
        assertTrue(LlamaModelTest.maxRelativeError(engineLogits(llama, "auto")[3], engineLogits(p, "auto")[3]) > 1e-2);
    }

    /**
     * The same three variants against llama.cpp itself: the fixtures hold llama.cpp's logits for PROMPT (all
     * positions in one batch, F32 KV cache, no flash attention) on the files these tests write, made outside
     * the repository with a small program over libllama (docs/models.md). They depend on RandomLlamaWriter
     * producing the same weights for the same seed.
     */
    @Test
    void llamaQwen2AndLlama3ScalingAgreeWithLlamaCpp() throws Exception {
        LlamaShape gqa = GQA;
        Path llama = dir.resolve("ref-llama.gguf");
        new RandomLlamaWriter(gqa).seed(1).std(0.1f).write(llama);
        Path qwen2 = dir.resolve("ref-qwen2.gguf");
        asQwen2(new RandomLlamaWriter(gqa).seed(4).std(0.1f).build(), gqa, 4).write(qwen2);
        Path llama3 = dir.resolve("ref-llama3.gguf");
        GgufWriter w = new RandomLlamaWriter(gqa).seed(3).std(0.1f).build();
        w.addTensor("rope_freqs.weight", GgmlType.F32, new long[] {8}, llama3Factors(16, 10000f, 8f, 1f, 4f, 256));
        w.write(llama3);
        for (Object[] c : new Object[][] {{llama, "llama-gqa"}, {qwen2, "qwen2"}, {llama3, "llama3-rope-freqs"}}) {
            float[][] want = llamaCppLogits((String) c[1]);
            for (String backend : new String[] {"scalar", "auto"}) {
                float[][] got = engineLogits((Path) c[0], backend), prefill = prefillLogits((Path) c[0], backend, PROMPT);
                for (int i = 0; i < PROMPT.length; i++) {
                    double err = LlamaModelTest.maxRelativeError(got[i], want[i]);
                    assertTrue(err < 1e-4, c[1] + " " + backend + " position " + i + ": relative error to llama.cpp " + err);
                    err = LlamaModelTest.maxRelativeError(prefill[i], want[i]);
                    assertTrue(err < 1e-4, c[1] + " " + backend + " prefill position " + i + ": relative error to llama.cpp " + err);
                }
            }
        }
    }

    static float[][] llamaCppLogits(String name) throws Exception {
        try (java.io.InputStream in = ArchitecturesTest.class.getResourceAsStream("/reference-logits/" + name + ".bin")) {
            assertNotNull(in, name);
            java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(in.readAllBytes()).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            int n = b.getInt(0), vocab = b.getInt(4);
            float[][] out = new float[n][vocab];
            for (int i = 0; i < n; i++) for (int j = 0; j < vocab; j++) out[i][j] = b.getFloat(8 + 4 * (i * vocab + j));
            return out;
        }
    }

    @Test
    void otherArchitecturesAreRefusedByName() throws Exception {
        Path p = dir.resolve("gemma.gguf");
        GgufWriter w = new RandomLlamaWriter(GQA).seed(5).build();
        w.putString("general.architecture", "gemma");
        w.write(p);
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> LlamaModel.load(p, opts("auto")));
        assertTrue(e.getMessage().contains("unsupported architecture 'gemma' (supported: llama, qwen2)"), e.getMessage());
    }

    @Test
    void aTensorTheForwardPassWouldIgnoreIsRefusedByName() throws Exception {
        Path p = dir.resolve("extra.gguf");
        GgufWriter w = new RandomLlamaWriter(GQA).seed(5).build();
        w.addTensor("blk.1.attn_output.bias", GgmlType.F32, new long[] {64}, new float[64]);
        w.write(p);
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> LlamaModel.load(p, opts("auto")));
        assertTrue(e.getMessage().contains("tensor 'blk.1.attn_output.bias' is not part of the llama forward pass"), e.getMessage());
    }

    @Test
    void unsupportedRopeScalingIsRefusedByName() throws Exception {
        Path p = dir.resolve("yarn.gguf");
        GgufWriter w = new RandomLlamaWriter(GQA).seed(5).build();
        w.putString("llama.rope.scaling.type", "yarn");
        w.write(p);
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> LlamaModel.load(p, opts("auto")));
        assertTrue(e.getMessage().contains("unsupported rope.scaling.type 'yarn'"), e.getMessage());
    }

    /** Renames the llama.* metadata to qwen2.* and adds random Q/K/V biases, as a qwen2 GGUF has. */
    static GgufWriter asQwen2(GgufWriter w, LlamaShape s, long seed) {
        List<String> keys = new ArrayList<>(w.metadata().keySet());
        for (String k : keys) {
            if (!k.startsWith("llama.")) continue;
            GgufValue v = w.get(k);
            w.remove(k);
            w.put("qwen2." + k.substring(6), v);
        }
        w.putString("general.architecture", "qwen2");
        SplittableRandom r = new SplittableRandom(seed);
        for (int l = 0; l < s.layers(); l++) {
            w.addTensor("blk." + l + ".attn_q.bias", GgmlType.F32, new long[] {s.dim()}, gaussian(r, s.dim(), 0.5f));
            w.addTensor("blk." + l + ".attn_k.bias", GgmlType.F32, new long[] {s.kvDim()}, gaussian(r, s.kvDim(), 0.5f));
            w.addTensor("blk." + l + ".attn_v.bias", GgmlType.F32, new long[] {s.kvDim()}, gaussian(r, s.kvDim(), 0.5f));
        }
        return w;
    }

    private static float[] gaussian(SplittableRandom r, int n, float std) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextGaussian() * std);
        return a;
    }

    /** Llama 3.1's published frequency factors, computed here independently of LlamaConfig. */
    static float[] llama3Factors(int ropeDim, float base, float factor, float low, float high, int original) {
        float[] out = new float[ropeDim / 2];
        for (int i = 0; i < out.length; i++) {
            double wavelen = 2 * Math.PI * Math.pow(base, 2.0 * i / ropeDim);
            double lowWavelen = original / low, highWavelen = original / high;
            if (wavelen < highWavelen) out[i] = 1f;
            else if (wavelen > lowWavelen) out[i] = factor;
            else {
                double smooth = (original / wavelen - low) / (high - low);
                out[i] = (float) (1 / ((1 - smooth) / factor + smooth));
            }
        }
        return out;
    }

    /** An F32 KV cache: these compare with float-rounding tolerances (the F16 cache's bound: KvCacheTypeTest). */
    static EngineOptions opts(String backend) {
        return EngineOptions.defaults().withThreads(2).withBackend(backend).withMaxBatchTokens(16).withKvCacheTokens(512).withMaxSequences(16)
                .withKvCacheType(dev.troupe.engine.kv.PagedKvCache.Type.F32);
    }

    private void assertMatchesReference(Path p) throws Exception {
        float[][] want = ReferenceForward.logits(p, PROMPT);
        for (String backend : new String[] {"scalar", "auto"}) {
            float[][] got = engineLogits(p, backend), prefill = prefillLogits(p, backend, PROMPT);
            for (int i = 0; i < PROMPT.length; i++) {
                double err = LlamaModelTest.maxRelativeError(got[i], want[i]);
                assertTrue(err < 1e-4, p.getFileName() + " " + backend + " position " + i + ": relative error " + err);
                err = LlamaModelTest.maxRelativeError(prefill[i], want[i]);
                assertTrue(err < 1e-4, p.getFileName() + " " + backend + " prefill position " + i + ": relative error " + err);
            }
        }
    }

    /** Logits after each token of {@code prompt}, all fed in one step (a prefill asking for every row). */
    static float[][] prefillLogits(Path p, String backend, int[] prompt) throws Exception {
        try (LlamaModel m = LlamaModel.load(p, opts(backend))) {
            PagedKvCache kv = m.kvCache();
            int seq = kv.open();
            assertTrue(kv.reserve(seq, prompt.length));
            Batch b = new Batch(m.maxBatchTokens());
            for (int i = 0; i < prompt.length; i++) b.add(seq, prompt[i], i, true);
            m.forward(b);
            float[][] out = new float[prompt.length][];
            for (int i = 0; i < prompt.length; i++) out[i] = Arrays.copyOfRange(m.logits(), i * m.vocabSize(), (i + 1) * m.vocabSize());
            kv.release(seq);
            return out;
        }
    }

    /** Logits after each token of PROMPT, fed one decode step at a time. */
    static float[][] engineLogits(Path p, String backend) throws Exception {
        return engineLogits(p, backend, PROMPT);
    }

    static float[][] engineLogits(Path p, String backend, int[] prompt) throws Exception {
        try (LlamaModel m = LlamaModel.load(p, opts(backend))) {
            PagedKvCache kv = m.kvCache();
            int seq = kv.open();
            assertTrue(kv.reserve(seq, prompt.length));
            Batch b = new Batch(m.maxBatchTokens());
            float[][] out = new float[prompt.length][];
            for (int i = 0; i < prompt.length; i++) {
                b.clear();
                b.add(seq, prompt[i], i, true);
                m.forward(b);
                out[i] = Arrays.copyOf(m.logits(), m.vocabSize());
            }
            kv.release(seq);
            return out;
        }
    }
}
