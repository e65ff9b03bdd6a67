package dev.troupe.engine.gguf;

import dev.troupe.engine.gguf.RandomLlamaWriter.LlamaShape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static dev.troupe.engine.gguf.GgufTestSupport.assertValueEquals;
import static dev.troupe.engine.gguf.GgufTestSupport.dequantize;
import static dev.troupe.engine.gguf.GgufTestSupport.model;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** Checks against the shared real model files (skipped, saying so, when ../shared/models is absent). */
class RealModelsTest {
    @TempDir
    Path dir;

    @Test
    void stories260K() throws IOException {
        try (GgufFile f = GgufFile.open(model("stories260K-f32.gguf"))) {
            assertEquals(48, f.tensors().size());
            assertEquals("llama", f.getString("general.architecture"));
            assertEquals(512, f.getStringArray("tokenizer.ggml.tokens").length);
            LlamaShape shape = new LlamaShape(f.getInt("llama.embedding_length"), f.getInt("llama.feed_forward_length"),
                    f.getInt("llama.block_count"), f.getInt("llama.attention.head_count"), f.getInt("llama.attention.head_count_kv"),
                    512, f.getInt("llama.context_length"), 10000f, 1e-5f, false);
            assertEquals(new LlamaShape(64, 172, 5, 8, 4, 512, 128, 10000f, 1e-5f, false), shape);
            Map<String, long[]> expected = RandomLlamaWriterTest.expectedTensors(shape);
            assertEquals(expected.keySet(), f.tensors().keySet(), "the random writer uses the same names as the real model");
            for (Map.Entry<String, long[]> e : expected.entrySet()) {
                assertArrayEquals(e.getValue(), f.tensor(e.getKey()).shape(), e.getKey());
                assertEquals(GgmlType.F32, f.tensor(e.getKey()).type());
            }
        }
    }

    /** Copying every key and tensor of a real file through the writer reproduces it byte for byte. */
    @Test
    void rewritingStories260KReproducesItExactly() throws IOException {
        Path source = model("stories260K-f32.gguf");
        Path copy = dir.resolve("copy.gguf");
        try (GgufFile f = GgufFile.open(source)) {
            GgufWriter w = new GgufWriter();
            f.metadata().forEach(w::put);
            for (GgufTensor t : f.tensors().values()) w.addTensor(t.name(), t.type(), t.shape(), t.data());
            w.write(copy);
        }
        try (GgufFile a = GgufFile.open(source); GgufFile b = GgufFile.open(copy)) {
            for (Map.Entry<String, GgufValue> e : a.metadata().entrySet()) {
                assertValueEquals(e.getKey(), e.getValue(), b.metadata().get(e.getKey()));
            }
            assertEquals(a.dataStart(), b.dataStart());
        }
        assertArrayEquals(Files.readAllBytes(source), Files.readAllBytes(copy));
    }

    @Test
    void random15MQ8IsWithinTheQ8BoundOfF32() throws IOException {
        try (GgufFile f32 = GgufFile.open(model("random15M-f32.gguf")); GgufFile q8 = GgufFile.open(model("random15M-q8_0.gguf"))) {
            assertEquals(f32.tensors().keySet(), q8.tensors().keySet());
            for (String name : new String[] {"token_embd.weight", "blk.0.attn_q.weight", "blk.5.ffn_down.weight", "output_norm.weight"}) {
                GgufTensor a = f32.tensor(name), b = q8.tensor(name);
                assertArrayEquals(a.shape(), b.shape(), name);
                assertEquals(GgmlType.F32, a.type(), name);
                float[] x = dequantize(a), y = dequantize(b);
                if (b.type() == GgmlType.F32) {
                    assertArrayEquals(x, y, name);
                    continue;
                }
                assertEquals(GgmlType.Q8_0, b.type(), name);
                GgufWriterTest.assertQ8Matches(name, x, y);
                // and our quantizer produces the file's bytes exactly
                ByteBuffer mine = ByteBuffer.allocate(Math.toIntExact(b.byteSize())).order(ByteOrder.LITTLE_ENDIAN);
                Q8_0Codec.INSTANCE.quantize(x, 0, x.length, mine, 0);
                if (!mine.equals(b.data())) fail(name + ": Q8_0Codec's bytes differ from the file's");
            }
        }
    }
}
