package dev.troupe.node.openai;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.actors.replica.GenerationEvent.FinishReason;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Renders OpenAI-API response bodies and server-sent-event frames as JSON text (built with Jackson, so all
 * text is escaped correctly).
 *
 * <p>Logprobs: a non-finite logprob (a token the sampler made impossible) is written as -9999.0, as OpenAI
 * does, since JSON has no infinities. Chat {@code bytes} are the UTF-8 bytes of the token text as the
 * replica reported it. Pass {@code null} for {@code logprobs} when the client did not ask for them
 * (the field is then JSON null).
 */
public final class ResponseRenderer {
    /** The frame that ends an event stream. */
    public static final String SSE_DONE = "data: [DONE]\n\n";
    /** {@code owned_by} of every model we list. */
    public static final String OWNED_BY = "troupe";
    /** Written instead of a non-finite logprob. */
    public static final float MIN_LOGPROB = -9999.0f;

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private ResponseRenderer() {
    }

    /** One server-sent-event frame: {@code "data: " + json + "\n\n"}. */
    public static String sse(String json) {
        return "data: " + json + "\n\n";
    }

    // ------------------------------------------------------------------ completions

    /** A complete {@code text_completion} response with usage. */
    public static String completion(String id, long created, String model, String text, FinishReason finishReason,
                                    int promptTokens, int completionTokens, LogprobsAccumulator logprobsOrNull) {
        ObjectNode root = header(id, "text_completion", created, model);
        completionChoice(root.putArray("choices"), text, finishReason, logprobsOrNull);
        usage(root, promptTokens, completionTokens);
        return write(root);
    }

    /** A streamed {@code text_completion} chunk; {@code finishReasonOrNull} is set on the last one only. */
    public static String completionChunk(String id, long created, String model, String text,
                                         FinishReason finishReasonOrNull, LogprobsAccumulator logprobsOrNull) {
        ObjectNode root = header(id, "text_completion", created, model);
        completionChoice(root.putArray("choices"), text, finishReasonOrNull, logprobsOrNull);
        return write(root);
    }

    private static void completionChoice(ArrayNode choices, String text, FinishReason finish,
                                         LogprobsAccumulator lp) {
        ObjectNode c = choices.addObject();
        c.put("index", 0);
        c.put("text", text == null ? "" : text);
        if (lp == null) {
            c.putNull("logprobs");
        } else {
            c.set("logprobs", completionLogprobs(lp));
        }
        c.put("finish_reason", finish == null ? null : finish.openAi());
    }

    /** {@code {"tokens":[...],"token_logprobs":[...],"top_logprobs":[{text:lp,...},...],"text_offset":[...]}}. */
    static ObjectNode completionLogprobs(LogprobsAccumulator lp) {
        ObjectNode o = MAPPER.createObjectNode();
        ArrayNode tokens = o.putArray("tokens");
        ArrayNode tokenLogprobs = o.putArray("token_logprobs");
        ArrayNode top = o.putArray("top_logprobs");
        ArrayNode offsets = o.putArray("text_offset");
        List<GenerationEvent.TokenLogprob> entries = lp.entries();
        for (int i = 0; i < entries.size(); i++) {
            GenerationEvent.TokenLogprob e = entries.get(i);
            tokens.add(nonNull(e.text()));
            tokenLogprobs.add(finite(e.logprob()));
            ObjectNode alts = top.addObject();
            int n = alternatives(e);
            for (int k = 0; k < n; k++) {
                String t = nonNull(e.topTexts()[k]);
                if (!alts.has(t)) { // two tokens with the same text: keep the more likely (listed first)
                    alts.put(t, finite(e.topLogprobs()[k]));
                }
            }
            offsets.add(lp.textOffset(i));
        }
        return o;
    }

    // ------------------------------------------------------------------ chat

    /** A complete {@code chat.completion} response with usage. */
    public static String chatCompletion(String id, long created, String model, String content,
                                        FinishReason finishReason, int promptTokens, int completionTokens,
                                        LogprobsAccumulator logprobsOrNull) {
        ObjectNode root = header(id, "chat.completion", created, model);
        ObjectNode c = root.putArray("choices").addObject();
        c.put("index", 0);
        ObjectNode msg = c.putObject("message");
        msg.put("role", "assistant");
        msg.put("content", content == null ? "" : content);
        if (logprobsOrNull == null) {
            c.putNull("logprobs");
        } else {
            c.set("logprobs", chatLogprobs(logprobsOrNull));
        }
        c.put("finish_reason", finishReason == null ? null : finishReason.openAi());
        usage(root, promptTokens, completionTokens);
        return write(root);
    }

