package dev.troupe.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class StopMatcherTest {

    @Test
    void noStopStringsPassThrough() {
        StopMatcher m = new StopMatcher(List.of());
        String chunk = "Hello, world";
        assertSame(chunk, m.accept(chunk));
        assertEquals(" and more", m.accept(" and more"));
        assertFalse(m.stopped());
        assertEquals("", m.flush());
    }

    @Test
    void stopInsideOneChunk() {
        StopMatcher m = new StopMatcher(List.of("END"));
        assertEquals("Hello ", m.accept("Hello "));
        assertEquals("world ", m.accept("world END trailing"));
        assertTrue(m.stopped());
        assertEquals("", m.accept("more text"));
        assertEquals("", m.flush());
    }

    @Test
    void stopAtVeryStart() {
        StopMatcher m = new StopMatcher(List.of("###"));
        assertEquals("", m.accept("### rest"));
        assertTrue(m.stopped());
    }

    @Test
    void stopSpanningTwoChunks() {
        StopMatcher m = new StopMatcher(List.of("</s>"));
        assertEquals("answer is 42", m.accept("answer is 42</"));
        assertFalse(m.stopped());
        assertEquals("</", m.pending());
        assertEquals("", m.accept("s> ignored"));
        assertTrue(m.stopped());
    }

    @Test
    void stopSpanningThreeChunks() {
        StopMatcher m = new StopMatcher(List.of("STOPWORD"));
        assertEquals("abc ", m.accept("abc ST"));
        assertEquals("", m.accept("OPW"));
        assertFalse(m.stopped());
        assertEquals("", m.accept("ORD!"));
        assertTrue(m.stopped());
    }

    @Test
    void stopSpanningSingleCharacterChunks() {
        StopMatcher m = new StopMatcher(List.of("\n\n"));
        StringBuilder out = new StringBuilder();
        for (char c : "line one\nline two\n\nline three".toCharArray()) {
            out.append(m.accept(String.valueOf(c)));
            if (m.stopped()) {
                break;
            }
        }
        assertTrue(m.stopped());
        assertEquals("line one\nline two", out.toString());
    }

    @Test
    void falsePrefixIsReleasedIntact() {
        StopMatcher m = new StopMatcher(List.of("STOP"));
        assertEquals("go ", m.accept("go ST"));
        assertEquals("", m.accept("O"));
        assertEquals("STOLEN", m.accept("LEN"));
        assertFalse(m.stopped());
        assertEquals("", m.pending());
    }

    @Test
    void falsePrefixThatRestartsAPrefix() {
        // held "aa", then "a" arrives: "aaa" no longer starts a match, but its suffix "aa" still might
        StopMatcher m = new StopMatcher(List.of("aab"));
        assertEquals("x", m.accept("xaa"));
        assertEquals("a", m.accept("a"));
        assertEquals("aa", m.pending());
        assertEquals("", m.accept("b tail"));
        assertTrue(m.stopped());
    }

    @Test
    void partialPrefixOfALongerStopIsHeldButShorterCompleteStopWins() {
        StopMatcher m = new StopMatcher(List.of("abcd", "bc"));
        assertEquals("x", m.accept("xab"));
        assertEquals("ab", m.pending());
        assertEquals("a", m.accept("c"));
        assertTrue(m.stopped());
    }

    @Test
    void earliestStopStringWins() {
        StopMatcher m = new StopMatcher(List.of("world", "lo"));
        assertEquals("hel", m.accept("hello world"));
        assertTrue(m.stopped());

        StopMatcher m2 = new StopMatcher(List.of("zzz", "b", "a"));
        assertEquals("xx", m2.accept("xxab"));
    }

    @Test
    void earliestStopWinsAcrossChunks() {
        StopMatcher m = new StopMatcher(List.of("end>", "<end>"));
        assertEquals("the ", m.accept("the <en"));
        assertEquals("", m.accept("d> of it"));
        assertTrue(m.stopped());

        // "<en" was held for "<end>", which then fails; "end of" found one character later still wins
        StopMatcher m2 = new StopMatcher(List.of("<end>", "end of"));
        assertEquals("the ", m2.accept("the <en"));
        assertEquals("<", m2.accept("d of it"));
        assertTrue(m2.stopped());
    }

    @Test
    void flushReleasesHeldTextWhenNotStopped() {
        StopMatcher m = new StopMatcher(List.of("\nUser:"));
        assertEquals("Sure.", m.accept("Sure.\nUs"));
        assertEquals("\nUs", m.flush());
        assertEquals("", m.flush());
    }

    @Test
    void emptyChunks() {
        StopMatcher m = new StopMatcher(List.of("x"));
        assertEquals("", m.accept(""));
        assertEquals("", m.accept(null));
        assertFalse(m.stopped());
    }

    @Test
    void unicodeText() {
        StopMatcher m = new StopMatcher(List.of("。終", "🛑"));
        assertEquals("こんにちは", m.accept("こんにちは。"));
        assertEquals("。", m.pending());
        assertEquals("。世界", m.accept("世界"));
        assertEquals("😀 ", m.accept("😀 🛑 after"));
        assertTrue(m.stopped());

        StopMatcher m2 = new StopMatcher(List.of("🛑"));
        String high = "🛑".substring(0, 1);
        String low = "🛑".substring(1);
        assertEquals("ok ", m2.accept("ok " + high));
        assertEquals("", m2.accept(low));
        assertTrue(m2.stopped());

        StopMatcher m3 = new StopMatcher(List.of("é!"));
        assertEquals("caf", m3.accept("café"));
        assertEquals("é", m3.accept("é"));
        assertEquals("éa", m3.accept("a"));
        assertEquals("", m3.flush());
        assertEquals("tr", m3.accept("tré"));
        assertEquals("é", m3.flush());
    }

    @Test
    void everySplitOfTheInputGivesTheSameOutput() {
        List<String> stops = List.of("STOP", "OPS", "\n\n\n");
        String text = "ST STO OP STOPSTOP";
        String expected = "ST STO OP ";
        for (int a = 0; a <= text.length(); a++) {
            for (int b = a; b <= text.length(); b++) {
                StopMatcher m = new StopMatcher(stops);
                String out = m.accept(text.substring(0, a)) + m.accept(text.substring(a, b))
                        + m.accept(text.substring(b));
                assertTrue(m.stopped());
                assertEquals(expected, out + m.flush(), Arrays.toString(new int[] {a, b}));
            }
        }
        String noStop = "ST STO OPS? no: OP S";
        for (int a = 0; a <= noStop.length(); a++) {
            StopMatcher m = new StopMatcher(List.of("STOP", "\n\n\n"));
            String out = m.accept(noStop.substring(0, a)) + m.accept(noStop.substring(a)) + m.flush();
            assertFalse(m.stopped());
            assertEquals(noStop, out);
        }
    }

    @Test
    void rejectsBadStops() {
        assertThrows(IllegalArgumentException.class, () -> new StopMatcher(null));
        assertThrows(IllegalArgumentException.class, () -> new StopMatcher(List.of("")));
    }
}
