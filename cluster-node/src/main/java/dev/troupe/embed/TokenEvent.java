package dev.troupe.embed;

/**
 * What a generation tells its consumer: zero or more {@link Tokens}, then exactly one terminal event,
 * {@link Finished} or {@link Failed}, and nothing after it.
 */
public sealed interface TokenEvent permits TokenEvent.Tokens, TokenEvent.Finished, TokenEvent.Failed {
    /** The request's key ({@link GenerateRequest#requestId()}, or the one Troupe assigned). */
    String requestId();

    /** Whether this event ends the generation. */
    default boolean terminal() {
        return !(this instanceof Tokens);
    }

    /**
     * Newly generated tokens and the text they complete (never half a UTF-8 character; text that may still
     * become a stop string is held back). A consumer that falls behind gets the tokens generated meanwhile
     * merged into one event, so the replica never buffers more than a few events for it.
     */
    record Tokens(String requestId, String text, int[] tokenIds) implements TokenEvent {}

    /**
     * The generation ended normally; its usage is recorded in the tenant's ledger before this event is sent.
     *
     * @param reason "stop" (end of text or a stop string) or "length" (maxTokens reached)
     */
    record Finished(String requestId, String reason, int promptTokens, int completionTokens) implements TokenEvent {}

    /**
     * The generation ended without finishing, or never started. {@code status} and {@code code} are those
     * the HTTP API would answer with: 400 (too long, bad sampling settings), 403 (tenant unknown, suspended,
     * or not allowed the model), 404 (no such model), 429 (over a quota, or the replica's queue is full),
     * 503 (shutting down, no replica ready, replica lost), 504 (deadline), 500.
     *
     * @param completionTokens tokens generated (and delivered) before it failed
     */
    record Failed(String requestId, int status, String code, String message, int completionTokens) implements TokenEvent {}
}
