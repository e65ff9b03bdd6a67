package dev.troupe.engine.model;

import dev.troupe.engine.gguf.GgmlType;
import dev.troupe.engine.gguf.GgufWriter;
import dev.troupe.engine.gguf.RandomLlamaWriter;
import dev.troupe.engine.gguf.RandomLlamaWriter.LlamaShape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** What {@code bin/troupe inspect} prints: the facts of a file, and why it cannot be served when it cannot. */
class ModelReportTest {
    private static final LlamaShape SHAPE = new LlamaShape(256, 512, 2, 4, 2, 300, 64, 10000f, 1e-5f, false);

    @TempDir Path dir;

    @Test
    void aQ4KMModelIsDescribedAndServable() throws Exception {
        Path p = dir.resolve("m.gguf");
        GgufWriter w = new RandomLlamaWriter(SHAPE).q4kM().seed(1).build();
        w.putString("tokenizer.chat_template", "{{ messages }}");
        w.write(p);
        ModelReport r = ModelReport.of(p);
        String text = r.text();
        assertTrue(r.servable(), text);
        assertEquals("llama", r.architecture());
        // token_embd + 2 x (q, k, o, gate, up) in Q4_K; output + 2 x (v, down) in Q6_K; 5 norms in F32
        long q4 = GgmlType.Q4_K.bytesFor(256L * 300) + 2 * (2 * GgmlType.Q4_K.bytesFor(256L * 256)
                + GgmlType.Q4_K.bytesFor(256L * 128) + 2 * GgmlType.Q4_K.bytesFor(256L * 512));
        assertArrayEquals(new long[] {11, q4}, r.types().get(GgmlType.Q4_K));
        assertEquals(5, r.types().get(GgmlType.Q6_K)[0]);
        assertEquals(5, r.types().get(GgmlType.F32)[0]);
        assertTrue(text.contains("dim 256, 2 layers, 4 heads (2 KV, head size 64), FFN 512, vocab 300, context 64"), text);
        assertTrue(text.contains("tokenizer:     llama (300 tokens)"), text);
        assertTrue(text.contains("chat template: yes"), text);
        assertTrue(text.contains("servable:      yes"), text);
        assertTrue(text.matches("(?s).*Q6_K\\s+5 tensors.*"), text);
    }

    @Test
    void anUnsupportedArchitectureIsNamed() throws Exception {
        Path p = dir.resolve("phi.gguf");
        GgufWriter w = new RandomLlamaWriter(SHAPE).seed(1).build();
        w.putString("general.architecture", "phi3");
        w.write(p);
        ModelReport r = ModelReport.of(p);
        assertFalse(r.servable());
        assertTrue(r.text().contains("servable:      no: ") && r.problem().contains("unsupported architecture 'phi3' (supported: llama, qwen2)"), r.text());
        assertTrue(r.text().contains("chat template: no"), r.text());
    }

    @Test
    void anUnsupportedTensorTypeIsNamedWithItsTensor() throws Exception {
        Path p = dir.resolve("q8_1.gguf");
        GgufWriter w = new RandomLlamaWriter(SHAPE).seed(1).build();
        w.removeTensor("blk.1.ffn_up.weight");
        w.addTensor("blk.1.ffn_up.weight", GgmlType.Q8_1, new long[] {256, 512}, ByteBuffer.allocate((int) GgmlType.Q8_1.bytesFor(256 * 512)));
        w.write(p);
        ModelReport r = ModelReport.of(p);
        assertFalse(r.servable());
        assertTrue(r.problem().contains("tensor 'blk.1.ffn_up.weight' has type Q8_1"), r.problem());
        assertEquals(1, r.types().get(GgmlType.Q8_1)[0]);
    }

    @Test
    void anIQuantFileOpensAndItsTypeIsNamed() throws Exception {
        Path p = dir.resolve("iq4_xs.gguf");
        GgufWriter w = new RandomLlamaWriter(SHAPE).seed(1).build();
        w.removeTensor("blk.0.ffn_gate.weight");
        w.addTensor("blk.0.ffn_gate.weight", GgmlType.IQ4_XS, new long[] {256, 512}, ByteBuffer.allocate((int) GgmlType.IQ4_XS.bytesFor(256 * 512)));
        w.write(p);
        ModelReport r = ModelReport.of(p);
        assertFalse(r.servable());
        assertEquals(1, r.types().get(GgmlType.IQ4_XS)[0]);
        assertTrue(r.problem().contains("tensor 'blk.0.ffn_gate.weight' has type IQ4_XS, which is not supported"), r.problem());
    }

    @Test
    void aFileThatIsNotGgufSaysSo() throws Exception {
        Path p = dir.resolve("junk.gguf");
        Files.write(p, new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
        ModelReport r = ModelReport.of(p);
        assertFalse(r.servable());
        assertTrue(r.problem().startsWith("cannot read the file"), r.problem());
    }
}
