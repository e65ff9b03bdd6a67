package dev.troupe.engine.tokenizer;

import java.util.Objects;

/**
 * One piece of a prompt with its provenance. Text the chat template wrote may spell special tokens
 * ({@code <|eot_id|>}, {@code <|im_start|>}) and they are encoded as those tokens; text a user wrote is always
 * plain text, so a user who types {@code <|eot_id|>} cannot end their turn or forge another role's.
 *
 * @param text     the text
 * @param template true for template text (special tokens recognised), false for user content
 */
public record PromptSegment(String text, boolean template) {
    public PromptSegment {
        Objects.requireNonNull(text, "text");
    }

    /** Text written by the chat template: special-token texts in it become special tokens. */
    public static PromptSegment template(String text) {
        return new PromptSegment(text, true);
    }

    /** Text from the request (message content, a completion prompt): never parsed for special tokens. */
    public static PromptSegment content(String text) {
        return new PromptSegment(text, false);
    }
}
