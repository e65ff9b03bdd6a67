package dev.troupe.engine.tokenizer;

/**
 * A small UTF-8 decoder with a fixed, documented replacement policy, shared by {@link Tokenizer#decode} and
 * {@link StreamDecoder} so that streaming and whole-sequence decoding always agree.
 *
 * <p>Invalid input is replaced with U+FFFD following the Unicode "maximal subpart" practice (the same one the
 * WHATWG Encoding standard uses): a lead byte followed by a valid-so-far but interrupted sequence gives one
 * U+FFFD for the whole interrupted prefix, and decoding resumes at the byte that interrupted it; a byte that
 * can never start a sequence gives one U+FFFD on its own. Because a sequence never extends past a byte that
 * is not a valid continuation, the decision for each sequence depends only on its own bytes and the byte
 * after it; the only case where more input could change the outcome is a valid prefix cut off by the end of
 * the input, which {@code endOfInput=false} leaves unconsumed.
 */
final class Utf8 {
    static final char REPLACEMENT = '\uFFFD';

    private Utf8() {
    }

    /** Decodes all of {@code b[off, off+len)}, replacing invalid sequences with U+FFFD. */
    static String decode(byte[] b, int off, int len) {
        StringBuilder sb = new StringBuilder(len);
        decode(b, off, len, true, sb);
        return sb.toString();
    }

    /**
     * Decodes {@code b[off, off+len)} into {@code out}. With {@code endOfInput=false} a trailing valid but
     * incomplete sequence (at most 3 bytes) is left undecoded. Returns the number of bytes consumed.
     */
    static int decode(byte[] b, int off, int len, boolean endOfInput, StringBuilder out) {
        int i = off;
        int end = off + len;
        while (i < end) {
            int b0 = b[i] & 0xFF;
            if (b0 < 0x80) {
                out.append((char) b0);
                i++;
                continue;
            }
            int need;
            int lo = 0x80;
            int hi = 0xBF;
            int cp;
            if (b0 >= 0xC2 && b0 <= 0xDF) {
                need = 1;
                cp = b0 & 0x1F;
            } else if (b0 >= 0xE0 && b0 <= 0xEF) {
                need = 2;
                cp = b0 & 0x0F;
                if (b0 == 0xE0) lo = 0xA0;          // no overlongs
                else if (b0 == 0xED) hi = 0x9F;     // no surrogates
            } else if (b0 >= 0xF0 && b0 <= 0xF4) {
                need = 3;
                cp = b0 & 0x07;
                if (b0 == 0xF0) lo = 0x90;          // no overlongs
                else if (b0 == 0xF4) hi = 0x8F;     // nothing above U+10FFFF
            } else {
                out.append(REPLACEMENT);            // continuation byte or C0, C1, F5..FF: never a lead
                i++;
                continue;
            }
            int j = i + 1;
            boolean bad = false;
            for (int k = 0; k < need; k++, j++) {
                if (j >= end) {
                    if (!endOfInput) return i - off;  // valid so far, wait for more bytes
                    bad = true;
                    break;
                }
                int c = b[j] & 0xFF;
                int min = k == 0 ? lo : 0x80;
                int max = k == 0 ? hi : 0xBF;
                if (c < min || c > max) {
                    bad = true;
                    break;
                }
                cp = (cp << 6) | (c & 0x3F);
            }
            if (bad) {
                out.append(REPLACEMENT);
                i = j;                               // resume at the interrupting byte (or the end)
            } else {
                out.appendCodePoint(cp);
                i = j;
            }
        }
        return i - off;
    }
}
