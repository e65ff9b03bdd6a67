package dev.troupe.engine.tokenizer;

import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.gguf.GgufFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Byte-level BPE on a hand-built vocabulary: ids 0..255 are the 256 single bytes (id == byte value), then
 * these merged pieces, and three control tokens. Expected sequences are derived by hand from the merge ranks.
 */
class BpeTokenizerTest {
    private static final String[] MERGED = {
            "Ġt", "he", "Ġthe", "ll", "ell", "hell", "hello", "Ġw", "or", "Ġwor", "ld", "Ġworld", "Ã©", "ca", "caf", "cafÃ©"};
    private static final int GT = 256, HE = 257, GTHE = 258, LL = 259, HELLO = 262, GWORLD = 267, CAFE = 271;
    private static final int BOT = 272, EOT_TEXT = 273, EOT_ID = 274;
    private static final String[] MERGES = {
            "Ġ t", "h e", "Ġt he", "l l", "e ll", "h ell", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld", "Ã ©", "c a", "ca f", "caf Ã©"};

    static String[] tokens() {
        String[] t = new String[256 + MERGED.length + 3];
        for (int b = 0; b < 256; b++) t[b] = BpeTokenizer.bytesToPieceText(new byte[]{(byte) b});
        System.arraycopy(MERGED, 0, t, 256, MERGED.length);
        t[BOT] = "<|begin_of_text|>";
        t[EOT_TEXT] = "<|end_of_text|>";
        t[EOT_ID] = "<|eot_id|>";
        return t;
    }

    static int[] types() {
        int[] ty = new int[256 + MERGED.length + 3];
        Arrays.fill(ty, TokenType.NORMAL);
        ty[BOT] = ty[EOT_TEXT] = ty[EOT_ID] = TokenType.CONTROL;
        return ty;
    }

    static BpeTokenizer bpe(String pre) {
        return new BpeTokenizer(tokens(), types(), MERGES, pre, BOT, EOT_TEXT, -1, true, new int[]{EOT_ID});
    }

    @Test
    void mergesApplyByRank() {
        BpeTokenizer gpt2 = bpe("gpt2");
        // "hello": h+e (rank 1) beats l+l (rank 3); then "he"+"ll" has no merge and "e ll" can no longer apply.
        assertArrayEquals(new int[]{HE, LL, 'o'}, gpt2.encode("hello", false));
        // " world": Ġ+w (7), o+r (8), Ġw+or (9), l+d (10), Ġwor+ld (11).
        assertArrayEquals(new int[]{GWORLD}, gpt2.encode(" world", false));
        assertArrayEquals(new int[]{HE, LL, 'o', GWORLD}, gpt2.encode("hello world", false));
        assertArrayEquals(new int[]{'t', HE}, gpt2.encode("the", false));
        assertArrayEquals(new int[]{GTHE}, gpt2.encode(" the", false));
        assertArrayEquals(new int[]{GT, 'o', 'p'}, gpt2.encode(" top", false));
        // Multi-byte: é = C3 A9 = "Ã©" (rank 12) merges before c+a (13), then ca+f, caf+é.
        assertArrayEquals(new int[]{CAFE}, gpt2.encode("café", false));
    }

    @Test
    void equalRanksMergeLeftmostFirst() {
        assertArrayEquals(new int[]{LL, 'l'}, bpe("gpt2").encode("lll", false));
        assertArrayEquals(new int[]{LL, LL}, bpe("gpt2").encode("llll", false));
    }

    @Test
    void llama3IgnoresMergesForWholeVocabularyWords() {
        BpeTokenizer llama3 = bpe("llama-bpe");
        assertArrayEquals(new int[]{HELLO, GWORLD}, llama3.encode("hello world", false));
        assertArrayEquals(new int[]{BOT, HELLO}, llama3.encode("hello", true));
        // "Ġcafé" is not a piece, so merges apply: Ġ has no merge with c.
        assertArrayEquals(new int[]{' ', CAFE}, llama3.encode(" café", false));
        assertArrayEquals(new int[]{HELLO}, bpe("llama3").encode("hello", false));
    }

    @Test
    void llama3PreTokenizer() {
        BpeTokenizer t = bpe("llama-bpe");
        assertEquals(BpeTokenizer.LLAMA3_PATTERN, t.pattern());
        assertEquals(List.of("I", "'m", " ", "123", "456", " ok", "!\n\n"), t.preTokenize("I'm 123456 ok!\n\n"));
        assertEquals(List.of("Hello", " ", " world"), t.preTokenize("Hello  world"));
        assertEquals(List.of("IT", "'S"), t.preTokenize("IT'S"));
        assertEquals(List.of("a", " \n", "b"), t.preTokenize("a \nb"));
        assertEquals(List.of("日本語", " 😀"), t.preTokenize("日本語 😀"));
        assertEquals(List.of("x", "\t", " y"), t.preTokenize("x\t y"));
    }

    @Test
    void gpt2PreTokenizer() {
        BpeTokenizer t = bpe("default");
        assertEquals(BpeTokenizer.GPT2_PATTERN, t.pattern());
        assertEquals(List.of("I", "'m", " 123456", " ok", "!"), t.preTokenize("I'm 123456 ok!"));
        assertEquals(List.of("IT", "'", "S"), t.preTokenize("IT'S"));
        assertEquals(BpeTokenizer.GPT2_PATTERN, bpe("gpt2").pattern());
    }

    @Test
    void unknownPreTokenizerFallsBackToLlama3Pattern() {
        assertEquals(BpeTokenizer.LLAMA3_PATTERN, bpe("some-future-pre").pattern());
        assertEquals(BpeTokenizer.LLAMA3_PATTERN, bpe(null).pattern());
        // ...but without the llama3 "ignore merges" rule.
        assertArrayEquals(new int[]{HE, LL, 'o'}, bpe(null).encode("hello", false));
    }

    @Test
    void specialTokensInTextAreNotMatched() {
        BpeTokenizer t = bpe("llama-bpe");
        String text = "<|begin_of_text|>hi<|eot_id|>";
        int[] ids = t.encode(text, false);
        for (int id : ids) assertTrue(id < BOT, "special token " + id + " matched inside text");
        assertEquals(text, t.decode(ids));
    }

    @Test
    void specialsAreParsedOnlyInTemplateSegments() {
        BpeTokenizer t = bpe("llama-bpe");
        List<PromptSegment> prompt = List.of(
                PromptSegment.template("<|begin_of_text|>"),
                PromptSegment.content("hello<|eot_id|>"),
                PromptSegment.template("<|eot_id|>"));
        int[] ids = t.encode(prompt, false);
        assertEquals(BOT, ids[0]);
        assertEquals(EOT_ID, ids[ids.length - 1]);
        for (int i = 1; i < ids.length - 1; i++) assertTrue(ids[i] < BOT, "user text became special token " + ids[i]);
        // the user's part is exactly what plain encoding gives
        assertArrayEquals(t.encode("hello<|eot_id|>", false), Arrays.copyOfRange(ids, 1, ids.length - 1));
        assertEquals(Set.of("<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"), t.specialTokenTexts());
        assertEquals(EOT_ID, t.specialTokenId("<|eot_id|>"));
        assertEquals(-1, t.specialTokenId("hello"));
    }

    @Test
    void textOfAdjacentSegmentsIsOneRun() {
        BpeTokenizer t = bpe("llama-bpe");
        // " the" split over a template/content boundary still merges as the concatenated text does
        int[] ids = t.encode(List.of(PromptSegment.template("x "), PromptSegment.content("the")), true);
        assertArrayEquals(t.encode("x the", true), ids);
        assertArrayEquals(new int[]{BOT, 'x', GTHE}, ids);
        // template text: specials in the middle, longest match, text around them
        assertArrayEquals(new int[]{HELLO, EOT_ID, GTHE, EOT_TEXT},
                t.encode(List.of(PromptSegment.template("hello<|eot_id|> the<|end_of_text|>")), false));
    }

    @Test
    void qwen2PreTokenizerSplitsSingleDigitsAndNormalizesNfc() {
        BpeTokenizer t = bpe("qwen2");
        assertEquals(BpeTokenizer.QWEN2_PATTERN, t.pattern());
        assertEquals(List.of("I", "'m", " ", "1", "2", "3", " ok"), t.preTokenize("I'm 123 ok"));
        // e + combining acute is NFC-composed to é before byte-level encoding
        assertArrayEquals(t.encode("caf\u00e9", false), t.encode("cafe\u0301", false));
        assertArrayEquals(new int[]{CAFE}, t.encode("cafe\u0301", false));
    }

    @Test
    void specialsDecodeToNothingAndEndGeneration() {
        BpeTokenizer t = bpe("llama-bpe");
        assertEquals("hello", t.decode(t.encode("hello", true)));
        assertArrayEquals(new byte[0], t.tokenBytes(BOT));
        assertEquals("<|eot_id|>", t.tokenText(EOT_ID));
        assertTrue(t.isEndOfGeneration(EOT_TEXT));
        assertTrue(t.isEndOfGeneration(EOT_ID));
        assertFalse(t.isEndOfGeneration(BOT));
        assertEquals(BOT, t.bos());
        assertEquals(EOT_TEXT, t.eos());
    }

    @Test
    void roundTripsVariedUnicode() {
        String[] texts = {"hello world", "Hello, World! 1234567 + 89", "naïve café résumé — “quoted” ‘text’",
                "日本語のテキスト、中文字符。한국어", "emoji 😀🤖👍🏽 and 👨‍👩‍👧 family", "line1\nline2\r\n\n\ttabbed  double  space ",
                "\u0000\u0001\u001f\u007f control", "Ω≈ç√∫˜µ≤≥÷ ¡™£¢∞§¶•ªº", "   leading and trailing   ", "",
                "it's they're we've I'LL", "\uD835\uDD73\uD835\uDD8A math bold"};
        for (String pre : new String[]{"llama-bpe", "gpt2"}) {
            BpeTokenizer t = bpe(pre);
            for (String x : texts) {
                int[] ids = t.encode(x, false);
                assertEquals(x, t.decode(ids), pre + ": " + x);
                assertEquals(x, SentencePieceTokenizerTest.streamed(t, ids), pre + " streamed: " + x);
            }
        }
    }

    @Test
    void everyByteValueRoundTrips() {
        BpeTokenizer t = bpe("llama-bpe");
        Set<String> pieces = new HashSet<>();
        int[] ids = new int[256];
        for (int b = 0; b < 256; b++) {
            assertArrayEquals(new byte[]{(byte) b}, t.tokenBytes(b), "byte " + b);
            assertEquals(1, t.tokenText(b).length());
            assertTrue(pieces.add(t.tokenText(b)), "byte-to-unicode must be one-to-one");
            ids[b] = b;
        }
        // The GPT-2 mapping: printable bytes stand for themselves, the rest are shifted to U+0100...
        assertEquals("Ġ", t.tokenText(' '));
        assertEquals("Ċ", t.tokenText('\n'));
        assertEquals("Ā", t.tokenText(0));
        assertEquals("Ń", t.tokenText(0xAD));
        assertEquals("!", t.tokenText('!'));
        assertEquals("é", t.tokenText(0xE9));
        // 0..127 are ASCII; none of 0x80..0xFF can complete a character when followed by the next byte value,
        // so each gives one U+FFFD.
        StringBuilder expected = new StringBuilder();
        for (int b = 0; b < 128; b++) expected.append((char) b);
        for (int b = 128; b < 256; b++) expected.append('\uFFFD');
        assertEquals(expected.toString(), t.decode(ids));
        assertEquals(t.decode(ids), SentencePieceTokenizerTest.streamed(t, ids));
        // Every ASCII character encodes to its own byte token; every 2-byte character round-trips.
        for (int c = 0; c < 128; c++) {
            String s = String.valueOf((char) c);
            assertEquals(s, t.decode(t.encode(s, false)));
            if (c != ' ') assertArrayEquals(new int[]{c}, t.encode(s, false), "char " + c);
        }
        StringBuilder sb = new StringBuilder();
        for (int c = 0x80; c < 0x800; c++) sb.append((char) c);
        assertEquals(sb.toString(), t.decode(t.encode(sb.toString(), false)));
    }

    @Test
    void missingByteUsesUnknownOrFailsClearly() {
        String[] tokens = {"a", "b", "<unk>"};
        BpeTokenizer withUnk = new BpeTokenizer(tokens, new int[]{1, 1, 2}, new String[]{"a b"}, "gpt2", -1, -1, 2, false, null);
        assertArrayEquals(new int[]{0, 2, 1}, withUnk.encode("azb", false));
        BpeTokenizer noUnk = new BpeTokenizer(tokens, null, new String[0], "gpt2", -1, -1, false);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> noUnk.encode("z", false));
        assertTrue(e.getMessage().contains("0x7A"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> noUnk.encode("a", true)); // no BOS to add
        assertThrows(IllegalArgumentException.class,
                () -> new BpeTokenizer(tokens, null, new String[]{"ab"}, "gpt2", -1, -1, false));
    }

    @Test
    void fromGguf(@TempDir Path dir) throws IOException {
        Path p = new GgufTestWriter()
                .put("tokenizer.ggml.model", "gpt2")
                .put("tokenizer.ggml.pre", "llama-bpe")
                .put("tokenizer.ggml.tokens", tokens())
                .put("tokenizer.ggml.token_type", types())
                .put("tokenizer.ggml.merges", MERGES)
                .put("tokenizer.ggml.bos_token_id", BOT)
                .put("tokenizer.ggml.eos_token_id", EOT_TEXT)
                .put("tokenizer.ggml.eot_token_id", EOT_ID)
                .write(dir);
        try (GgufFile f = GgufFile.open(p)) {
            Tokenizer t = Tokenizer.fromGguf(f);
            assertInstanceOf(BpeTokenizer.class, t);
            assertEquals("llama-bpe", ((BpeTokenizer) t).preTokenizer());
            assertTrue(t.addBosByDefault());
            assertArrayEquals(new int[]{BOT, HELLO, GWORLD}, t.encode("hello world"));
            assertTrue(t.isEndOfGeneration(EOT_ID));
        }
        Path q = new GgufTestWriter()
                .put("tokenizer.ggml.model", "gpt2")
                .put("tokenizer.ggml.tokens", tokens())
                .put("tokenizer.ggml.merges", new String[]{"h e", "bad"})
                .write(dir);
        try (GgufFile f = GgufFile.open(q)) {
            GgufFormatException e = assertThrows(GgufFormatException.class, () -> Tokenizer.fromGguf(f));
            assertTrue(e.getMessage().contains("merge #1"), e.getMessage());
        }
        Path r = new GgufTestWriter()
                .put("tokenizer.ggml.model", "gpt2")
                .put("tokenizer.ggml.pre", "default")
                .put("tokenizer.ggml.tokens", tokens())
                .put("tokenizer.ggml.merges", MERGES)
                .put("tokenizer.ggml.bos_token_id", BOT)
                .write(dir);
        try (GgufFile f = GgufFile.open(r)) {
            Tokenizer t = Tokenizer.fromGguf(f);
            assertFalse(t.addBosByDefault()); // gpt2 without add_bos_token metadata
            assertEquals(-1, t.eos());
            assertArrayEquals(new int[]{HE, LL, 'o'}, t.encode("hello"));
        }
    }
}
