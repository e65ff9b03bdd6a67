package dev.troupe.engine.gguf;

import dev.troupe.engine.gguf.RandomLlamaWriter.LlamaShape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;

import static dev.troupe.engine.gguf.GgufTestSupport.assertValueEquals;
import static dev.troupe.engine.gguf.GgufTestSupport.dequantize;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RandomLlamaWriterTest {
    static final LlamaShape SMALL = new LlamaShape(64, 96, 2, 4, 2, 300, 128, 500000f, 1e-6f, false);

    @TempDir
    Path dir;

    /** Every tensor llama.cpp expects, with its GGUF shape (row length first). */
    static Map<String, long[]> expectedTensors(LlamaShape s) {
        Map<String, long[]> m = new LinkedHashMap<>();
        int d = s.dim(), f = s.ffnDim(), kv = s.kvDim(), v = s.vocab();
        m.put("token_embd.weight", new long[] {d, v});
        m.put("output_norm.weight", new long[] {d});
        if (!s.tiedOutput()) m.put("output.weight", new long[] {d, v});
        for (int l = 0; l < s.layers(); l++) {
            m.put("blk." + l + ".attn_norm.weight", new long[] {d});
            m.put("blk." + l + ".attn_q.weight", new long[] {d, d});
            m.put("blk." + l + ".attn_k.weight", new long[] {d, kv});
            m.put("blk." + l + ".attn_v.weight", new long[] {d, kv});
            m.put("blk." + l + ".attn_output.weight", new long[] {d, d});
            m.put("blk." + l + ".ffn_norm.weight", new long[] {d});
            m.put("blk." + l + ".ffn_gate.weight", new long[] {d, f});
            m.put("blk." + l + ".ffn_down.weight", new long[] {f, d});
            m.put("blk." + l + ".ffn_up.weight", new long[] {d, f});
        }
        return m;
    }

    static void assertModel(GgufFile f, LlamaShape s, GgmlType type) throws IOException {
        Map<String, long[]> expected = expectedTensors(s);
        assertEquals(expected.keySet(), f.tensors().keySet());
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            GgufTensor t = f.tensor(e.getKey());
            assertArrayEquals(e.getValue(), t.shape(), e.getKey());
            assertEquals(e.getValue().length == 1 ? GgmlType.F32 : type, t.type(), e.getKey());
        }
        assertEquals("llama", f.getString("general.architecture"));
        assertEquals(s.contextLength(), f.getInt("llama.context_length"));
        assertEquals(s.dim(), f.getInt("llama.embedding_length"));
        assertEquals(s.ffnDim(), f.getInt("llama.feed_forward_length"));
        assertEquals(s.layers(), f.getInt("llama.block_count"));
        assertEquals(s.heads(), f.getInt("llama.attention.head_count"));
        assertEquals(s.kvHeads(), f.getInt("llama.attention.head_count_kv"));
        assertEquals(s.headDim(), f.getInt("llama.rope.dimension_count"));
        assertEquals(s.ropeBase(), f.getFloat("llama.rope.freq_base", 0));
        assertEquals(s.normEps(), f.getFloat("llama.attention.layer_norm_rms_epsilon", 0));
        assertEquals(RandomLlamaWriter.fileType(type), f.getInt("general.file_type"));
        for (String k : new String[] {"llama.context_length", "llama.embedding_length", "llama.block_count", "general.file_type"}) {
            assertEquals(GgufValueType.UINT32, f.metadata().get(k).type(), k);
        }
        assertEquals(s.vocab(), f.getStringArray("tokenizer.ggml.tokens").length);
        assertEquals(s.vocab(), f.getFloatArray("tokenizer.ggml.scores").length);
        assertEquals(s.vocab(), f.getIntArray("tokenizer.ggml.token_type").length);
    }

    @Test
    void writesEveryLlamaTensorForEachType() throws IOException {
        for (GgmlType type : new GgmlType[] {GgmlType.F32, GgmlType.F16, GgmlType.Q8_0}) {
            Path file = dir.resolve("small-" + type + ".gguf");
            new RandomLlamaWriter(SMALL).type(type).seed(42).name("tiny").write(file);
            try (GgufFile f = GgufFile.open(file)) {
                assertModel(f, SMALL, type);
                assertEquals("tiny", f.getString("general.name"));
            }
        }
    }

    @Test
    void weightsFollowTheRequestedDistributionAndSeed() throws IOException {
        Path a = dir.resolve("a.gguf"), b = dir.resolve("b.gguf"), c = dir.resolve("c.gguf");
        new RandomLlamaWriter(SMALL).seed(7).std(0.05f).write(a);
        new RandomLlamaWriter(SMALL).seed(7).std(0.05f).write(b);
        new RandomLlamaWriter(SMALL).seed(8).std(0.05f).write(c);
        assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b), "same seed, same file");
        try (GgufFile fa = GgufFile.open(a); GgufFile fc = GgufFile.open(c)) {
            float[] emb = dequantize(fa.tensor("token_embd.weight"));
            double sum = 0, sq = 0;
            for (float x : emb) { sum += x; sq += x * x; }
            double mean = sum / emb.length, std = Math.sqrt(sq / emb.length - mean * mean);
            assertEquals(0, mean, 0.002);
            assertEquals(0.05, std, 0.002);
            assertFalse(Arrays.equals(emb, dequantize(fc.tensor("token_embd.weight"))), "another seed, other weights");
            assertFalse(Arrays.equals(dequantize(fa.tensor("blk.0.attn_q.weight")), dequantize(fa.tensor("blk.1.attn_q.weight"))),
                    "every tensor has its own stream");
            float[] norm = dequantize(fa.tensor("blk.0.ffn_norm.weight"));
            for (float x : norm) assertEquals(1f, x, 0.1f);
            assertFalse(Arrays.equals(norm, dequantize(fa.tensor("blk.1.ffn_norm.weight"))));
        }
    }

    @Test
    void tiedOutputOmitsTheOutputMatrix() throws IOException {
        LlamaShape tied = new LlamaShape(32, 64, 1, 2, 1, 280, 64, 10000f, 1e-5f, true);
        Path file = dir.resolve("tied.gguf");
        new RandomLlamaWriter(tied).type(GgmlType.F16).write(file);
        try (GgufFile f = GgufFile.open(file)) {
            assertModel(f, tied, GgmlType.F16);
            assertFalse(f.hasTensor("output.weight"));
        }
    }

    @Test
    void syntheticVocabIsSentencePieceShaped() throws IOException {
        Path file = dir.resolve("vocab.gguf");
        new RandomLlamaWriter(SMALL).write(file);
        try (GgufFile f = GgufFile.open(file)) {
            String[] tokens = f.getStringArray("tokenizer.ggml.tokens");
            int[] types = f.getIntArray("tokenizer.ggml.token_type");
            float[] scores = f.getFloatArray("tokenizer.ggml.scores");
            assertEquals("<unk>", tokens[0]);
            assertEquals("<s>", tokens[1]);
            assertEquals("</s>", tokens[2]);
            assertEquals("<0x00>", tokens[3]);
            assertEquals("<0x0A>", tokens[3 + 10]);
            assertEquals("<0xFF>", tokens[258]);
            assertEquals("\u2581", tokens[259]);
            assertTrue(Arrays.asList(tokens).contains("\u2581the"));
            assertEquals(2, types[0]);
            assertEquals(3, types[1]);
            assertEquals(3, types[2]);
            for (int i = 3; i < 259; i++) assertEquals(6, types[i]);
            for (int i = 259; i < tokens.length; i++) assertEquals(1, types[i]);
            for (int i = 260; i < tokens.length; i++) assertTrue(scores[i] < scores[i - 1], "scores decrease");
            assertEquals(tokens.length, new HashSet<>(Arrays.asList(tokens)).size(), "tokens are unique");
            assertEquals("llama", f.getString("tokenizer.ggml.model"));
            assertEquals(1, f.getInt("tokenizer.ggml.bos_token_id"));
            assertEquals(2, f.getInt("tokenizer.ggml.eos_token_id"));
            assertEquals(0, f.getInt("tokenizer.ggml.unknown_token_id"));
        }
        String[] big = RandomLlamaWriter.syntheticTokens(32000);
        assertEquals(32000, new HashSet<>(Arrays.asList(big)).size());
        assertThrows(IllegalArgumentException.class, () -> RandomLlamaWriter.syntheticTokens(259));
    }

    @Test
    void copiesAndPadsATokenizer() throws IOException {
        Path source = GgufTestSupport.model("stories260K-f32.gguf");
        LlamaShape same = new LlamaShape(64, 64, 1, 4, 4, 512, 64, 10000f, 1e-5f, true);
        LlamaShape padded = new LlamaShape(64, 64, 1, 4, 4, 520, 64, 10000f, 1e-5f, true);
        Path a = dir.resolve("same.gguf"), b = dir.resolve("padded.gguf");
        new RandomLlamaWriter(same).tokenizerFrom(source).write(a);
        new RandomLlamaWriter(padded).tokenizerFrom(source).write(b);
        try (GgufFile src = GgufFile.open(source); GgufFile fa = GgufFile.open(a); GgufFile fb = GgufFile.open(b)) {
            assertModel(fa, same, GgmlType.F32);
            assertModel(fb, padded, GgmlType.F32);
            for (Map.Entry<String, GgufValue> e : src.metadata().entrySet()) {
                if (!e.getKey().startsWith("tokenizer.")) continue;
                assertValueEquals(e.getKey(), e.getValue(), fa.metadata().get(e.getKey()));
            }
            String[] tokens = fb.getStringArray("tokenizer.ggml.tokens");
            assertArrayEquals(src.getStringArray("tokenizer.ggml.tokens"), Arrays.copyOf(tokens, 512));
            assertEquals("<unused_0>", tokens[512]);
            assertEquals("<unused_7>", tokens[519]);
            int[] types = fb.getIntArray("tokenizer.ggml.token_type");
            for (int i = 512; i < 520; i++) assertEquals(5, types[i]);
            assertEquals(src.getInt("tokenizer.ggml.bos_token_id"), fb.getInt("tokenizer.ggml.bos_token_id"));
        }
        LlamaShape small = new LlamaShape(64, 64, 1, 4, 4, 500, 64, 10000f, 1e-5f, true);
        assertThrows(IllegalArgumentException.class, () -> new RandomLlamaWriter(small).tokenizerFrom(source).write(dir.resolve("x.gguf")));
    }

    @Test
    void refusesQ8WhenDimensionsAreNotBlockMultiples() {
        LlamaShape odd = new LlamaShape(64, 172, 1, 8, 4, 300, 64, 10000f, 1e-5f, false);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new RandomLlamaWriter(odd).type(GgmlType.Q8_0).write(dir.resolve("x.gguf")));
        assertTrue(e.getMessage().contains("multiples of 32"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new LlamaShape(60, 64, 1, 8, 4, 300, 64, 1f, 1f, false));
        assertThrows(IllegalArgumentException.class, () -> new LlamaShape(64, 64, 1, 8, 3, 300, 64, 1f, 1f, false));
        assertThrows(IllegalArgumentException.class, () -> new RandomLlamaWriter(SMALL).type(GgmlType.Q2_K));
    }

    private int cli(String args, StringBuilder errOut) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int rc = RandomLlamaWriter.run(args.isEmpty() ? new String[0] : args.split(" "),
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        errOut.append(err.toString(StandardCharsets.UTF_8));
        return rc;
    }

    @Test
    void commandLine() throws IOException {
        Path file = dir.resolve("cli.gguf");
        String base = "--out " + file + " --dim 64 --ffn 96 --layers 2 --heads 4 --kv-heads 2 --vocab 300 --ctx 128 --seed 3";
        StringBuilder err = new StringBuilder();
        assertEquals(0, cli(base + " --type Q8_0", err), err.toString());
        try (GgufFile f = GgufFile.open(file)) {
            assertModel(f, new LlamaShape(64, 96, 2, 4, 2, 300, 128, 10000f, 1e-5f, false), GgmlType.Q8_0);
        }
        for (String bad : new String[] {"", base, base + " --type Q2_K", base + " --type F32 --bogus 1", base + " --type F32 --std",
                base.replace("--dim 64", "--dim sixty") + " --type F32", base.replace("--ffn 96", "--ffn 100") + " --type Q8_0",
                base.replace("--vocab 300", "--vocab 100") + " --type F32"}) {
            StringBuilder e = new StringBuilder();
            assertEquals(2, cli(bad, e), bad);
            assertTrue(e.toString().contains("usage:"), e.toString());
        }
        StringBuilder e = new StringBuilder();
        assertEquals(2, cli(base.replace("--ffn 96", "--ffn 100") + " --type Q8_0", e));
        assertTrue(e.toString().contains("multiples of 32"), e.toString());
    }
}
