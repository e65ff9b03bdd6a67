package dev.troupe.node.http;

import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.node.openai.LogprobsAccumulator;

/**
 * A response's view of its request's token events, the same for a plain response and a stream: the
 * completion text so far, the logprobs with their text offsets, and the latency metrics (time to the
 * first token, then between tokens). Used by one thread at a time.
 */
final class TokenAccumulator {
    private final ServedModel model;
    private final NodeMetrics metrics;
    private final RequestRecord record;
    private final boolean timesFirstToken;
    private final StringBuilder text = new StringBuilder();
    private final LogprobsAccumulator logprobs;
    private LogprobsAccumulator lastChunk;
    private long last;

    /** record: the request's (its first token is noted there, its TTFT counted from its acceptance); logprobs: whether they were asked for. */
    TokenAccumulator(ServedModel model, NodeMetrics metrics, RequestRecord record, boolean logprobs) {
        this(model, metrics, record, logprobs, true);
    }

    /** timesFirstToken: false for a request's other choices (n > 1), whose first tokens are not the request's. */
    TokenAccumulator(ServedModel model, NodeMetrics metrics, RequestRecord record, boolean logprobs, boolean timesFirstToken) {
        this.timesFirstToken = timesFirstToken;
        this.model = model;
        this.metrics = metrics;
        this.record = record;
        this.logprobs = logprobs ? new LogprobsAccumulator() : null;
    }

    /** Takes one token event; false when it carries nothing to show (no text, no logprobs). */
    boolean add(GenerationEvent.Tokens t) {
        if (t.text().isEmpty() && t.logprobs().isEmpty()) return false;
        long now = System.nanoTime();
        if (last == 0) {
            if (timesFirstToken) {
                record.firstToken(now);
                metrics.timeToFirstToken.labelValues(model.name(), model.version()).observe((now - record.accepted) / 1e9);
            }
        }
        else metrics.interTokenLatency.labelValues(model.name(), model.version()).observe((now - last) / 1e9);
        last = now;
        text.append(t.text());
        if (logprobs != null) {
            lastChunk = LogprobsAccumulator.chunk(t.logprobs(), logprobs.endOffset());
            logprobs.add(t.logprobs());
        }
        return true;
    }

    String text() {
        return text.toString();
    }

    /** All logprobs so far (a plain response's), or null when not asked for. */
    LogprobsAccumulator logprobs() {
        return logprobs;
    }

    /** The last event's logprobs, offsets continuing the completion's (a stream chunk's), or null when not asked for. */
    LogprobsAccumulator lastChunkLogprobs() {
        return lastChunk;
    }
}
