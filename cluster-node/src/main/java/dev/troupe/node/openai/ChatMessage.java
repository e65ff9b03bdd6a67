package dev.troupe.node.openai;

import java.util.Objects;

/**
 * One chat message after parsing.
 *
 * @param role    {@code system}, {@code user}, {@code assistant} or {@code tool} ({@code developer} arrives
 *                here as {@code system})
 * @param content the text; content parts already concatenated
 */
public record ChatMessage(String role, String content) {
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
    }
}