    /**
     * A complete {@code chat.completion} whose output was parsed for tool calls: with calls, {@code content} is
     * the text outside them (null when none), {@code tool_calls} lists them and a natural stop is reported as
     * {@code "tool_calls"}.
     */
    public static String chatCompletion(String id, long created, String model, ToolCallParser.Parsed parsed,
                                        FinishReason finishReason, int promptTokens, int completionTokens,
                                        LogprobsAccumulator logprobsOrNull) {
        ObjectNode root = (ObjectNode) readTree(chatCompletion(id, created, model, parsed.content(), finishReason, promptTokens,
                completionTokens, logprobsOrNull));
        if (!parsed.hasCalls()) return write(root);
        ObjectNode c = (ObjectNode) root.get("choices").get(0);
        ObjectNode msg = (ObjectNode) c.get("message");
        if (parsed.content() == null) msg.putNull("content");
        toolCalls(msg.putArray("tool_calls"), parsed.calls(), false);
        if (finishReason == FinishReason.STOP) c.put("finish_reason", "tool_calls");
        return write(root);
    }

    /** A chunk carrying all of a reply's tool calls at once (streamed replies with tools are parsed at their end). */
    public static String chatToolCallsChunk(String id, long created, String model, List<ChatMessage.ToolCall> calls) {
        ObjectNode root = header(id, "chat.completion.chunk", created, model);
        ObjectNode c = root.putArray("choices").addObject();
        c.put("index", 0);
        toolCalls(c.putObject("delta").putArray("tool_calls"), calls, true);
        c.putNull("logprobs");
        c.putNull("finish_reason");
        return write(root);
    }

    /** The last chunk of a streamed reply whose tool calls were sent: finish reason {@code "tool_calls"} on a natural stop. */
    public static String chatToolCallsFinishChunk(String id, long created, String model, FinishReason finishReason) {
        ObjectNode root = (ObjectNode) readTree(chatChunk(id, created, model, null, null, finishReason, null));
        if (finishReason == FinishReason.STOP) ((ObjectNode) root.get("choices").get(0)).put("finish_reason", "tool_calls");
        return write(root);
    }

    private static void toolCalls(ArrayNode out, List<ChatMessage.ToolCall> calls, boolean indexed) {
        for (int i = 0; i < calls.size(); i++) {
            ChatMessage.ToolCall tc = calls.get(i);
            ObjectNode o = out.addObject();
            if (indexed) o.put("index", i);
            o.put("id", tc.id());
            o.put("type", "function");
            ObjectNode f = o.putObject("function");
            f.put("name", tc.name());
            f.put("arguments", tc.arguments());
        }
    }

