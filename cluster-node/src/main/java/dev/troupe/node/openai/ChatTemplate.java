package dev.troupe.node.openai;

import dev.troupe.engine.tokenizer.PromptSegment;
import dev.troupe.engine.tokenizer.Tokenizer;

import java.util.List;
import java.util.Objects;

/**
 * Turns a chat conversation into a prompt for a model. A model whose GGUF carries a {@code tokenizer.chat_template}
 * gets it rendered with Jinja ({@link #forModel}, {@link JinjaChatTemplate}), as Hugging Face and vLLM do, with
 * {@code messages}, {@code tools}, {@code add_generation_prompt}, {@code bos_token} and {@code eos_token}.
 * The result is a list of {@link PromptSegment}s: special-token texts the template wrote are special tokens,
 * the same texts inside request strings stay text ({@link SpecialTextGuard}).
 *
 * <p>Fallback, for a model without a template or with one Jinjava cannot render ({@link #fromGguf}): the
 * hand-written formats below, recognised by markers in the template source. Every rendering ends where the
 * assistant's reply starts (Hugging Face's {@code add_generation_prompt=True}).
 *
 * <p>The beginning-of-sequence token is added by the tokenizer, not by these hand-written formats, so a
 * template's leading BOS text ({@code <|begin_of_text|>}, {@code <s>}) is left out.
 *
 * <p>Families ({@link #name()}):
 * <ul>
 *   <li>{@code jinja}: the model's own template.</li>
 *   <li>{@code chatml} (marker {@code <|im_start|>}; Qwen, SmolLM, ...): {@code <|im_start|>ROLE\nCONTENT<|im_end|>\n}
 *       per message, then {@code <|im_start|>assistant\n}. No default system prompt is injected.</li>
 *   <li>{@code llama3} (marker {@code <|start_header_id|>}):
 *       {@code <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|>} per message (content trimmed),
 *       then {@code <|start_header_id|>assistant<|end_header_id|>\n\n}. The Llama 3.1+ date/tool preamble
 *       is not added.</li>
 *   <li>{@code llama2} (markers {@code [INST]} and {@code <<SYS>>}): {@code [INST] <<SYS>>\nSYSTEM\n<</SYS>>\n\nUSER [/INST]}
 *       then {@code  ASSISTANT </s>} and {@code <s>[INST] USER [/INST]} for later turns (contents trimmed).</li>
 *   <li>{@code mistral} (marker {@code [INST]} without {@code <<SYS>>}): {@code [INST] USER [/INST]} then
 *       {@code ASSISTANT</s>}; system messages are joined (blank line between) and put before the first
 *       user message's text, followed by a blank line.</li>
 *   <li>{@code plain} (no template, or one we do not recognise; suits small base models): each message as
 *       {@code Role: CONTENT} ({@code System}, {@code User}, {@code Assistant}, {@code Tool}), messages
 *       separated by a blank line, ending with {@code \n\nAssistant:} (no trailing space, so the model's
 *       first token carries its own leading space). {@link #stopStrings()} suggests {@code "\nUser:"} so the
 *       model does not write the user's next turn.</li>
 * </ul>
 * In the {@code [INST]} families a {@code tool} message is treated as a user message, and there is no
 * generation prompt of its own: the assistant's reply starts right after the last {@code [/INST]} (a
 * conversation ending with an assistant message ends with that message's {@code </s>}). In the others a
 * tool message's role is written as {@code tool}. Only {@code jinja} templates that use {@code tools} take tools.
 */
public final class ChatTemplate {
    private enum Family { CHATML, LLAMA3, LLAMA2, MISTRAL, PLAIN, JINJA }

