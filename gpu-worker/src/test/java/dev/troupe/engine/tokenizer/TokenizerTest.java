package dev.troupe.engine.tokenizer;

import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.gguf.GgufFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Tokenizer.fromGguf dispatch and its errors, and the interface's default methods. */
class TokenizerTest {
    @TempDir
    Path dir;

    @Test
    void unsupportedModelIsAClearError() throws IOException {
        Path p = new GgufTestWriter()
                .put("tokenizer.ggml.model", "bert")
                .put("tokenizer.ggml.tokens", new String[]{"a"})
                .write(dir);
        try (GgufFile f = GgufFile.open(p)) {
            GgufFormatException e = assertThrows(GgufFormatException.class, () -> Tokenizer.fromGguf(f));
            assertTrue(e.getMessage().contains("'bert'"), e.getMessage());
            assertTrue(e.getMessage().contains("llama") && e.getMessage().contains("gpt2"), e.getMessage());
        }
    }

    @Test
    void missingModelOrTokensIsAClearError() throws IOException {
        Path p = new GgufTestWriter().put("general.architecture", "llama").write(dir);
        try (GgufFile f = GgufFile.open(p)) {
            GgufFormatException e = assertThrows(GgufFormatException.class, () -> Tokenizer.fromGguf(f));
            assertTrue(e.getMessage().contains("tokenizer.ggml.model"), e.getMessage());
        }
        Path q = new GgufTestWriter().put("tokenizer.ggml.model", "llama").write(dir);
        try (GgufFile f = GgufFile.open(q)) {
            GgufFormatException e = assertThrows(GgufFormatException.class, () -> Tokenizer.fromGguf(f));
            assertTrue(e.getMessage().contains("tokenizer.ggml.tokens"), e.getMessage());
        }
        Path r = new GgufTestWriter()
                .put("tokenizer.ggml.model", "llama")
                .put("tokenizer.ggml.tokens", new String[]{"<unk>", "<s>", "</s>"})
                .put("tokenizer.ggml.scores", new float[]{0, 0})
                .write(dir);
        try (GgufFile f = GgufFile.open(r)) {
            GgufFormatException e = assertThrows(GgufFormatException.class, () -> Tokenizer.fromGguf(f));
            assertTrue(e.getMessage().contains("scores"), e.getMessage());
        }
    }

    @Test
    void defaultMethodsWorkForAnyImplementation() {
        // A minimal implementation relying on the interface's default decode/streamDecoder.
        Tokenizer chars = new Tokenizer() {
            public int[] encode(String text, boolean addBos) { return text.chars().toArray(); }
            public byte[] tokenBytes(int id) { return new byte[]{(byte) id}; }
            public int vocabSize() { return 256; }
            public int bos() { return -1; }
            public int eos() { return -1; }
            public boolean isEndOfGeneration(int id) { return false; }
            public boolean addBosByDefault() { return false; }
            public String tokenText(int id) { return String.valueOf((char) id); }
            public int tokenType(int id) { return TokenType.BYTE; }
        };
        int[] ids = {0x68, 0xC3, 0xA9, 0xE6, 0x97, 0xA5};
        assertEquals("hé日", chars.decode(ids));
        assertEquals("é", chars.decode(ids, 1, 3));
        StreamDecoder d = chars.streamDecoder();
        assertEquals("h", d.push(0x68));
        assertEquals("", d.push(0xC3));
        assertEquals("é", d.push(0xA9));
        assertEquals("", d.push(0xE6));
        assertEquals("\uFFFD", d.flush());
        assertArrayEquals(new int[]{'a'}, chars.encode("a"));
    }
}
