package dev.troupe.node.openai;

import dev.troupe.actors.replica.GenerationEvent;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Token logprobs gathered for a response, with each token's text offset: the offset (in UTF-16 chars, like
 * Java string indices) of the token's text in the completion, counted as the total length of the texts of
 * the tokens before it, starting at {@link #LogprobsAccumulator(int) startOffset}.
 *
 * <p>Non-streaming: one accumulator per response, {@link #add} every {@link GenerationEvent.Tokens} event's
 * logprobs, render once. Streaming: one accumulator per chunk, started where the previous chunk's
 * {@link #endOffset()} left off ({@link #chunk}), so offsets keep counting across chunks.
 *
 * <p>Not thread-safe.
 */
public final class LogprobsAccumulator {
    private final List<GenerationEvent.TokenLogprob> entries = new ArrayList<>();
    private final List<Integer> offsets = new ArrayList<>();
    private int endOffset;

    /** An empty accumulator whose first token is at offset 0. */
    public LogprobsAccumulator() {
        this(0);
    }

    /** An empty accumulator whose first token is at {@code startOffset}. */
    public LogprobsAccumulator(int startOffset) {
        if (startOffset < 0) {
            throw new IllegalArgumentException("startOffset must be >= 0, got " + startOffset);
        }
        this.endOffset = startOffset;
    }

    /** An accumulator holding just {@code entries}, the first at {@code startOffset}: one streaming chunk. */
    public static LogprobsAccumulator chunk(List<GenerationEvent.TokenLogprob> entries, int startOffset) {
        LogprobsAccumulator a = new LogprobsAccumulator(startOffset);
        a.add(entries);
        return a;
    }

    /** Appends entries (null or empty adds nothing). Returns this. */
    public LogprobsAccumulator add(List<GenerationEvent.TokenLogprob> more) {
        if (more != null) {
            for (GenerationEvent.TokenLogprob e : more) {
                entries.add(e);
                offsets.add(endOffset);
                endOffset += e.text() == null ? 0 : e.text().length();
            }
        }
        return this;
    }

    /** Appends a {@link GenerationEvent.Tokens} event's logprobs. Returns this. */
    public LogprobsAccumulator add(GenerationEvent.Tokens event) {
        return add(event.logprobs());
    }

    /** Number of tokens gathered. */
    public int size() {
        return entries.size();
    }

    /** The entries in order (unmodifiable view). */
    public List<GenerationEvent.TokenLogprob> entries() {
        return Collections.unmodifiableList(entries);
    }

    /** The text offset of entry {@code i}. */
    public int textOffset(int i) {
        return offsets.get(i);
    }

    /** The offset after the last token: where a following chunk's first token starts. */
    public int endOffset() {
        return endOffset;
    }
}