    /** How a model writes tool calls in its output, as its template teaches it. */
    public enum ToolCallFormat {
        /** No tool calls expected. */
        NONE,
        /** Qwen2.5/Qwen3 (Hermes style): {@code <tool_call>{"name": .., "arguments": {..}}</tool_call>}. */
        QWEN_XML,
        /** Llama 3.1+: a JSON object {@code {"name": .., "parameters": {..}}}, optionally after {@code <|python_tag|>}. */
        LLAMA3_JSON
    }

    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(ChatTemplate.class);
    /** What the end-of-turn probe puts in the assistant's reply. */
    private static final String PROBE_REPLY = "TroupeProbeReply";

    public static final ChatTemplate CHATML = new ChatTemplate(Family.CHATML);
    public static final ChatTemplate LLAMA3 = new ChatTemplate(Family.LLAMA3);
    public static final ChatTemplate LLAMA2 = new ChatTemplate(Family.LLAMA2);
    public static final ChatTemplate MISTRAL = new ChatTemplate(Family.MISTRAL);
    public static final ChatTemplate PLAIN = new ChatTemplate(Family.PLAIN);

    private final Family family;
    private final JinjaChatTemplate jinja;
    private final String bosText;
    private final String eosText;
    private final int[] endOfTurn;

    private ChatTemplate(Family family) {
        this(family, null, "", "", new int[0]);
    }

    private ChatTemplate(Family family, JinjaChatTemplate jinja, String bosText, String eosText, int[] endOfTurn) {
        this.family = family;
        this.jinja = jinja;
        this.bosText = bosText;
        this.eosText = eosText;
        this.endOfTurn = endOfTurn;
    }

    /**
     * The chat format for a model: its own Jinja template when it has one that renders (checked by rendering a
     * probe conversation), else the hand-written fallback of {@link #fromGguf}. The template's end-of-turn
     * token, the special token it writes right after an assistant reply ({@code <|eot_id|>}, {@code <|im_end|>},
     * {@code </s>}), is found by that probe; see {@link #endOfTurnTokens()}.
     */
    public static ChatTemplate forModel(String templateOrNull, Tokenizer tokenizer) {
        if (templateOrNull == null || templateOrNull.isBlank()) return PLAIN;
        String bos = tokenizer.bos() >= 0 ? tokenizer.tokenText(tokenizer.bos()) : "";
        String eos = tokenizer.eos() >= 0 ? tokenizer.tokenText(tokenizer.eos()) : "";
        JinjaChatTemplate j;
        String probe = null;
        RuntimeException failure = null;
        try {
            j = new JinjaChatTemplate(templateOrNull);
        } catch (RuntimeException e) {
            j = null;
            failure = e;
        }
        // Templates may insist on a system message, or on ending with a user turn: the first probe that
        // renders decides. Only one with an assistant reply shows the end-of-turn token.
        List<List<ChatMessage>> probes = List.of(
                List.of(new ChatMessage("user", "Hello"), new ChatMessage("assistant", PROBE_REPLY)),
                List.of(new ChatMessage("system", "S"), new ChatMessage("user", "Hello"), new ChatMessage("assistant", PROBE_REPLY)),
                List.of(new ChatMessage("user", "Hello")));
        for (int i = 0; j != null && i < probes.size() && probe == null; i++) {
            try {
                probe = j.render(context(probes.get(i), List.of(), i == probes.size() - 1, bos, eos, null));
            } catch (RuntimeException e) {
                failure = e;
            }
        }
        if (probe == null) {
            ChatTemplate fallback = fromGguf(templateOrNull);
            log.warn("the model's chat template cannot be rendered here ({}); using the hand-written '{}' format instead",
                    failure == null ? "no output" : failure.getMessage(), fallback.name());
            return fallback;
        }
        return new ChatTemplate(Family.JINJA, j, bos, eos, endOfTurnAfterProbe(probe, tokenizer));
    }

