package dev.troupe.node.openai;

import java.util.List;
import java.util.Objects;

/**
 * One chat message after parsing.
 *
 * @param role       {@code system}, {@code user}, {@code assistant} or {@code tool} ({@code developer} arrives
 *                   here as {@code system})
 * @param content    the text; content parts already concatenated ("" for an assistant message with only tool calls)
 * @param toolCalls  an assistant message's tool calls (empty otherwise)
 * @param toolCallId a tool message's {@code tool_call_id}, or null
 * @param name       the message's {@code name}, or null
 */
public record ChatMessage(String role, String content, List<ToolCall> toolCalls, String toolCallId, String name) {
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
        toolCalls = toolCalls == null ? List.of() : List.copyOf(toolCalls);
    }

    public ChatMessage(String role, String content) {
        this(role, content, List.of(), null, null);
    }

    /**
     * A function call, in a request's assistant message or parsed from a model's output.
     *
     * @param id        the call's id ({@code call_...})
     * @param name      the function's name
     * @param arguments the arguments as a JSON text (OpenAI's {@code function.arguments})
     */
    public record ToolCall(String id, String name, String arguments) {
        public ToolCall {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(arguments, "arguments");
        }
    }
}
