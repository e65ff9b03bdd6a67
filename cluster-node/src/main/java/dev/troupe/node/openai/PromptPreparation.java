package dev.troupe.node.openai;

import dev.troupe.engine.sampling.SamplingParams;
import dev.troupe.engine.tokenizer.PromptSegment;
import dev.troupe.engine.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;

/**
 * A parsed completion or chat request made ready for a model version: the chat template applied, the prompt
 * tokenized, the template's turn ends added as stop strings, max tokens fitted to the context (or a precise
 * 400). Plain code, no HTTP: the same for every door into Troupe.
 */
public final class PromptPreparation {
    private PromptPreparation() {}

    /** The prompt's token ids (BOS as the model wants) and the sampling parameters to run them with. */
    public record Prepared(int[] tokens, SamplingParams params) {}

    public static Prepared prepare(CompletionRequest req, ChatTemplate template, Tokenizer tokenizer, int contextLength) {
        int[] tokens = req.chat()
                ? chatTokens(req.messages(), shownTools(req, template), req.templateKwargs(), true, template, tokenizer)
                : tokenizer.encode(req.prompt(), tokenizer.addBosByDefault());
        SamplingParams params = req.chat() ? withTemplateStops(template, req.params()) : req.params();
        return new Prepared(tokens, fitToContext(contextLength, params, tokens.length));
    }

    /**
     * The tools the template shows the model. A forced call to a model whose template takes no tools still works
     * (constrained decoding writes it) without the model seeing their descriptions.
     */
    private static List<Object> shownTools(CompletionRequest req, ChatTemplate template) {
        return req.forcedToolCall() && !template.acceptsTools() ? List.of() : req.tools();
    }

    /**
     * A conversation's prompt tokens: the chat template's segments, special tokens only where the template wrote
     * them, and BOS first when the model wants it and the template did not write it already (templates that
     * start with {@code bos_token} must not get two).
     */
    public static int[] chatTokens(List<ChatMessage> messages, List<Object> tools, boolean addGenerationPrompt,
                                   ChatTemplate template, Tokenizer tokenizer) {
        return chatTokens(messages, tools, java.util.Map.of(), addGenerationPrompt, template, tokenizer);
    }

    /** As above, with extra template variables ({@code chat_template_kwargs}). */
    public static int[] chatTokens(List<ChatMessage> messages, List<Object> tools, java.util.Map<String, Object> templateKwargs,
                                   boolean addGenerationPrompt, ChatTemplate template, Tokenizer tokenizer) {
        List<PromptSegment> segments = template.segments(messages, tools, templateKwargs, addGenerationPrompt, tokenizer.specialTokenTexts());
        int[] ids = tokenizer.encode(segments, false);
        int bos = tokenizer.bos();
        if (!tokenizer.addBosByDefault() || bos < 0 || (ids.length > 0 && ids[0] == bos)) return ids;
        int[] withBos = new int[ids.length + 1];
        withBos[0] = bos;
        System.arraycopy(ids, 0, withBos, 1, ids.length);
        return withBos;
    }

    /** A chat reply ends where the template's next turn would begin (up to OpenAI's four stop strings). */
    static SamplingParams withTemplateStops(ChatTemplate template, SamplingParams p) {
        List<String> stops = new ArrayList<>(p.stop());
        for (String s : template.stopStrings()) {
            if (stops.size() < SamplingParams.MAX_STOP_STRINGS && !stops.contains(s)) stops.add(s);
        }
        return stops.size() == p.stop().size() ? p : p.toBuilder().stop(stops).build();
    }

    /** Caps max tokens to the context and refuses a prompt + max tokens that cannot fit, with the counts. */
    static SamplingParams fitToContext(int ctx, SamplingParams p, int promptTokens) {
        boolean unlimited = p.maxTokens() == Integer.MAX_VALUE;
        if (promptTokens >= ctx || (!unlimited && promptTokens + p.maxTokens() > ctx)) {
            String asked = unlimited ? promptTokens + " tokens in the prompt"
                    : (promptTokens + p.maxTokens()) + " tokens (" + promptTokens + " in the prompt, " + p.maxTokens() + " for the completion)";
            throw ApiError.badRequest("This model's maximum context length is " + ctx + " tokens. However, you requested "
                    + asked + ". Please reduce the length of the prompt or max_tokens.", unlimited ? "messages" : "max_tokens",
                    "context_length_exceeded");
        }
        return unlimited ? p.toBuilder().maxTokens(ctx - promptTokens).build() : p;
    }
}
