package dev.troupe.node.openai;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.troupe.engine.tokenizer.Tokenizer;

import java.util.List;

/**
 * vLLM's {@code /tokenize} and {@code /detokenize}: a prompt or a conversation to the token ids the model would be
 * given, and ids back to text. The ids are exactly those of the generation endpoints: a prompt as
 * {@code /v1/completions} tokenizes it (special-token texts in it stay text), a conversation through the model's
 * chat template as {@code /v1/chat/completions} does.
 */
public final class Tokenization {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Tokenization() {}

    /**
     * @param prompt              the text, or null for a conversation
     * @param messages            the conversation, or null for a prompt
     * @param addSpecialTokens    prompt only: whether BOS is added as the model wants it (false: never)
     * @param addGenerationPrompt conversation only: whether to end where the assistant's reply starts
     */
    public record TokenizeRequest(String model, String prompt, List<ChatMessage> messages, List<Object> tools,
                                  java.util.Map<String, Object> templateKwargs, boolean addSpecialTokens, boolean addGenerationPrompt) {}

    public record DetokenizeRequest(String model, int[] tokens) {}

    /** {@code {"tokens": [...], "count": N, "max_model_len": M}}. */
    public static String tokenize(TokenizeRequest r, ChatTemplate template, Tokenizer tokenizer, int maxModelLen) {
        int[] ids = r.messages() != null
                ? PromptPreparation.chatTokens(r.messages(), r.tools(), r.templateKwargs(), r.addGenerationPrompt(), template, tokenizer)
                : tokenizer.encode(r.prompt(), r.addSpecialTokens() && tokenizer.addBosByDefault());
        ObjectNode o = JSON.createObjectNode();
        ArrayNode a = o.putArray("tokens");
        for (int id : ids) a.add(id);
        o.put("count", ids.length);
        o.put("max_model_len", maxModelLen);
        return o.toString();
    }

    /** {@code {"prompt": "..."}}; 400 for an id outside the vocabulary. Control tokens decode to nothing. */
    public static String detokenize(DetokenizeRequest r, Tokenizer tokenizer) {
        for (int i = 0; i < r.tokens().length; i++) {
            int id = r.tokens()[i];
            if (id >= tokenizer.vocabSize()) {
                throw ApiError.badRequest("'tokens[" + i + "]' is " + id + ", outside this model's vocabulary of "
                        + tokenizer.vocabSize() + " tokens", "tokens");
            }
        }
        ObjectNode o = JSON.createObjectNode();
        o.put("prompt", tokenizer.decode(r.tokens()));
        return o.toString();
    }
}