    /**
     * A model's tokenizer as a replica runs it: the GGUF's, also stopping at its chat template's end-of-turn
     * tokens, so a chat reply ends where the template ends an assistant turn even when the GGUF names no eot.
     */
    public static Tokenizer modelTokenizer(dev.troupe.engine.gguf.GgufFile f) throws dev.troupe.engine.gguf.GgufFormatException {
        Tokenizer t = Tokenizer.fromGguf(f);
        String template = f.has("tokenizer.chat_template") ? f.getString("tokenizer.chat_template") : null;
        return Tokenizer.withEndOfGeneration(t, forModel(template, t).endOfTurnTokens());
    }

    /** The special token the template writes right after the probe reply (whitespace before it allowed), if any. */
    private static int[] endOfTurnAfterProbe(String probe, Tokenizer tokenizer) {
        int at = probe.lastIndexOf(PROBE_REPLY);
        if (at < 0) return new int[0];
        at += PROBE_REPLY.length();
        while (at < probe.length() && Character.isWhitespace(probe.charAt(at))) at++;
        String best = null;
        for (String t : tokenizer.specialTokenTexts()) {
            if (probe.startsWith(t, at) && (best == null || t.length() > best.length())) best = t;
        }
        return best == null ? new int[0] : new int[]{tokenizer.specialTokenId(best)};
    }

    /** The Jinja context for a conversation (strings already guarded when a guard is given). */
    private static java.util.Map<String, Object> context(List<ChatMessage> messages, List<Object> tools, boolean addGenerationPrompt,
                                                         String bos, String eos, SpecialTextGuard guard) {
        List<Object> ms = new java.util.ArrayList<>();
        for (ChatMessage m : messages) {
            java.util.Map<String, Object> o = new java.util.LinkedHashMap<>();
            o.put("role", m.role());
            o.put("content", m.content());
            if (m.name() != null) o.put("name", m.name());
            if (m.toolCallId() != null) o.put("tool_call_id", m.toolCallId());
            if (!m.toolCalls().isEmpty()) {
                List<Object> calls = new java.util.ArrayList<>();
                for (ChatMessage.ToolCall c : m.toolCalls()) {
                    java.util.Map<String, Object> f = new java.util.LinkedHashMap<>();
                    f.put("name", c.name());
                    // templates write arguments with tojson (Llama 3.1) or as given when a string (Qwen): give them
                    // the object when the text is one, as vLLM does
                    f.put("arguments", argumentsValue(c.arguments()));
                    java.util.Map<String, Object> call = new java.util.LinkedHashMap<>();
                    if (c.id() != null) call.put("id", c.id());
                    call.put("type", "function");
                    call.put("function", f);
                    calls.add(call);
                }
                o.put("tool_calls", calls);
            }
            ms.add(o);
        }
        java.util.Map<String, Object> ctx = new java.util.HashMap<>();
        ctx.put("messages", guard == null ? ms : guard.defuseValues(ms));
        if (!tools.isEmpty()) ctx.put("tools", guard == null ? tools : guard.defuseValues(tools));
        ctx.put("add_generation_prompt", addGenerationPrompt);
        ctx.put("bos_token", bos);
        ctx.put("eos_token", eos);
        return ctx;
    }

