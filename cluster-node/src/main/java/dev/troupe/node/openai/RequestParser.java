package dev.troupe.node.openai;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.troupe.engine.grammar.GrammarException;
import dev.troupe.engine.grammar.JsonSchemaCompiler;
import dev.troupe.engine.sampling.SamplingParams;

import java.io.IOException;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Parses and validates OpenAI-API request bodies. Every problem is an {@link ApiError} (400) whose
 * {@code param} names the field at fault; the first problem found wins.
 *
 * <p>General rules: the body must be valid UTF-8 (decoded strictly; nothing is replaced) holding one JSON
 * object. Unknown fields are ignored, as OpenAI does. A field set to {@code null} is treated as absent
 * (its default applies). Integer fields also accept numbers with an integral value ({@code 16.0}). Text
 * fields (prompt, message contents, stop strings, embedding inputs) must not contain unpaired UTF-16
 * surrogates (JSON escapes such as {@code "\ud800"} alone).
 *
 * <p>Sampling fields, for both completions and chat: {@code temperature} [0, 2] (default 1), {@code top_p}
 * (0, 1] (default 1), {@code presence_penalty} and {@code frequency_penalty} [-2, 2] (default 0),
 * {@code seed} integer, {@code stop} string or array of at most 4 non-empty strings, {@code n} 1 to
 * {@link #MAX_CHOICES} (independent choices; with a seed, choice i samples with seed + i),
 * {@code logit_bias} only absent or {@code {}}, {@code stream} boolean, {@code stream_options} object
 * (only with {@code "stream": true}) with {@code include_usage} boolean, {@code user} string; chat {@code tools}
 * (function tools), {@code tool_choice} ({@code auto}, {@code none}, or {@code required} and a named function,
 * which force one call by constrained decoding), assistant {@code tool_calls} and tool {@code tool_call_id};
 * {@code response_format} {@code text}, {@code json_object} or {@code json_schema} (constrained decoding; the
 * completions endpoint takes it too, as vLLM does).
 *
 * <p>Extensions (as vLLM accepts them): {@code top_k} integer, 0 or -1 = off (default off);
 * {@code min_p} [0, 1] (default 0); {@code repetition_penalty} &gt; 0, llama.cpp style (default 1);
 * {@code ignore_eos} boolean (default false).
 *
 * <p>Features we know of but do not implement are rejected rather than silently ignored:
 * {@code best_of} above 1, {@code echo: true}, a non-empty {@code suffix}, a non-empty {@code logit_bias},
 * token-array prompts or inputs, legacy chat {@code functions}, a JSON Schema keyword constrained decoding would not
 * enforce ({@code pattern}, {@code minimum}, ...), non-text content parts, embeddings {@code dimensions}.
 */
public final class RequestParser {
    /** Default {@code max_tokens} of a completions request (OpenAI's). */
    public static final int DEFAULT_COMPLETION_MAX_TOKENS = 16;
    /** Most alternatives a completions request may ask for with {@code logprobs}. */
    public static final int MAX_COMPLETION_LOGPROBS = 5;
    /** Most choices ({@code n}) one request may ask for. */
    public static final int MAX_CHOICES = 16;
    /** Most texts in one embeddings request. */
    public static final int MAX_EMBEDDING_INPUTS = 2048;

    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private RequestParser() {
    }

    // ------------------------------------------------------------------ completions

    /** Parses a {@code POST /v1/completions} body. */
    public static CompletionRequest parseCompletion(byte[] body) {
        ObjectNode o = parseObject(body);
        String model = model(o);
        String prompt = prompt(o);

        SamplingParams.Builder b = SamplingParams.builder();
        b.maxTokens(intField(o, "max_tokens", 1, Integer.MAX_VALUE, DEFAULT_COMPLETION_MAX_TOKENS));
        Common c = common(o, b);
        onlyOne(o, "best_of");
        if (bool(o, "echo", false)) {
            throw ApiError.badRequest("'echo' is not supported", "echo");
        }
        String suffix = string(o, "suffix", null);
        if (suffix != null && !suffix.isEmpty()) {
            throw ApiError.badRequest("'suffix' is not supported", "suffix");
        }
        int logprobs = intField(o, "logprobs", 0, MAX_COMPLETION_LOGPROBS, -1);
        b.topLogprobs(Math.max(logprobs, 0));
        b.jsonSchema(responseFormat(o)); // an extension here, as in vLLM
        return new CompletionRequest(false, model, prompt, null, build(b), c.stream, c.includeUsage, logprobs,
                c.user, List.of(), java.util.Map.of(), false, c.n);
    }

    private static String prompt(ObjectNode o) {
        JsonNode p = o.get("prompt");
        if (p == null || p.isNull()) {
            throw ApiError.badRequest("'prompt' is required", "prompt");
        }
        if (p.isTextual()) {
            return text(p.textValue(), "prompt");
        }
        if (p.isArray()) {
            if (p.isEmpty()) {
                throw ApiError.badRequest("'prompt' must not be an empty array", "prompt");
            }
            JsonNode first = p.get(0);
            if (first.isNumber() || first.isArray()) {
                throw ApiError.badRequest("token arrays are not supported in 'prompt'; send the prompt as a string",
                        "prompt");
            }
            for (int i = 0; i < p.size(); i++) {
                if (!p.get(i).isTextual()) {
                    throw ApiError.badRequest("'prompt[" + i + "]' must be a string, got " + show(p.get(i)),
                            "prompt");
                }
            }
            if (p.size() > 1) {
                throw ApiError.badRequest("only one prompt per request is supported, got " + p.size(), "prompt");
            }
            return text(first.textValue(), "prompt");
        }
        throw ApiError.badRequest("'prompt' must be a string or an array of one string, got " + show(p), "prompt");
    }

    // ------------------------------------------------------------------ chat

    /**
     * Parses a {@code POST /v1/chat/completions} body. Without {@code max_tokens} and
     * {@code max_completion_tokens} (which wins when both are given), {@code maxTokens} is
     * {@link Integer#MAX_VALUE}: generate until the context ends (the caller caps it).
     */
    public static CompletionRequest parseChat(byte[] body) {
        ObjectNode o = parseObject(body);
        String model = model(o);
        List<ChatMessage> messages = messages(o);

        SamplingParams.Builder b = SamplingParams.builder();
        int maxTokens = intField(o, "max_tokens", 1, Integer.MAX_VALUE, Integer.MAX_VALUE);
        maxTokens = intField(o, "max_completion_tokens", 1, Integer.MAX_VALUE, maxTokens);
        b.maxTokens(maxTokens);
        Common c = common(o, b);

        boolean logprobs = bool(o, "logprobs", false);
        JsonNode tl = o.get("top_logprobs");
        int topLogprobs = intField(o, "top_logprobs", 0, SamplingParams.MAX_TOP_LOGPROBS, 0);
        if (tl != null && !tl.isNull() && !logprobs) {
            throw ApiError.badRequest("'top_logprobs' requires 'logprobs' to be true", "top_logprobs");
        }
        b.topLogprobs(logprobs ? topLogprobs : 0);

        Tools tools = tools(o);
        JsonNode functions = o.get("functions");
        if (functions != null && !functions.isNull() && !(functions.isArray() && functions.isEmpty())) {
            throw ApiError.badRequest("'functions' are not supported", "functions");
        }
        String format = responseFormat(o);
        if (format != null && tools.forcedSchema() != null) {
            throw ApiError.badRequest("a JSON 'response_format' and a 'tool_choice' that forces a call cannot be combined",
                    "response_format");
        }
        b.jsonSchema(tools.forcedSchema() != null ? tools.forcedSchema() : format);
        return new CompletionRequest(true, model, null, messages, build(b), c.stream, c.includeUsage,
                logprobs ? topLogprobs : -1, c.user, tools.offered(), templateKwargs(o), tools.forcedSchema() != null, c.n);
    }

    /**
     * {@code response_format}: {@code text} (the default) gives null; {@code json_object} the schema of any object;
     * {@code json_schema} its {@code json_schema.schema}, checked here so a schema constrained decoding cannot enforce
     * is refused before anything runs.
     */
    private static String responseFormat(ObjectNode o) {
        JsonNode rf = o.get("response_format");
        if (rf == null || rf.isNull()) return null;
        JsonNode type = rf.isObject() ? rf.get("type") : null;
        if (type == null || !type.isTextual()) {
            throw ApiError.badRequest("'response_format' must be an object with a string 'type', got " + show(rf), "response_format");
        }
        switch (type.textValue()) {
            case "text":
                return null;
            case "json_object":
                return "{\"type\":\"object\"}";
            case "json_schema": {
                JsonNode js = rf.get("json_schema");
                JsonNode schema = js == null ? null : js.get("schema");
                if (js == null || !js.isObject() || schema == null || !(schema.isObject() || schema.isBoolean())) {
                    throw ApiError.badRequest("'response_format.json_schema.schema' must be a JSON Schema object",
                            "response_format.json_schema.schema");
                }
                return checkedSchema(schema.toString(), "response_format.json_schema.schema");
            }
            default:
                throw ApiError.badRequest("'response_format' type must be \"text\", \"json_object\" or \"json_schema\", got '"
                        + type.textValue() + "'", "response_format");
        }
    }

    /** The schema text, once it compiles for constrained decoding; else a 400 naming what it cannot enforce. */
    private static String checkedSchema(String schema, String param) {
        try {
            JsonSchemaCompiler.compile(schema);
            return schema;
        } catch (GrammarException e) {
            throw ApiError.badRequest("'" + param + "' cannot be enforced: " + e.getMessage(), param);
        }
    }

    /** vLLM's {@code chat_template_kwargs}: an object of extra template variables. */
    @SuppressWarnings("unchecked")
    private static java.util.Map<String, Object> templateKwargs(ObjectNode o) {
        JsonNode k = o.get("chat_template_kwargs");
        if (k == null || k.isNull()) return java.util.Map.of();
        if (!k.isObject()) throw ApiError.badRequest("'chat_template_kwargs' must be an object, got " + show(k), "chat_template_kwargs");
        return (java.util.Map<String, Object>) JinjaChatTemplate.fromJson(k);
    }

    /** The tools shown to the model, and the schema of the one call it must make (null unless forced). */
    private record Tools(List<Object> offered, String forcedSchema) {
    }

    /**
     * {@code tools} (function tools only) and {@code tool_choice}: {@code auto} (the default with tools) offers them,
     * {@code none} offers none; {@code required} and a named function force one call by constrained decoding: the
     * reply must be {@code {"name": .., "arguments": {..}}} with the arguments matching that function's parameters.
     */
    private static Tools tools(ObjectNode o) {
        JsonNode tools = o.get("tools");
        JsonNode choice = o.get("tool_choice");
        boolean none = tools == null || tools.isNull() || (tools.isArray() && tools.isEmpty());
        if (!none && !tools.isArray()) {
            throw ApiError.badRequest("'tools' must be an array, got " + show(tools), "tools");
        }
        List<Object> out = new ArrayList<>();
        java.util.Map<String, JsonNode> functions = new java.util.LinkedHashMap<>();
        for (int i = 0; !none && i < tools.size(); i++) {
            String at = "tools[" + i + "]";
            JsonNode t = tools.get(i);
            if (!t.isObject() || !"function".equals(t.path("type").asText(null))) {
                throw ApiError.badRequest("'" + at + "' must be an object with \"type\": \"function\", got " + show(t), at);
            }
            JsonNode f = t.get("function");
            if (f == null || !f.isObject()) {
                throw ApiError.badRequest("'" + at + ".function' must be an object, got " + show(f), at + ".function");
            }
            JsonNode name = f.get("name");
            if (name == null || !name.isTextual() || name.textValue().isEmpty()) {
                throw ApiError.badRequest("'" + at + ".function.name' must be a non-empty string, got " + show(name), at + ".function.name");
            }
            JsonNode params = f.get("parameters");
            if (params != null && !params.isNull() && !params.isObject()) {
                throw ApiError.badRequest("'" + at + ".function.parameters' must be a JSON Schema object, got " + show(params),
                        at + ".function.parameters");
            }
            functions.put(name.textValue(), params == null || params.isNull() ? MAPPER.createObjectNode().put("type", "object") : params);
            out.add(JinjaChatTemplate.fromJson(t));
        }
        if (choice == null || choice.isNull()) return new Tools(out, null);
        if (choice.isTextual()) {
            switch (choice.textValue()) {
                case "auto": return new Tools(out, null);
                case "none": return new Tools(List.of(), null);
                case "required":
                    if (functions.isEmpty()) {
                        throw ApiError.badRequest("'tool_choice' \"required\" needs at least one tool in 'tools'", "tool_choice");
                    }
                    return new Tools(out, callSchema(functions));
                default:
                    throw ApiError.badRequest("'tool_choice' must be \"none\", \"auto\", \"required\" or a function object, got "
                            + show(choice), "tool_choice");
            }
        }
        if (choice.isObject() && "function".equals(choice.path("type").asText(null)) && choice.path("function").path("name").isTextual()) {
            String name = choice.path("function").path("name").textValue();
            if (!functions.containsKey(name)) {
                throw ApiError.badRequest("'tool_choice' names function '" + name + "', which is not in 'tools'", "tool_choice");
            }
            return new Tools(out, callSchema(java.util.Map.of(name, functions.get(name))));
        }
        throw ApiError.badRequest("'tool_choice' must be \"none\", \"auto\", \"required\" or a function object, got " + show(choice),
                "tool_choice");
    }

    /**
     * The schema of one call to any of {@code functions}: {@code {"name": <const>, "arguments": <its parameters>}},
     * alternatives by name. Each function's {@code $defs} move to the root, where its references point.
     */
    private static String callSchema(java.util.Map<String, JsonNode> functions) {
        ObjectNode root = MAPPER.createObjectNode();
        com.fasterxml.jackson.databind.node.ArrayNode alternatives = root.putArray("anyOf");
        ObjectNode defs = MAPPER.createObjectNode();
        for (java.util.Map.Entry<String, JsonNode> e : functions.entrySet()) {
            ObjectNode params = ((ObjectNode) e.getValue()).deepCopy();
            for (String key : new String[] {"$defs", "definitions"}) {
                JsonNode d = params.remove(key);
                if (d == null) continue;
                if (!d.isObject()) throw ApiError.badRequest("'" + key + "' of function '" + e.getKey() + "' must be an object", "tools");
                ObjectNode into = key.equals("$defs") ? defs : root.with("definitions");
                d.fields().forEachRemaining(def -> {
                    JsonNode had = into.get(def.getKey());
                    if (had != null && !had.equals(def.getValue())) {
                        throw ApiError.badRequest("tools define '" + def.getKey() + "' differently in their '" + key
                                + "'; a forced tool call needs one meaning per name", "tools");
                    }
                    into.set(def.getKey(), def.getValue());
                });
            }
            ObjectNode call = alternatives.addObject();
            call.put("type", "object");
            ObjectNode props = call.putObject("properties");
            props.putObject("name").put("const", e.getKey());
            props.set("arguments", params);
            call.putArray("required").add("name").add("arguments");
            call.put("additionalProperties", false);
        }
        if (!defs.isEmpty()) root.set("$defs", defs);
        return checkedSchema(root.toString(), "tools");
    }

    private static List<ChatMessage> messages(ObjectNode o) {
        JsonNode ms = o.get("messages");
        if (ms == null || ms.isNull()) {
            throw ApiError.badRequest("'messages' is required", "messages");
        }
        if (!ms.isArray()) {
            throw ApiError.badRequest("'messages' must be an array, got " + show(ms), "messages");
        }
        if (ms.isEmpty()) {
            throw ApiError.badRequest("'messages' must contain at least one message", "messages");
        }
        List<ChatMessage> out = new ArrayList<>(ms.size());
        for (int i = 0; i < ms.size(); i++) {
            String at = "messages[" + i + "]";
            JsonNode m = ms.get(i);
            if (!m.isObject()) {
                throw ApiError.badRequest("'" + at + "' must be an object, got " + show(m), at);
            }
            JsonNode r = m.get("role");
            if (r == null || r.isNull()) {
                throw ApiError.badRequest("'" + at + ".role' is required", at + ".role");
            }
            String role = r.isTextual() ? r.textValue() : null;
            if (role == null || !(role.equals("system") || role.equals("user") || role.equals("assistant")
                    || role.equals("tool") || role.equals("developer") || role.equals("function"))) {
                throw ApiError.badRequest("'" + at + ".role' must be one of 'system', 'developer', 'user', "
                        + "'assistant', 'tool', 'function', got " + show(r), at + ".role");
            }
            if (role.equals("developer")) {
                role = "system";
            }
            // The legacy function-calling result ({"role":"function","name","content"}) is a tool result.
            if (role.equals("function")) {
                role = "tool";
            }
            List<ChatMessage.ToolCall> calls = role.equals("assistant") ? toolCalls(m.get("tool_calls"), at + ".tool_calls") : List.of();
            JsonNode content = m.get("content");
            String text = calls.isEmpty() || (content != null && !content.isNull()) ? content(content, role, at + ".content") : "";
            String toolCallId = role.equals("tool") ? optionalText(m, "tool_call_id", at) : null;
            out.add(new ChatMessage(role, text, calls, toolCallId, optionalText(m, "name", at)));
        }
        return out;
    }

    private static String optionalText(JsonNode m, String field, String at) {
        JsonNode v = m.get(field);
        if (v == null || v.isNull()) return null;
        if (!v.isTextual()) throw ApiError.badRequest("'" + at + "." + field + "' must be a string, got " + show(v), at + "." + field);
        return v.textValue();
    }

    /** An assistant message's {@code tool_calls}: function calls whose arguments are a JSON text. */
    private static List<ChatMessage.ToolCall> toolCalls(JsonNode calls, String at) {
        if (calls == null || calls.isNull()) return List.of();
        if (!calls.isArray()) throw ApiError.badRequest("'" + at + "' must be an array, got " + show(calls), at);
        List<ChatMessage.ToolCall> out = new ArrayList<>();
        for (int i = 0; i < calls.size(); i++) {
            String cat = at + "[" + i + "]";
            JsonNode c = calls.get(i);
            JsonNode f = c.get("function");
            if (!c.isObject() || f == null || !f.isObject() || !f.path("name").isTextual()) {
                throw ApiError.badRequest("'" + cat + "' must be {\"type\": \"function\", \"function\": {\"name\": ..., \"arguments\": ...}}, got "
                        + show(c), cat);
            }
            JsonNode args = f.get("arguments");
            String arguments = args == null || args.isNull() ? "{}" : args.isTextual() ? args.textValue() : args.toString();
            out.add(new ChatMessage.ToolCall(c.path("id").isTextual() ? c.get("id").textValue() : null, f.get("name").textValue(), arguments));
        }
        return out;
    }

    /** A message's content: a string or an array of text parts, concatenated without separators. */
    private static String content(JsonNode c, String role, String at) {
        if (c == null || c.isNull()) {
            if (role.equals("assistant")) {
                return ""; // OpenAI allows a null assistant content (e.g. beside tool calls)
            }
            throw ApiError.badRequest("'" + at + "' is required", at);
        }
        if (c.isTextual()) {
            return text(c.textValue(), at);
        }
        if (!c.isArray()) {
            throw ApiError.badRequest("'" + at + "' must be a string or an array of content parts, got " + show(c),
                    at);
        }
        StringBuilder sb = new StringBuilder();
        for (int j = 0; j < c.size(); j++) {
            String pat = at + "[" + j + "]";
            JsonNode part = c.get(j);
            if (!part.isObject()) {
                throw ApiError.badRequest("'" + pat + "' must be an object, got " + show(part), pat);
            }
            JsonNode type = part.get("type");
            if (type == null || !type.isTextual()) {
                throw ApiError.badRequest("'" + pat + ".type' must be a string, got " + show(type), pat + ".type");
            }
            if (!type.textValue().equals("text")) {
                throw ApiError.badRequest("content parts of type '" + type.textValue()
                        + "' are not supported; only 'text'", pat + ".type");
            }
            JsonNode t = part.get("text");
            if (t == null || !t.isTextual()) {
                throw ApiError.badRequest("'" + pat + ".text' must be a string, got " + show(t), pat + ".text");
            }
            sb.append(text(t.textValue(), pat + ".text"));
        }
        return sb.toString();
    }

    // ------------------------------------------------------------------ tokenize / detokenize

    /**
     * Parses a {@code POST /tokenize} body (vLLM's): {@code model}, and either {@code prompt} (a string;
     * {@code add_special_tokens} boolean, default true) or {@code messages} (as for chat, with optional
     * {@code tools} and {@code add_generation_prompt}, default true).
     */
    public static Tokenization.TokenizeRequest parseTokenize(byte[] body) {
        ObjectNode o = parseObject(body);
        String model = model(o);
        boolean hasPrompt = o.hasNonNull("prompt");
        boolean hasMessages = o.hasNonNull("messages");
        if (hasPrompt == hasMessages) {
            throw ApiError.badRequest(hasPrompt ? "give either 'prompt' or 'messages', not both" : "'prompt' or 'messages' is required",
                    hasPrompt ? "messages" : "prompt");
        }
        boolean addSpecial = bool(o, "add_special_tokens", true);
        boolean addGenerationPrompt = bool(o, "add_generation_prompt", true);
        if (hasPrompt) {
            JsonNode p = o.get("prompt");
            if (!p.isTextual()) throw ApiError.badRequest("'prompt' must be a string, got " + show(p), "prompt");
            return new Tokenization.TokenizeRequest(model, text(p.textValue(), "prompt"), null, List.of(), java.util.Map.of(), addSpecial,
                    addGenerationPrompt);
        }
        return new Tokenization.TokenizeRequest(model, null, messages(o), tools(o).offered(), templateKwargs(o), addSpecial, addGenerationPrompt);
    }

    /** Parses a {@code POST /detokenize} body: {@code model} and {@code tokens}, an array of non-negative integers. */
    public static Tokenization.DetokenizeRequest parseDetokenize(byte[] body) {
        ObjectNode o = parseObject(body);
        String model = model(o);
        JsonNode t = o.get("tokens");
        if (t == null || t.isNull()) throw ApiError.badRequest("'tokens' is required", "tokens");
        if (!t.isArray()) throw ApiError.badRequest("'tokens' must be an array of token ids, got " + show(t), "tokens");
        int[] ids = new int[t.size()];
        for (int i = 0; i < ids.length; i++) {
            Long v = integral(t.get(i));
            if (v == null || v < 0 || v > Integer.MAX_VALUE) {
                throw ApiError.badRequest("'tokens[" + i + "]' must be a non-negative integer, got " + show(t.get(i)), "tokens");
            }
            ids[i] = (int) (long) v;
        }
        return new Tokenization.DetokenizeRequest(model, ids);
    }

    // ------------------------------------------------------------------ embeddings

    /** Parses a {@code POST /v1/embeddings} body. */
    public static EmbeddingRequest parseEmbeddings(byte[] body) {
        ObjectNode o = parseObject(body);
        String model = model(o);
        JsonNode in = o.get("input");
        if (in == null || in.isNull()) {
            throw ApiError.badRequest("'input' is required", "input");
        }
        List<String> inputs = new ArrayList<>();
        if (in.isTextual()) {
            if (in.textValue().isEmpty()) {
                throw ApiError.badRequest("'input' must not be empty", "input");
            }
            inputs.add(text(in.textValue(), "input"));
        } else if (in.isArray()) {
            if (in.isEmpty()) {
                throw ApiError.badRequest("'input' must not be an empty array", "input");
            }
            JsonNode first = in.get(0);
            if (first.isNumber() || first.isArray()) {
                throw ApiError.badRequest("token arrays are not supported in 'input'; send strings", "input");
            }
            if (in.size() > MAX_EMBEDDING_INPUTS) {
                throw ApiError.badRequest("'input' must have at most " + MAX_EMBEDDING_INPUTS + " items, got "
                        + in.size(), "input");
            }
            for (int i = 0; i < in.size(); i++) {
                JsonNode s = in.get(i);
                if (!s.isTextual()) {
                    throw ApiError.badRequest("'input[" + i + "]' must be a string, got " + show(s), "input");
                }
                if (s.textValue().isEmpty()) {
                    throw ApiError.badRequest("'input[" + i + "]' must not be empty", "input");
                }
                inputs.add(text(s.textValue(), "input"));
            }
        } else {
            throw ApiError.badRequest("'input' must be a string or an array of strings, got " + show(in), "input");
        }
        String format = string(o, "encoding_format", "float");
        if (!format.equals("float") && !format.equals("base64")) {
            throw ApiError.badRequest("'encoding_format' must be 'float' or 'base64', got " + show(o.get(
                    "encoding_format")), "encoding_format");
        }
        JsonNode dims = o.get("dimensions");
        if (dims != null && !dims.isNull()) {
            throw ApiError.badRequest("'dimensions' is not supported", "dimensions");
        }
        string(o, "user", null);
        return new EmbeddingRequest(model, inputs, format.equals("base64"));
    }

    // ------------------------------------------------------------------ shared fields

    private record Common(boolean stream, boolean includeUsage, String user, int n) {
    }

    /** The fields completions and chat share; sets them on {@code b}. */
    private static Common common(ObjectNode o, SamplingParams.Builder b) {
        b.temperature((float) number(o, "temperature", 0, true, 2, true, 1, "between 0 and 2"));
        b.topP((float) number(o, "top_p", 0, false, 1, true, 1, "greater than 0 and at most 1"));
        b.presencePenalty((float) number(o, "presence_penalty", -2, true, 2, true, 0, "between -2 and 2"));
        b.frequencyPenalty((float) number(o, "frequency_penalty", -2, true, 2, true, 0, "between -2 and 2"));
        int n = intField(o, "n", 1, MAX_CHOICES, 1);
        b.stop(stop(o));
        JsonNode seed = o.get("seed");
        if (seed != null && !seed.isNull()) {
            Long v = integral(seed);
            if (v == null) {
                throw ApiError.badRequest("'seed' must be an integer, got " + show(seed), "seed");
            }
            b.seed(v.longValue());
        }
        JsonNode bias = o.get("logit_bias");
        if (bias != null && !bias.isNull()) {
            if (!bias.isObject()) {
                throw ApiError.badRequest("'logit_bias' must be an object, got " + show(bias), "logit_bias");
            }
            if (!bias.isEmpty()) {
                throw ApiError.badRequest("'logit_bias' is not supported", "logit_bias");
            }
        }
        boolean stream = bool(o, "stream", false);
        boolean includeUsage = false;
        JsonNode so = o.get("stream_options");
        if (so != null && !so.isNull()) {
            if (!stream) {
                throw ApiError.badRequest("'stream_options' is only allowed when 'stream' is true", "stream_options");
            }
            if (!so.isObject()) {
                throw ApiError.badRequest("'stream_options' must be an object, got " + show(so), "stream_options");
            }
            JsonNode iu = so.get("include_usage");
            if (iu != null && !iu.isNull()) {
                if (!iu.isBoolean()) {
                    throw ApiError.badRequest("'stream_options.include_usage' must be a boolean, got " + show(iu),
                            "stream_options.include_usage");
                }
                includeUsage = iu.booleanValue();
            }
        }
        String user = string(o, "user", null);

        // extensions
        int topK = intField(o, "top_k", -1, Integer.MAX_VALUE, 0);
        b.topK(Math.max(topK, 0));
        b.minP((float) number(o, "min_p", 0, true, 1, true, 0, "between 0 and 1"));
        b.repetitionPenalty((float) number(o, "repetition_penalty", 0, false, Float.MAX_VALUE, true, 1,
                "greater than 0"));
        b.ignoreEos(bool(o, "ignore_eos", false));
        return new Common(stream, includeUsage, user, n);
    }

    private static List<String> stop(ObjectNode o) {
        JsonNode s = o.get("stop");
        if (s == null || s.isNull()) {
            return List.of();
        }
        if (s.isTextual()) {
            if (s.textValue().isEmpty()) {
                throw ApiError.badRequest("'stop' strings must be non-empty", "stop");
            }
            return List.of(text(s.textValue(), "stop"));
        }
        if (!s.isArray()) {
            throw ApiError.badRequest("'stop' must be a string or an array of strings, got " + show(s), "stop");
        }
        if (s.size() > SamplingParams.MAX_STOP_STRINGS) {
            throw ApiError.badRequest("'stop' must have at most " + SamplingParams.MAX_STOP_STRINGS
                    + " strings, got " + s.size(), "stop");
        }
        List<String> out = new ArrayList<>(s.size());
        for (int i = 0; i < s.size(); i++) {
            JsonNode e = s.get(i);
            if (!e.isTextual()) {
                throw ApiError.badRequest("'stop[" + i + "]' must be a string, got " + show(e), "stop");
            }
            if (e.textValue().isEmpty()) {
                throw ApiError.badRequest("'stop' strings must be non-empty; 'stop[" + i + "]' is empty", "stop");
            }
            out.add(text(e.textValue(), "stop"));
        }
        return out;
    }

    /** {@code n} / {@code best_of}: only 1 (or absent) is supported. */
    private static void onlyOne(ObjectNode o, String field) {
        int n = intField(o, field, 1, Integer.MAX_VALUE, 1);
        if (n > 1) {
            throw ApiError.badRequest(field + " > 1 is not supported", field);
        }
    }

    private static String model(ObjectNode o) {
        JsonNode m = o.get("model");
        if (m == null || m.isNull()) {
            throw ApiError.badRequest("'model' is required", "model");
        }
        if (!m.isTextual()) {
            throw ApiError.badRequest("'model' must be a string, got " + show(m), "model");
        }
        if (m.textValue().isEmpty()) {
            throw ApiError.badRequest("'model' must not be empty", "model");
        }
        return m.textValue();
    }

    // ------------------------------------------------------------------ typed field readers

    private static double number(ObjectNode o, String field, double lo, boolean loIncl, double hi, boolean hiIncl,
                                 double dflt, String range) {
        JsonNode v = o.get(field);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (v.isNumber()) {
            double d = v.doubleValue();
            boolean ok = Double.isFinite(d) && (loIncl ? d >= lo : d > lo) && (hiIncl ? d <= hi : d < hi);
            if (ok) {
                return d;
            }
        }
        throw ApiError.badRequest("'" + field + "' must be a number " + range + ", got " + show(v), field);
    }

    private static int intField(ObjectNode o, String field, int min, int max, int dflt) {
        JsonNode v = o.get(field);
        if (v == null || v.isNull()) {
            return dflt;
        }
        Long l = integral(v);
        if (l != null && l >= min && l <= max) {
            return (int) l.longValue();
        }
        String range = max == Integer.MAX_VALUE ? ">= " + min : "between " + min + " and " + max;
        throw ApiError.badRequest("'" + field + "' must be an integer " + range + ", got " + show(v), field);
    }

    /** The value of an integral JSON number within the long range (16 and 16.0 both count), else null. */
    private static Long integral(JsonNode v) {
        if (!v.isNumber()) {
            return null;
        }
        if (v.isIntegralNumber()) {
            return v.canConvertToLong() ? v.longValue() : null;
        }
        // 1e309 parses as Infinity, which has no BigDecimal (decimalValue() threw: a 500); beyond the long range
        // it cannot be a valid value anyway.
        double approx = v.doubleValue();
        if (!Double.isFinite(approx) || Math.abs(approx) > 9.3e18) {
            return null;
        }
        try {
            BigDecimal d = v.decimalValue();
            return d.stripTrailingZeros().longValueExact();
        } catch (ArithmeticException | NumberFormatException e) {
            return null;
        }
    }

    private static boolean bool(ObjectNode o, String field, boolean dflt) {
        JsonNode v = o.get(field);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isBoolean()) {
            throw ApiError.badRequest("'" + field + "' must be a boolean, got " + show(v), field);
        }
        return v.booleanValue();
    }

    private static String string(ObjectNode o, String field, String dflt) {
        JsonNode v = o.get(field);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isTextual()) {
            throw ApiError.badRequest("'" + field + "' must be a string, got " + show(v), field);
        }
        return v.textValue();
    }

    /** Rejects unpaired surrogates (from JSON escapes); the tokenizer could not encode them. */
    private static String text(String s, String param) {
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            if (Character.isHighSurrogate(ch) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(ch)) {
                throw ApiError.badRequest("'" + param + "' contains an unpaired UTF-16 surrogate (\\u"
                        + Integer.toHexString(ch) + ") at index " + i, param);
            }
        }
        return s;
    }

    /** A JSON value for an error message, shortened. */
    private static String show(JsonNode v) {
        if (v == null) {
            return "nothing";
        }
        String s = v.toString();
        return s.length() > 60 ? s.substring(0, 57) + "..." : s;
    }

    private static SamplingParams build(SamplingParams.Builder b) {
        try {
            return b.build();
        } catch (IllegalArgumentException e) {
            throw ApiError.badRequest("invalid sampling parameters: " + e.getMessage(), null);
        }
    }

    // ------------------------------------------------------------------ body

    /** Strict UTF-8 decoding, then one JSON object and nothing after it. */
    static ObjectNode parseObject(byte[] body) {
        String text;
        try {
            CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT);
            CharBuffer cb = dec.decode(ByteBuffer.wrap(body == null ? new byte[0] : body));
            text = cb.toString();
        } catch (CharacterCodingException e) {
            throw ApiError.badRequest("request body is not valid UTF-8", null);
        }
        if (text.startsWith("\uFEFF")) {
            text = text.substring(1);
        }
        JsonNode root;
        try {
            root = MAPPER.readTree(text);
        } catch (JsonProcessingException e) {
            JsonLocation loc = e.getLocation();
            String where = loc == null ? "" : " (line " + loc.getLineNr() + ", column " + loc.getColumnNr() + ")";
            String msg = e.getOriginalMessage();
            int nl = msg == null ? -1 : msg.indexOf('\n');
            if (nl >= 0) {
                msg = msg.substring(0, nl);
            }
            throw ApiError.badRequest("request body is not valid JSON: " + msg + where, null);
        } catch (IOException e) {
            throw ApiError.badRequest("request body is not valid JSON: " + e.getMessage(), null);
        }
        if (root == null || root.isMissingNode()) {
            throw ApiError.badRequest("request body is empty; expected a JSON object", null);
        }
        if (!root.isObject()) {
            throw ApiError.badRequest("request body must be a JSON object, got " + root.getNodeType()
                    .name().toLowerCase(Locale.ROOT), null);
        }
        return (ObjectNode) root;
    }
}
