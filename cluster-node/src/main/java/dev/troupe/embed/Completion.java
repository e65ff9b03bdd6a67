package dev.troupe.embed;

/**
 * A finished completion, as {@link Troupe#complete} returns it.
 *
 * @param reason "stop" or "length"
 */
public record Completion(String requestId, String text, String reason, int promptTokens, int completionTokens) {}
