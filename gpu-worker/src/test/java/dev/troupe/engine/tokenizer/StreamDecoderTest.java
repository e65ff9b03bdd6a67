package dev.troupe.engine.tokenizer;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StreamDecoderTest {
    /** 256 byte tokens (id 3 + byte), then pieces with multi-byte characters, plus <unk>, <s>, </s>. */
    private static final SentencePieceTokenizer SP = vocab();
    private static final int B = 3; // id of <0x00>
    private static final int SPACE_THE = B + 256 + 2; // "▁the" (whole piece: no intermediate pieces exist to merge into it)
    private static final int A = B + 256 + 1;

    private static SentencePieceTokenizer vocab() {
        List<String> t = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        for (int b = 0; b < 256; b++) t.add(String.format("<0x%02X>", b));
        t.addAll(List.of("▁", "a", "▁the", "é", "日本", "▁😀", "\uD835\uDD73", "x▁"));
        String[] tokens = t.toArray(new String[0]);
        int[] types = new int[tokens.length];
        Arrays.fill(types, TokenType.NORMAL);
        types[0] = TokenType.UNKNOWN;
        types[1] = types[2] = TokenType.CONTROL;
        for (int b = 0; b < 256; b++) types[B + b] = TokenType.BYTE;
        return new SentencePieceTokenizer(tokens, new float[tokens.length], types, 1, 2, 0, true, true);
    }

    private static int byteToken(int b) {
        return B + b;
    }

    @Test
    void characterSplitAcrossByteTokensComesOutOnceWhole() {
        byte[] emoji = "😀".getBytes(StandardCharsets.UTF_8); // F0 9F 98 80
        StreamDecoder d = SP.streamDecoder();
        assertEquals("", d.push(byteToken(emoji[0] & 0xFF)));
        assertTrue(d.hasPending());
        assertEquals("", d.push(byteToken(emoji[1] & 0xFF)));
        assertEquals("", d.push(byteToken(emoji[2] & 0xFF)));
        assertEquals("😀", d.push(byteToken(emoji[3] & 0xFF)));
        assertFalse(d.hasPending());
        assertEquals("", d.flush());

        byte[] ni = "日".getBytes(StandardCharsets.UTF_8);
        assertEquals("", d.push(byteToken(ni[0] & 0xFF)));
        assertEquals("", d.push(byteToken(ni[1] & 0xFF)));
        assertEquals("日", d.push(byteToken(ni[2] & 0xFF)));
    }

    @Test
    void completeTextPassesThroughAndPendingBytesWaitBehindIt() {
        StreamDecoder d = SP.streamDecoder();
        int the = SPACE_THE;
        assertEquals("▁the", SP.tokenText(the));
        assertEquals(" the", d.push(the));
        assertEquals("", d.push(1));  // control token: no bytes
        assertEquals("", d.push(byteToken(0xC3)));
        assertEquals("é", d.push(byteToken(0xA9)));
        assertEquals("", d.push(byteToken(0xE6)));
        // A token whose bytes do not continue the pending character: U+FFFD for the interrupted prefix, then its text.
        assertEquals("\uFFFD the", d.push(the));
    }

    @Test
    void flushTurnsAnIncompleteCharacterIntoOneReplacement() {
        StreamDecoder d = SP.streamDecoder();
        assertEquals("", d.push(byteToken(0xF0)));
        assertEquals("", d.push(byteToken(0x9F)));
        assertEquals("\uFFFD", d.flush());
        assertFalse(d.hasPending());
        assertEquals("", d.flush());
        assertEquals(SP.decode(new int[]{byteToken(0xF0), byteToken(0x9F)}), "\uFFFD");
        // The decoder is reusable after a flush.
        assertEquals("a", d.push(A));
        d.push(byteToken(0xE6));
        d.reset();
        assertEquals("", d.flush());
    }

    @Test
    void invalidBytesAreReplacedImmediately() {
        StreamDecoder d = SP.streamDecoder();
        assertEquals("\uFFFD", d.push(byteToken(0x80)));  // stray continuation byte
        assertEquals("\uFFFD", d.push(byteToken(0xFF)));  // never valid
        assertEquals("", d.push(byteToken(0xE0)));
        assertEquals("\uFFFD\uFFFD", d.push(byteToken(0x80))); // E0 80 is overlong: both bytes replaced
    }

    @Test
    void concatenationOfPushesAndFlushEqualsDecodeOnRandomSequences() {
        Random r = new Random(42);
        int[] utf8Heavy = new int[64];
        byte[] sample = "é日😀\uD835\uDD73aß€".getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < utf8Heavy.length; i++) utf8Heavy[i] = byteToken(sample[r.nextInt(sample.length)] & 0xFF);
        for (int iter = 0; iter < 3000; iter++) {
            int[] ids = new int[r.nextInt(24)];
            for (int i = 0; i < ids.length; i++) {
                int k = r.nextInt(10);
                if (k < 5) ids[i] = utf8Heavy[r.nextInt(utf8Heavy.length)];  // mostly pieces of real characters
                else if (k < 7) ids[i] = byteToken(r.nextInt(256));         // any byte at all
                else ids[i] = r.nextInt(SP.vocabSize());                     // anything, controls included
            }
            StreamDecoder d = SP.streamDecoder();
            StringBuilder sb = new StringBuilder();
            for (int id : ids) {
                String piece = d.push(id);
                assertWellFormed(piece, ids);
                sb.append(piece);
            }
            String rest = d.flush();
            assertWellFormed(rest, ids);
            sb.append(rest);
            assertEquals(SP.decode(ids), sb.toString(), () -> Arrays.toString(ids));
        }
    }

    @Test
    void randomRealTextSplitIntoByteTokens() {
        Random r = new Random(3);
        String alphabet = "aé日本😀🤖ßx ";
        int[] cps = alphabet.codePoints().toArray();
        for (int iter = 0; iter < 300; iter++) {
            StringBuilder text = new StringBuilder();
            int n = 1 + r.nextInt(20);
            for (int i = 0; i < n; i++) text.appendCodePoint(cps[r.nextInt(cps.length)]);
            byte[] bytes = text.toString().getBytes(StandardCharsets.UTF_8);
            StreamDecoder d = SP.streamDecoder();
            StringBuilder out = new StringBuilder();
            int chars = 0;
            for (byte b : bytes) {
                String piece = d.push(byteToken(b & 0xFF));
                assertTrue(piece.length() <= 2, "at most one character per byte");
                chars += piece.codePointCount(0, piece.length());
                out.append(piece);
            }
            assertFalse(d.hasPending());
            assertEquals(text.toString(), out.toString());
            assertEquals(text.codePointCount(0, text.length()), chars);
        }
    }

    @Test
    void utf8DecoderAgreesWithJavaOnValidText() {
        Random r = new Random(11);
        for (int iter = 0; iter < 500; iter++) {
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < 30; i++) {
                int cp;
                do {
                    cp = r.nextInt(4) == 0 ? r.nextInt(0x110000) : r.nextInt(0x3000);
                } while (cp >= 0xD800 && cp <= 0xDFFF);
                sb.appendCodePoint(cp);
            }
            byte[] b = sb.toString().getBytes(StandardCharsets.UTF_8);
            assertEquals(sb.toString(), Utf8.decode(b, 0, b.length));
        }
    }

    @Test
    void utf8DecoderReplacementPolicy() {
        assertEquals("\uFFFD\uFFFD", dec(0xC0, 0xAF));           // overlong lead C0 is never valid
        assertEquals("\uFFFD\uFFFD\uFFFD", dec(0xED, 0xA0, 0x80)); // surrogate: ED only allows 80..9F next
        assertEquals("\uFFFDA", dec(0xF0, 0x9F, 0x41));          // interrupted prefix F0 9F: one U+FFFD
        assertEquals("\uFFFD", dec(0xE6, 0x97));                 // truncated at the end: one U+FFFD
        assertEquals("\uFFFD\uFFFD", dec(0xF4, 0x90, 0x80, 0x80).substring(0, 2)); // above U+10FFFF
        assertEquals("\uDBFF\uDFFF", dec(0xF4, 0x8F, 0xBF, 0xBF)); // U+10FFFF
        StringBuilder sb = new StringBuilder();
        byte[] partial = {'a', (byte) 0xE6, (byte) 0x97};
        assertEquals(1, Utf8.decode(partial, 0, 3, false, sb)); // streaming mode leaves the valid prefix
        assertEquals("a", sb.toString());
    }

    private static String dec(int... bytes) {
        byte[] b = new byte[bytes.length];
        for (int i = 0; i < b.length; i++) b[i] = (byte) bytes[i];
        return Utf8.decode(b, 0, b.length);
    }

    private static void assertWellFormed(String s, int[] ids) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c)) {
                assertTrue(i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1)), () -> "half a surrogate pair for " + Arrays.toString(ids));
                i++;
            } else {
                assertFalse(Character.isLowSurrogate(c), () -> "lone low surrogate for " + Arrays.toString(ids));
            }
        }
    }
}
