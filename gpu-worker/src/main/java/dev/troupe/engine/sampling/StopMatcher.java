package dev.troupe.engine.sampling;

import java.util.List;

/**
 * Finds stop strings in streamed, incrementally decoded text (OpenAI semantics: generation ends at the first
 * stop string, which is not part of the output, and neither is anything after it).
 *
 * <p>Feed each newly decoded piece of text to {@link #accept(String)}; it returns the text that is safe to
 * emit now. Text that could still turn out to be the beginning of a stop string (the longest suffix that is a
 * proper prefix of some stop string) is held back until later chunks decide it; a stop string may span any
 * number of chunks. When several stop strings occur, the one that starts earliest wins. At the end of
 * generation, {@link #flush()} releases whatever is still held back. Not thread-safe.
 */
public final class StopMatcher {
    private final String[] stops;
    private final int maxStopLength;
    private String held = "";
    private boolean stopped;

    public StopMatcher(List<String> stops) {
        if (stops == null) {
            throw new IllegalArgumentException("stops must not be null");
        }
        this.stops = stops.toArray(new String[0]);
        int max = 0;
        for (String s : this.stops) {
            if (s == null || s.isEmpty()) {
                throw new IllegalArgumentException("stop strings must be non-empty");
            }
            max = Math.max(max, s.length());
        }
        this.maxStopLength = max;
    }

    /**
     * Consumes newly decoded text and returns the part that can be emitted now (possibly empty). Once a stop
     * string has been seen, {@link #stopped()} is true, the returned text ends just before the stop string,
     * and every later call returns the empty string.
     */
    public String accept(String chunk) {
        if (stopped) {
            return "";
        }
        if (chunk == null || chunk.isEmpty()) {
            return "";
        }
        if (stops.length == 0) {
            return chunk;
        }
        String text = held.isEmpty() ? chunk : held + chunk;
        // Earliest complete stop string. Occurrences that start inside already-emitted text are impossible:
        // such a start would have been a prefix of a stop string, and so would have been held back.
        int stopAt = -1;
        for (String stop : stops) {
            int at = text.indexOf(stop);
            if (at >= 0 && (stopAt < 0 || at < stopAt)) {
                stopAt = at;
            }
        }
        if (stopAt >= 0) {
            stopped = true;
            held = "";
            return text.substring(0, stopAt);
        }
        int keep = heldSuffixLength(text);
        held = text.substring(text.length() - keep);
        return text.substring(0, text.length() - keep);
    }

    /** Length of the longest suffix of {@code text} that is a proper prefix of some stop string. */
    private int heldSuffixLength(String text) {
        int len = text.length();
        for (int k = Math.min(len, maxStopLength - 1); k > 0; k--) {
            int from = len - k;
            for (String stop : stops) {
                if (stop.length() > k && stop.regionMatches(0, text, from, k)) {
                    return k;
                }
            }
        }
        return 0;
    }

    /** True once a stop string has been seen. */
    public boolean stopped() {
        return stopped;
    }

    /** Text currently held back as a possible start of a stop string. */
    public String pending() {
        return held;
    }

    /**
     * Ends the stream: returns the text still held back (it did not become a stop string), or the empty string
     * if a stop string was seen.
     */
    public String flush() {
        String out = stopped ? "" : held;
        held = "";
        return out;
    }
}
