package dev.troupe.actors.replica;

import dev.troupe.actors.wire.CrossNode;

import java.util.ArrayList;
import java.util.List;

/**
 * What a replica tells a request's sink. A request gets zero or more {@link Tokens} and then exactly one
 * {@link Finished} or {@link Failed}; nothing after that.
 */
public sealed interface GenerationEvent extends CrossNode permits GenerationEvent.Tokens, GenerationEvent.Finished, GenerationEvent.Failed {
    String requestId();

    /**
     * Newly generated tokens and the text they completed (never half a UTF-8 character; text held back
     * while it may still become a stop string). logprobs: one entry per token when asked, else empty.
     */
    record Tokens(String requestId, String text, int[] tokenIds, List<TokenLogprob> logprobs) implements GenerationEvent {
        /** Two consecutive token events of a request as one: their texts, token ids and logprobs in order. */
        public static Tokens merge(Tokens a, Tokens b) {
            int[] ids = new int[a.tokenIds.length + b.tokenIds.length];
            System.arraycopy(a.tokenIds, 0, ids, 0, a.tokenIds.length);
            System.arraycopy(b.tokenIds, 0, ids, a.tokenIds.length, b.tokenIds.length);
            List<TokenLogprob> lps;
            if (a.logprobs.isEmpty()) lps = b.logprobs;
            else if (b.logprobs.isEmpty()) lps = a.logprobs;
            else {
                lps = new ArrayList<>(a.logprobs.size() + b.logprobs.size());
                lps.addAll(a.logprobs);
                lps.addAll(b.logprobs);
            }
            return new Tokens(a.requestId, a.text + b.text, ids, lps);
        }
    }

    /**
     * Generation ended normally. queueNanos: how long it waited on its replica before its first step (the
     * last replica's, for a continued request; 0 when it never needed one).
     */
    record Finished(String requestId, FinishReason reason, int promptTokens, int completionTokens, long queueNanos) implements GenerationEvent {
        public Finished(String requestId, FinishReason reason, int promptTokens, int completionTokens) {
            this(requestId, reason, promptTokens, completionTokens, 0);
        }
    }

    /** Generation ended without a normal finish; completionTokens counts what was generated (and sent) before. */
    record Failed(String requestId, FailureKind kind, String message, int promptTokens, int completionTokens) implements GenerationEvent {}

    /** OpenAI's finish reasons: a stop string or end-of-generation token, or the token limit. */
    enum FinishReason {
        STOP, LENGTH;

        public String openAi() { return name().toLowerCase(java.util.Locale.ROOT); }
    }

    enum FailureKind {
        /** The replica's queue is full (HTTP 429). */
        QUEUE_FULL,
        /** The request's deadline passed before it finished (HTTP 504). */
        DEADLINE_EXCEEDED,
        /** The replica is shutting down (HTTP 503). */
        SHUTTING_DOWN,
        /** The client cancelled (disconnected). */
        CANCELLED,
        /** The request can never fit (prompt + max tokens beyond the context or the KV pool) (HTTP 400). */
        TOO_LONG,
        /** A bug or engine failure (HTTP 500). */
        INTERNAL,
        /** The request asks for what this replica cannot do, such as a schema constrained decoding cannot follow (HTTP 400). */
        INVALID,
        /**
         * The replica serving it was lost (its node died, paused or was cut off; the replica stopped): the
         * gateway continues the request on another replica, and tells this (HTTP 503) only when none can.
         */
        REPLICA_LOST
    }

    /** The chosen token's log probability and the top alternatives (descending), with their texts. */
    record TokenLogprob(int token, String text, float logprob, int[] topTokens, String[] topTexts, float[] topLogprobs) {}
}
