package dev.troupe.node.openai;

import dev.troupe.engine.sampling.SamplingParams;

import java.util.List;

/**
 * A parsed {@code /v1/completions} or {@code /v1/chat/completions} request.
 *
 * @param chat         true for a chat request ({@link #messages()} set, {@link #prompt()} null), false for a
 *                     completions request ({@link #prompt()} set, {@link #messages()} null)
 * @param model        the requested model name, non-empty
 * @param prompt       completions: the prompt text (may be empty); chat: null
 * @param messages     chat: the conversation, non-empty and immutable; completions: null
 * @param params       sampling parameters. {@code maxTokens} is {@link Integer#MAX_VALUE} for a chat request that
 *                     gave neither {@code max_tokens} nor {@code max_completion_tokens}, meaning "until the
 *                     context ends": the caller caps it to the room left in the context. {@code topLogprobs} is
 *                     the number of alternatives requested (0 when none).
 * @param stream       {@code stream}
 * @param includeUsage {@code stream_options.include_usage}
 * @param logprobs     completions: {@code logprobs}, 0..5 alternatives, -1 = not requested; chat:
 *                     {@code top_logprobs} (0..20, default 0) when {@code logprobs} is true, else -1. So
 *                     {@code logprobs >= 0} means "report the chosen tokens' logprobs".
 * @param user         {@code user}, or null
 * @param tools        chat: the {@code tools} offered to the model as JSON-like values (maps keep their order),
 *                     empty when none or when {@code tool_choice} is {@code none}
 * @param templateKwargs chat: vLLM's {@code chat_template_kwargs}, extra variables for the chat template (e.g.
 *                     Qwen3's {@code enable_thinking}); empty when none
 * @param forcedToolCall chat: {@code tool_choice} is {@code required} or names a function, so the reply is one call
 *                     {@code {"name": .., "arguments": {..}}} made by constrained decoding ({@code params.jsonSchema})
 * @param n            how many independent choices to generate for the prompt (OpenAI's {@code n}), at least 1
 */
public record CompletionRequest(boolean chat, String model, String prompt, List<ChatMessage> messages,
                                SamplingParams params, boolean stream, boolean includeUsage, int logprobs,
                                String user, List<Object> tools, java.util.Map<String, Object> templateKwargs,
                                boolean forcedToolCall, int n) {
    public CompletionRequest {
        if (n < 1) throw new IllegalArgumentException("n must be at least 1, got " + n);
        messages = messages == null ? null : List.copyOf(messages);
        tools = tools == null ? List.of() : java.util.Collections.unmodifiableList(new java.util.ArrayList<>(tools));
        templateKwargs = templateKwargs == null ? java.util.Map.of()
                : java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(templateKwargs));
    }

    public CompletionRequest(boolean chat, String model, String prompt, List<ChatMessage> messages, SamplingParams params,
                             boolean stream, boolean includeUsage, int logprobs, String user, List<Object> tools) {
        this(chat, model, prompt, messages, params, stream, includeUsage, logprobs, user, tools, java.util.Map.of(), false, 1);
    }

    public CompletionRequest(boolean chat, String model, String prompt, List<ChatMessage> messages, SamplingParams params,
                             boolean stream, boolean includeUsage, int logprobs, String user) {
        this(chat, model, prompt, messages, params, stream, includeUsage, logprobs, user, List.of());
    }

    /** Whether the model is offered tools (so its output is parsed for tool calls). */
    public boolean hasTools() {
        return !tools.isEmpty();
    }

    /** True when the client asked for token logprobs. */
    public boolean wantsLogprobs() {
        return logprobs >= 0;
    }
}
