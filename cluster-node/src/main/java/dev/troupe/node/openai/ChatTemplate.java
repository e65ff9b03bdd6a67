package dev.troupe.node.openai;

import java.util.List;
import java.util.Objects;

/**
 * Turns a chat conversation into prompt text for a model, in the format its GGUF
 * {@code tokenizer.chat_template} describes. We do not run Jinja: {@link #fromGguf} recognises the common
 * families by markers in the template source and renders them with fixed code. Every rendering ends where
 * the assistant's reply starts (Hugging Face's {@code add_generation_prompt=True}).
 *
 * <p>The beginning-of-sequence token is added by the tokenizer, not by the template, so a template's leading
 * BOS text ({@code <|begin_of_text|>}, {@code <s>}) is left out. Special-token texts inside the prompt
 * ({@code <|im_start|>}, {@code <|eot_id|>}, the {@code <s>} between Llama 2 turns, ...) must be tokenized as
 * the special tokens.
 *
 * <p>Families ({@link #name()}):
 * <ul>
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
 * tool message's role is written as {@code tool}.
 */
public final class ChatTemplate {
    private enum Family { CHATML, LLAMA3, LLAMA2, MISTRAL, PLAIN }

    public static final ChatTemplate CHATML = new ChatTemplate(Family.CHATML);
    public static final ChatTemplate LLAMA3 = new ChatTemplate(Family.LLAMA3);
    public static final ChatTemplate LLAMA2 = new ChatTemplate(Family.LLAMA2);
    public static final ChatTemplate MISTRAL = new ChatTemplate(Family.MISTRAL);
    public static final ChatTemplate PLAIN = new ChatTemplate(Family.PLAIN);

    private final Family family;

    private ChatTemplate(Family family) {
        this.family = family;
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

    /** {@code chatml}, {@code llama3}, {@code llama2}, {@code mistral} or {@code plain}. */
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
        Objects.requireNonNull(messages, "messages");
        StringBuilder sb = new StringBuilder();
        switch (family) {
            case CHATML -> {
                for (ChatMessage m : messages) {
                    sb.append("<|im_start|>").append(m.role()).append('\n').append(m.content()).append("<|im_end|>\n");
                }
                sb.append("<|im_start|>assistant\n");
            }
            case LLAMA3 -> {
                for (ChatMessage m : messages) {
                    sb.append("<|start_header_id|>").append(m.role()).append("<|end_header_id|>\n\n")
                            .append(m.content().strip()).append("<|eot_id|>");
                }
                sb.append("<|start_header_id|>assistant<|end_header_id|>\n\n");
            }
            case LLAMA2 -> renderInst(messages, sb, true);
            case MISTRAL -> renderInst(messages, sb, false);
            case PLAIN -> {
                for (ChatMessage m : messages) {
                    sb.append(plainRole(m.role())).append(": ").append(m.content()).append("\n\n");
                }
                sb.append("Assistant:");
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
