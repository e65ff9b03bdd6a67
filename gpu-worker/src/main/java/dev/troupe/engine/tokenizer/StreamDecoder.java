package dev.troupe.engine.tokenizer;

import java.util.Arrays;

/**
 * Incremental detokenizer for one stream of generated tokens. {@link #push} returns the text completed by
 * each token and never half a UTF-8 character: bytes of a character still incomplete (at most 3, e.g. the
 * first byte-fallback tokens of an emoji) are held back until the rest arrives. {@link #flush} returns
 * what is left, an incomplete character becoming U+FFFD.
 *
 * <p>Invariant: the concatenation of every {@code push} result and the final {@code flush} equals
 * {@link Tokenizer#decode} of the whole token sequence (same U+FFFD policy). Not thread-safe.
 */
public final class StreamDecoder {
    private final Tokenizer tokenizer;
    private final BaseTokenizer base;
    private final StringBuilder text = new StringBuilder();
    private byte[] buf = new byte[32];
    private int pending;

    public StreamDecoder(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
        this.base = tokenizer instanceof BaseTokenizer ? (BaseTokenizer) tokenizer : null;
    }

    /** Adds one token; returns the text it completes (possibly empty). */
    public String push(int token) {
        byte[] b = base != null ? base.bytesView(token) : tokenizer.tokenBytes(token);
        if (b.length == 0) return "";
        int total = pending + b.length;
        if (total > buf.length) buf = Arrays.copyOf(buf, Math.max(total, buf.length * 2));
        System.arraycopy(b, 0, buf, pending, b.length);
        text.setLength(0);
        int used = Utf8.decode(buf, 0, total, false, text);
        pending = total - used;
        if (pending > 0 && used > 0) System.arraycopy(buf, used, buf, 0, pending);
        return text.length() == 0 ? "" : text.toString();
    }

    /** Returns the held-back bytes decoded (an incomplete character gives U+FFFD) and empties the decoder. */
    public String flush() {
        if (pending == 0) return "";
        text.setLength(0);
        Utf8.decode(buf, 0, pending, true, text);
        pending = 0;
        return text.toString();
    }

    /** Whether bytes of an incomplete character are being held back. */
    public boolean hasPending() {
        return pending > 0;
    }

    /** Drops any held-back bytes, to start a new stream. */
    public void reset() {
        pending = 0;
    }
}
