package dev.troupe.actors.replica;

import dev.troupe.engine.grammar.TokenConstraint;
import dev.troupe.engine.sampling.Logprobs;
import dev.troupe.engine.sampling.Sampler;
import dev.troupe.engine.sampling.StopMatcher;
import dev.troupe.engine.sampling.TokenHistory;
import dev.troupe.engine.tokenizer.StreamDecoder;
import dev.troupe.scheduler.ScheduledSequence;

import java.util.ArrayList;
import java.util.List;

/** A request the step loop has accepted: its decoding state and what it has yet to tell its sink. Loop thread only. */
final class LiveRequest {
    final GenerationRequest request;
    final GenerationSink sink;
    final int promptLength;
    /** Tokens at the end of the prompt that are the completion so far (a continuation); 0 for a new request. */
    final int resumed;
    /** Its tenant's counters on this replica. */
    final StepLoop.TenantCounters usage;
    /** Most tokens it may generate: max tokens, capped at the context end. */
    int limit;
    /** Prompt followed by the generated tokens (the scheduler's positions index this). */
    int[] tokens;
    TokenHistory history;
    Sampler sampler;
    StreamDecoder decoder;
    StopMatcher stops;
    Logprobs logprobs;          // null unless top logprobs are asked for
    TokenConstraint constraint; // null unless the output must be JSON of a schema
    ScheduledSequence<LiveRequest> seq;
    int generated;
    int logitsRow = -1;
    /** Still counted as queued: accepted but never in a step. */
    boolean queued = true;
    boolean done;
    /** When it was submitted, first in a step, and its first token was generated here (System.nanoTime). */
    long submittedAt;
    long scheduledAt;
    long firstTokenAt;

    // Generated but not yet told: ids and text (held back while it may become a stop string or is half a character).
    int[] pendingIds = new int[8];
    int pendingCount;
    final StringBuilder pendingText = new StringBuilder();
    List<GenerationEvent.TokenLogprob> pendingLogprobs;

    LiveRequest(GenerationRequest request, GenerationSink sink, StepLoop.TenantCounters usage) {
        this.request = request;
        this.sink = sink;
        this.usage = usage;
        this.promptLength = request.promptTokens().length;
        this.resumed = request.resumed();
    }

    /** The prompt as the client sent it (a continuation's prompt includes the completion so far). */
    int clientPromptTokens() { return promptLength - resumed; }

    /** The whole completion's tokens: before the continuation and generated here. */
    int completionTokens() { return resumed + generated; }

    String id() { return request.requestId(); }

    void addPendingId(int token) {
        if (pendingCount == pendingIds.length) pendingIds = java.util.Arrays.copyOf(pendingIds, pendingCount * 2);
        pendingIds[pendingCount++] = token;
    }

    void addPendingLogprob(GenerationEvent.TokenLogprob lp) {
        if (pendingLogprobs == null) pendingLogprobs = new ArrayList<>(4);
        pendingLogprobs.add(lp);
    }

    boolean hasPending() { return pendingCount > 0 || pendingText.length() > 0; }
}