    private static Object argumentsValue(String json) {
        try {
            com.fasterxml.jackson.databind.JsonNode n = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json);
            if (n != null && n.isObject()) return JinjaChatTemplate.fromJson(n);
        } catch (java.io.IOException | RuntimeException e) {
            // not JSON: the template gets the text
        }
        return json;
    }

    /**
     * The prompt for a conversation as segments: template text (special tokens recognised) and the request's own
     * special-token spellings as content (never special tokens).
     *
     * @param tools               the request's tools (JSON-like values); must be empty unless {@link #acceptsTools()}
     * @param addGenerationPrompt whether to end where the assistant's reply starts
     * @param specialTexts        the tokenizer's {@link Tokenizer#specialTokenTexts()}
     * @throws ApiError 400 when the template refuses the conversation ({@code raise_exception}) or cannot render it,
     *                  or tools are given to a template that does not take them
     */
    public List<PromptSegment> segments(List<ChatMessage> messages, List<Object> tools, boolean addGenerationPrompt,
                                        java.util.Set<String> specialTexts) {
        return segments(messages, tools, java.util.Map.of(), addGenerationPrompt, specialTexts);
    }

    /**
     * As above, with extra template variables (vLLM's {@code chat_template_kwargs}, e.g. Qwen3's
     * {@code enable_thinking}); they cannot replace {@code messages}, {@code tools}, {@code add_generation_prompt},
     * {@code bos_token} or {@code eos_token}, and the hand-written formats ignore them.
     */
    public List<PromptSegment> segments(List<ChatMessage> messages, List<Object> tools, java.util.Map<String, Object> templateKwargs,
                                        boolean addGenerationPrompt, java.util.Set<String> specialTexts) {
        if (!tools.isEmpty() && !acceptsTools()) {
            throw ApiError.badRequest("this model's chat template does not take tools (the model was not trained to call them)", "tools");
        }
        SpecialTextGuard guard = new SpecialTextGuard(specialTexts);
        String rendered;
        if (family == Family.JINJA) {
            try {
                java.util.Map<String, Object> ctx = new java.util.HashMap<>();
                for (java.util.Map.Entry<String, Object> e : templateKwargs.entrySet()) ctx.put(e.getKey(), guard.defuseValues(e.getValue()));
                ctx.putAll(context(messages, tools, addGenerationPrompt, bosText, eosText, guard));
                rendered = jinja.render(ctx);
            } catch (JinjaChatTemplate.TemplateException e) {
                throw ApiError.badRequest("the model's chat template refused this conversation: " + e.getMessage(), "messages");
            }
        } else {
            List<ChatMessage> guarded = new java.util.ArrayList<>();
            for (ChatMessage m : messages) {
                guarded.add(new ChatMessage(m.role(), guard.defuse(m.content()), m.toolCalls(), m.toolCallId(), m.name()));
            }
            rendered = render(guarded, addGenerationPrompt);
        }
        return guard.segments(rendered);
    }

    /** Whether tools can be rendered: a Jinja template that refers to {@code tools}. */
    public boolean acceptsTools() {
        return family == Family.JINJA && jinja.source().contains("tools");
    }

    /** How this model writes tool calls, judged by its template's source. */
    public ToolCallFormat toolCallFormat() {
        if (family != Family.JINJA) return ToolCallFormat.NONE;
        String src = jinja.source();
        if (src.contains("<tool_call>")) return ToolCallFormat.QWEN_XML;
        if (src.contains("<|python_tag|>") || src.contains("ipython")) return ToolCallFormat.LLAMA3_JSON;
        return ToolCallFormat.NONE;
    }

    /**
     * The template's end-of-turn tokens (what it writes after an assistant reply), to stop generation at besides
     * the tokenizer's own end tokens; empty for the hand-written formats (their turn ends are the GGUF's eos/eot).
     */
    public int[] endOfTurnTokens() {
        return endOfTurn.clone();
    }

    /**
     * The template for a GGUF {@code tokenizer.chat_template} (Jinja source), or {@link #PLAIN} when it is null,
     * blank or not recognised. Markers are checked in the order ChatML, Llama 3, {@code [INST]}.
     */
    public static ChatTemplate fromGguf(String templateOrNull) {
        if (templateOrNull == null || templateOrNull.isBlank()) {
            return PLAIN;
        }
        if (templateOrNull.contains("<|im_start|>")) {
            return CHATML;
        }
        if (templateOrNull.contains("<|start_header_id|>")) {
            return LLAMA3;
        }
        if (templateOrNull.contains("[INST]")) {
            return templateOrNull.contains("<<SYS>>") ? LLAMA2 : MISTRAL;
        }
        return PLAIN;
    }

    /** {@code jinja}, {@code chatml}, {@code llama3}, {@code llama2}, {@code mistral} or {@code plain}. */
    public String name() {
        return family.name().toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * Stop strings worth adding to a chat request for this format: {@code ["\nUser:"]} for {@code plain}, none
     * for the others (their end-of-turn tokens are end-of-generation tokens).
     */
    public List<String> stopStrings() {
        return family == Family.PLAIN ? List.of("\nUser:") : List.of();
    }

    /** The prompt text for {@code messages}, ending where the assistant's reply starts. */
    public String render(List<ChatMessage> messages) {
        if (family == Family.JINJA) {
            return SpecialTextGuard.text(segments(messages, List.of(), true, java.util.Set.of()));
        }
        return render(messages, true);
    }

    /** The hand-written formats; without a generation prompt the text ends after the last message. */
    private String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        Objects.requireNonNull(messages, "messages");
        StringBuilder sb = new StringBuilder();
        switch (family) {
            case JINJA -> throw new IllegalStateException("jinja renders through segments()");
            case CHATML -> {
                for (ChatMessage m : messages) {
                    sb.append("<|im_start|>").append(m.role()).append('\n').append(m.content()).append("<|im_end|>\n");
                }
                if (addGenerationPrompt) sb.append("<|im_start|>assistant\n");
            }
            case LLAMA3 -> {
                for (ChatMessage m : messages) {
                    sb.append("<|start_header_id|>").append(m.role()).append("<|end_header_id|>\n\n")
                            .append(m.content().strip()).append("<|eot_id|>");
                }
                if (addGenerationPrompt) sb.append("<|start_header_id|>assistant<|end_header_id|>\n\n");
            }
            case LLAMA2 -> renderInst(messages, sb, true);
            case MISTRAL -> renderInst(messages, sb, false);
            case PLAIN -> {
                for (ChatMessage m : messages) {
                    sb.append(plainRole(m.role())).append(": ").append(m.content()).append("\n\n");
                }
                if (addGenerationPrompt) sb.append("Assistant:");
                else if (sb.length() >= 2) sb.setLength(sb.length() - 2);
            }
        }
        return sb.toString();
    }

    /** Llama 2 and Mistral: system text goes into the first user turn; an assistant turn closes with EOS. */
    private static void renderInst(List<ChatMessage> messages, StringBuilder sb, boolean llama2) {
        StringBuilder system = new StringBuilder();
        for (ChatMessage m : messages) {
            if (m.role().equals("system")) {
                if (system.length() > 0) {
                    system.append("\n\n");
                }
                system.append(llama2 ? m.content().strip() : m.content());
            }
        }
        boolean systemPending = system.length() > 0;
        boolean first = true;
        for (ChatMessage m : messages) {
            if (m.role().equals("system")) {
                continue;
            }
            if (m.role().equals("assistant")) {
                if (llama2) {
                    sb.append(' ').append(m.content().strip()).append(" </s>");
                } else {
                    sb.append(m.content()).append("</s>");
                }
                first = false;
                continue;
            }
            // user or tool
            String content = llama2 ? m.content().strip() : m.content();
            if (systemPending) {
                content = llama2 ? "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + content : system + "\n\n" + content;
                systemPending = false;
            }
            if (llama2 && !first) {
                sb.append("<s>");
            }
            sb.append("[INST] ").append(content).append(" [/INST]");
            first = false;
        }
        if (systemPending) {
            // only system messages: give them a turn of their own
            String content = llama2 ? "<<SYS>>\n" + system + "\n<</SYS>>\n\n" : system.toString();
            sb.append("[INST] ").append(content).append(" [/INST]");
        }
    }

    private static String plainRole(String role) {
        return switch (role) {
            case "system" -> "System";
            case "user" -> "User";
            case "assistant" -> "Assistant";
            case "tool" -> "Tool";
            default -> role.isEmpty() ? role : Character.toUpperCase(role.charAt(0)) + role.substring(1);
        };
    }

    @Override
    public String toString() {
        return "ChatTemplate[" + name() + "]";
    }
}