    private static com.fasterxml.jackson.databind.JsonNode readTree(String json) {
        try {
            return MAPPER.readTree(json);
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A {@code chat.completion.chunk}. The delta holds only the non-null parts: the first chunk carries role
     * {@code assistant} (and usually content {@code ""}), middle chunks content, the last an empty delta
     * {@code {}} with the finish reason.
     */
    public static String chatChunk(String id, long created, String model, String deltaRoleOrNull,
                                   String deltaContentOrNull, FinishReason finishReasonOrNull,
                                   LogprobsAccumulator logprobsOrNull) {
        ObjectNode root = header(id, "chat.completion.chunk", created, model);
        ObjectNode c = root.putArray("choices").addObject();
        c.put("index", 0);
        ObjectNode delta = c.putObject("delta");
        if (deltaRoleOrNull != null) {
            delta.put("role", deltaRoleOrNull);
        }
        if (deltaContentOrNull != null) {
            delta.put("content", deltaContentOrNull);
        }
        if (logprobsOrNull == null) {
            c.putNull("logprobs");
        } else {
            c.set("logprobs", chatLogprobs(logprobsOrNull));
        }
        c.put("finish_reason", finishReasonOrNull == null ? null : finishReasonOrNull.openAi());
        return write(root);
    }

    /**
     * {@code {"content":[{"token","logprob","bytes":[...],"top_logprobs":[{"token","logprob","bytes"}]}]}}.
     */
    static ObjectNode chatLogprobs(LogprobsAccumulator lp) {
        ObjectNode o = MAPPER.createObjectNode();
        ArrayNode content = o.putArray("content");
        for (GenerationEvent.TokenLogprob e : lp.entries()) {
            ObjectNode t = content.addObject();
            tokenInfo(t, e.text(), e.logprob());
            ArrayNode top = t.putArray("top_logprobs");
            int n = alternatives(e);
            for (int k = 0; k < n; k++) {
                tokenInfo(top.addObject(), e.topTexts()[k], e.topLogprobs()[k]);
            }
        }
        return o;
    }

    private static void tokenInfo(ObjectNode t, String text, float logprob) {
        String s = nonNull(text);
        t.put("token", s);
        t.put("logprob", finite(logprob));
        ArrayNode bytes = t.putArray("bytes");
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            bytes.add(b & 0xFF);
        }
    }

    // ------------------------------------------------------------------ several choices (n > 1)

    /** A one-choice response or chunk, rendered as choice {@code index} (each choice renders as choice 0 first). */
    public static String withIndex(String json, int index) {
        if (index == 0) return json;
        ObjectNode root = (ObjectNode) readTree(json);
        for (com.fasterxml.jackson.databind.JsonNode c : root.get("choices")) ((ObjectNode) c).put("index", index);
        return write(root);
    }

    /**
     * One response of several choices from the one-choice responses of each (in choice order): their choices
     * numbered in order, the first's id and header, and the usage of all (the prompt counted once).
     */
    public static String merged(List<String> oneChoiceEach, int promptTokens, int completionTokens) {
        ObjectNode root = (ObjectNode) readTree(oneChoiceEach.get(0));
        ArrayNode choices = root.putArray("choices");
        for (int i = 0; i < oneChoiceEach.size(); i++) {
            ObjectNode c = (ObjectNode) readTree(oneChoiceEach.get(i)).get("choices").get(0);
            c.put("index", i);
            choices.add(c);
        }
        root.remove("usage");
        usage(root, promptTokens, completionTokens);
        return write(root);
    }

    // ------------------------------------------------------------------ usage, models, embeddings

    /**
     * The final chunk of a stream with {@code stream_options.include_usage}: {@code "choices":[]} and usage.
     *
     * @param chat true for a {@code chat.completion.chunk}, false for a {@code text_completion}
     */
    public static String usageChunk(String id, long created, String model, boolean chat, int promptTokens,
                                    int completionTokens) {
        ObjectNode root = header(id, chat ? "chat.completion.chunk" : "text_completion", created, model);
        root.putArray("choices");
        usage(root, promptTokens, completionTokens);
        return write(root);
    }

    /** {@code GET /v1/models}: {@code {"object":"list","data":[{"id","object":"model","created","owned_by"}]}}. */
    public static String models(List<ModelEntry> models) {
        ObjectNode root = MAPPER.createObjectNode();
        root.put("object", "list");
        ArrayNode data = root.putArray("data");
        for (ModelEntry m : models) {
            ObjectNode e = data.addObject();
            e.put("id", m.id());
            e.put("object", "model");
            e.put("created", m.created());
            e.put("owned_by", OWNED_BY);
        }
        return write(root);
    }

    /** One model, for {@code GET /v1/models/{id}}: {@code {"id","object":"model","created","owned_by"}}. */
    public static String model(ModelEntry m) {
        ObjectNode e = MAPPER.createObjectNode();
        e.put("id", m.id());
        e.put("object", "model");
        e.put("created", m.created());
        e.put("owned_by", OWNED_BY);
        return write(e);
    }

    /**
     * {@code POST /v1/embeddings}: {@code {"object":"list","data":[{"object":"embedding","index":i,"embedding":[...]}],
     * "model","usage":{"prompt_tokens","total_tokens"}}}. Components are written as floats (shortest text that
     * reads back to the same float); a non-finite component is an {@link IllegalArgumentException}.
     */
    public static String embeddings(String model, List<float[]> embeddings, int promptTokens) {
        return embeddings(model, embeddings, promptTokens, false);
    }

    /**
     * The same; with base64, each {@code "embedding"} is a string: base64 of the vector's float32 components in
     * little-endian order (what the OpenAI SDKs request by default and decode).
     */
    public static String embeddings(String model, List<float[]> embeddings, int promptTokens, boolean base64) {
        ObjectNode root = MAPPER.createObjectNode();
        root.put("object", "list");
        ArrayNode data = root.putArray("data");
        for (int i = 0; i < embeddings.size(); i++) {
            ObjectNode e = data.addObject();
            e.put("object", "embedding");
            e.put("index", i);
            for (float f : embeddings.get(i)) {
                if (!Float.isFinite(f)) {
                    throw new IllegalArgumentException("embedding " + i + " has a non-finite component: " + f);
                }
            }
            if (base64) {
                float[] vec = embeddings.get(i);
                java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocate(vec.length * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                bytes.asFloatBuffer().put(vec);
                e.put("embedding", java.util.Base64.getEncoder().encodeToString(bytes.array()));
                continue;
            }
            ArrayNode v = e.putArray("embedding");
            for (float f : embeddings.get(i)) v.add(f);
        }
        root.put("model", model);
        ObjectNode u = root.putObject("usage");
        u.put("prompt_tokens", promptTokens);
        u.put("total_tokens", promptTokens);
        return write(root);
    }

    // ------------------------------------------------------------------ helpers

    private static ObjectNode header(String id, String object, long created, String model) {
        ObjectNode root = MAPPER.createObjectNode();
        root.put("id", id);
        root.put("object", object);
        root.put("created", created);
        root.put("model", model);
        return root;
    }

    private static void usage(ObjectNode root, int promptTokens, int completionTokens) {
        ObjectNode u = root.putObject("usage");
        u.put("prompt_tokens", promptTokens);
        u.put("completion_tokens", completionTokens);
        u.put("total_tokens", (long) promptTokens + completionTokens);
    }

    private static int alternatives(GenerationEvent.TokenLogprob e) {
        if (e.topTexts() == null || e.topLogprobs() == null) {
            return 0;
        }
        return Math.min(e.topTexts().length, e.topLogprobs().length);
    }

    private static float finite(float lp) {
        return Float.isFinite(lp) ? lp : MIN_LOGPROB;
    }

    private static String nonNull(String s) {
        return s == null ? "" : s;
    }

    private static String write(ObjectNode node) {
        try {
            return MAPPER.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
