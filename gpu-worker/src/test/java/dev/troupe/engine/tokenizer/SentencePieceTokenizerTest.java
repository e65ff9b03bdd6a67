package dev.troupe.engine.tokenizer;

import dev.troupe.engine.gguf.GgufFile;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SentencePieceTokenizerTest {
    private static Tokenizer stories;   // 512-token vocab of stories260K
    private static Tokenizer llama2;    // 32000-token Llama-2 vocab of random15M

    private static Tokenizer load(String name) throws IOException {
        try (GgufFile f = GgufFile.open(TestModels.require(name))) {
            return Tokenizer.fromGguf(f);
        }
    }

    private static synchronized Tokenizer stories() throws IOException {
        if (stories == null) stories = load("stories260K-f32.gguf");
        return stories;
    }

    private static synchronized Tokenizer llama2() throws IOException {
        if (llama2 == null) llama2 = load("random15M-f32.gguf");
        return llama2;
    }

    // ---- real vocabularies ----

    @Test
    void storiesVocabularyMetadata() throws IOException {
        Tokenizer t = stories();
        assertInstanceOf(SentencePieceTokenizer.class, t);
        assertEquals(512, t.vocabSize());
        assertEquals(1, t.bos());
        assertEquals(2, t.eos());
        assertEquals(0, ((SentencePieceTokenizer) t).unk());
        assertTrue(t.addBosByDefault());
        assertTrue(((SentencePieceTokenizer) t).addSpacePrefix());
        assertTrue(t.isEndOfGeneration(2));
        assertFalse(t.isEndOfGeneration(1));
        assertEquals("<s>", t.tokenText(1));
        assertEquals(TokenType.CONTROL, t.tokenType(1));
        assertArrayEquals(new byte[0], t.tokenBytes(1));
        assertArrayEquals(new byte[]{0x0A}, t.tokenBytes(13));   // <0x0A>
        assertEquals("<0x0A>", t.tokenText(13));
        assertArrayEquals(" t".getBytes(), t.tokenBytes(259));  // ▁t
    }

    @Test
    void storiesOnceUponATime() throws IOException {
        Tokenizer t = stories();
        int[] ids = t.encode("Once upon a time", true);
        assertEquals(1, ids[0]);
        assertEquals(" Once upon a time", t.decode(ids));
        assertEquals(" Once upon a time", t.decode(ids, 1, ids.length));
        // No byte fallback needed for plain ASCII words in this vocabulary.
        for (int i = 1; i < ids.length; i++) assertEquals(TokenType.NORMAL, t.tokenType(ids[i]), "token " + ids[i]);
        int[] noBos = t.encode("Once upon a time", false);
        assertArrayEquals(java.util.Arrays.copyOfRange(ids, 1, ids.length), noBos);
    }

    @Test
    void storiesPromptsRoundTrip() throws IOException {
        Tokenizer t = stories();
        List<String> prompts = prompts(TestModels.require("stories260K-greedy.jsonl"));
        assertEquals(4, prompts.size());
        for (String prompt : prompts) {
            int[] ids = t.encode(prompt, true);
            assertEquals(1, ids[0]);
            assertEquals(" " + prompt, t.decode(ids), prompt);
            assertEquals(" " + prompt, streamed(t, ids), prompt);
        }
    }

    @Test
    void storiesByteFallbackRoundTrip() throws IOException {
        Tokenizer t = stories();
        for (String x : new String[]{"héllo 😀 日本", "naïve café — “quotes”", "tab\tand\nnewline", "Ω≈ç√∫", "\u0000\u007f"}) {
            int[] ids = t.encode(x, true);
            assertEquals(" " + x, t.decode(ids), x);
            assertEquals(" " + x, streamed(t, ids), x);
        }
        int[] ids = t.encode("😀", false);
        // "▁" then the 4 UTF-8 bytes F0 9F 98 80 of the emoji as byte tokens <0xF0>.. (id = 3 + byte).
        assertEquals(3 + 0xF0, ids[ids.length - 4]);
        assertEquals(3 + 0x9F, ids[ids.length - 3]);
        assertEquals(3 + 0x98, ids[ids.length - 2]);
        assertEquals(3 + 0x80, ids[ids.length - 1]);
    }

    @Test
    void llama2WellKnownIds() throws IOException {
        Tokenizer t = llama2();
        assertEquals(32000, t.vocabSize());
        assertArrayEquals(new int[]{1, 15043, 3186}, t.encode("Hello world", true));
        assertArrayEquals(new int[]{1, 9038, 2501, 263, 931}, t.encode("Once upon a time", true));
        assertArrayEquals(new int[]{15043, 3186}, t.encode("Hello world", false));
        assertEquals(" Hello world", t.decode(new int[]{1, 15043, 3186}));
    }

    @Test
    void llama2EmptyAndSpecialText() throws IOException {
        Tokenizer t = llama2();
        assertArrayEquals(new int[]{1}, t.encode("", true));
        assertArrayEquals(new int[0], t.encode("", false));
        // Control tokens written in text are plain characters, never BOS/EOS.
        int[] ids = t.encode("</s><s>", false);
        for (int id : ids) {
            assertTrue(id != 1 && id != 2, "control token parsed from text");
        }
        assertEquals(" </s><s>", t.decode(ids));
    }

    @Test
    void llama2RoundTripVariedText() throws IOException {
        Tokenizer t = llama2();
        for (String x : new String[]{"héllo 😀 日本", "  two  spaces ", "line1\nline2\r\n", "Ünïcödé ÅÄÖ ß", "🤖🙂👍🏽", "中文字符和日本語", "x"}) {
            assertEquals(" " + x, t.decode(t.encode(x, true)), x);
        }
    }

    @Test
    void llama2EncodesTwoThousandWordsFast() throws IOException {
        Tokenizer t = llama2();
        String[] words = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog,", "and", "then", "it", "ran",
                "away.", "Hello", "world!", "Once", "upon", "a", "time", "extraordinary", "tokenization"};
        Random r = new Random(7);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 2000; i++) sb.append(words[r.nextInt(words.length)]).append(i % 17 == 16 ? "\n" : " ");
        String text = sb.toString();
        int[] ids = null;
        for (int i = 0; i < 20; i++) ids = t.encode(text, true); // warm-up
        long best = Long.MAX_VALUE;
        for (int i = 0; i < 5; i++) {
            long t0 = System.nanoTime();
            t.encode(text, true);
            best = Math.min(best, System.nanoTime() - t0);
        }
        assertEquals(" " + text, t.decode(ids));
        assertTrue(best < 50_000_000L, "encoding 2000 words took " + best / 1e6 + " ms");
    }

    // ---- small constructed vocabularies ----

    private static final String[] SMALL = {"<unk>", "<s>", "</s>", "▁", "a", "b", "c", "ab", "bc", "aa", "▁a", "<", "s", ">", "<s", "<0xC3>", "<0xA9>"};
    private static final float[] SMALL_SCORES = {0, 0, 0, -1, -2, -2, -2, -3, -1, -4, -5, -2, -2, -2, 0, 0, 0};
    private static final int[] SMALL_TYPES = {2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 6, 6};

    private static SentencePieceTokenizer small(boolean spacePrefix) {
        return new SentencePieceTokenizer(SMALL, SMALL_SCORES, SMALL_TYPES, 1, 2, 0, spacePrefix, true);
    }

    @Test
    void highestScoreMergeWins() {
        // "ab" (-3) and "bc" (-1) compete for the b: the higher score merges first, leaving a alone.
        assertArrayEquals(new int[]{4, 8}, small(false).encode("abc", false));
    }

    @Test
    void tiesMergeLeftmostFirst() {
        assertArrayEquals(new int[]{9, 4}, small(false).encode("aaa", false));
        assertArrayEquals(new int[]{9, 9}, small(false).encode("aaaa", false));
    }

    @Test
    void spacePrefixAndSpaceEscaping() {
        SentencePieceTokenizer t = small(true);
        assertArrayEquals(new int[]{1, 3, 7}, t.encode("ab", true)); // "ab" (-3) beats "▁a" (-5)
        assertArrayEquals(new int[]{10, 10}, t.encode("a a", false)); // "▁a▁a": leftmost "▁a" first, then the other
        assertEquals(" a a", t.decode(t.encode("a a", false)));
        assertArrayEquals(new int[]{4, 10}, small(false).encode("a a", false));
    }

    @Test
    void controlPiecesAreNotFormedFromText() {
        // "<s" is a normal piece but "<s>" is control: the text stays "<s" + ">".
        assertArrayEquals(new int[]{14, 13}, small(false).encode("<s>", false));
    }

    @Test
    void byteFallbackAndUnknown() {
        SentencePieceTokenizer t = small(false);
        assertArrayEquals(new int[]{15, 16}, t.encode("é", false));  // C3 A9
        assertEquals("é", t.decode(t.encode("é", false)));
        assertArrayEquals(new int[]{0}, t.encode("日", false));      // E6 97 A5: no byte tokens -> <unk>
        assertEquals("\u2585", t.decode(new int[]{0}));
    }

    @Test
    void rejectsInconsistentVocabularies() {
        assertThrows(IllegalArgumentException.class, () -> new SentencePieceTokenizer(SMALL, new float[3], SMALL_TYPES, 1, 2, 0, true, true));
        assertThrows(IllegalArgumentException.class, () -> new SentencePieceTokenizer(SMALL, SMALL_SCORES, new int[2], 1, 2, 0, true, true));
        assertThrows(IllegalArgumentException.class, () -> new SentencePieceTokenizer(SMALL, SMALL_SCORES, SMALL_TYPES, 99, 2, 0, true, true));
        assertThrows(IllegalArgumentException.class, () -> small(true).tokenBytes(SMALL.length));
        assertThrows(IllegalArgumentException.class, () -> small(true).decode(new int[]{-1}));
    }

    @Test
    void defaultTypesWhenAbsent() {
        SentencePieceTokenizer t = new SentencePieceTokenizer(SMALL, SMALL_SCORES, null, 1, 2, 0, true, true);
        assertEquals(TokenType.CONTROL, t.tokenType(1));
        assertEquals(TokenType.UNKNOWN, t.tokenType(0));
        assertEquals(TokenType.BYTE, t.tokenType(15));
        assertEquals(TokenType.NORMAL, t.tokenType(7));
        assertArrayEquals(new int[]{3, 15, 16}, t.encode("é", false));
    }

    @Test
    void extraEndOfGenerationTokens() {
        SentencePieceTokenizer t = new SentencePieceTokenizer(SMALL, SMALL_SCORES, SMALL_TYPES, 1, 2, 0, true, true, new int[]{14, -1});
        assertTrue(t.isEndOfGeneration(2));
        assertTrue(t.isEndOfGeneration(14));
        assertFalse(t.isEndOfGeneration(1));
    }

    @Test
    void fromGgufDefaultsAndFlags(@org.junit.jupiter.api.io.TempDir Path dir) throws IOException {
        Path p = new GgufTestWriter()
                .put("tokenizer.ggml.model", "llama")
                .put("tokenizer.ggml.tokens", SMALL)
                .put("tokenizer.ggml.scores", SMALL_SCORES)
                .put("tokenizer.ggml.token_type", SMALL_TYPES)
                .put("tokenizer.ggml.add_space_prefix", false)
                .put("tokenizer.ggml.add_bos_token", false)
                .put("tokenizer.ggml.eot_token_id", 14)
                .put("tokenizer.ggml.padding_token_id", -1) // 2^32-1 as UINT32: "none"
                .write(dir);
        try (GgufFile f = GgufFile.open(p)) {
            Tokenizer t = Tokenizer.fromGguf(f);
            assertInstanceOf(SentencePieceTokenizer.class, t);
            assertFalse(t.addBosByDefault());
            assertArrayEquals(new int[]{4, 8}, t.encode("abc"));
            assertEquals(1, t.bos());
            assertEquals(2, t.eos());
            assertTrue(t.isEndOfGeneration(14));
        }
    }

    // ---- helpers ----

    static String streamed(Tokenizer t, int[] ids) {
        StreamDecoder d = t.streamDecoder();
        StringBuilder sb = new StringBuilder();
        for (int id : ids) sb.append(d.push(id));
        return sb.append(d.flush()).toString();
    }

    /** The "prompt" field of each JSON line (a minimal reader for this known file). */
    static List<String> prompts(Path jsonl) throws IOException {
        List<String> out = new ArrayList<>();
        for (dev.troupe.engine.TestModels.Reference r : dev.troupe.engine.TestModels.references(jsonl)) out.add(r.prompt());
        return out;
    }
}
