package dev.troupe.node.openai;

import java.util.List;

/**
 * Streams a reply that may contain tool calls: text goes out as it comes, except what could be the start of a
 * call, which is held back until the reply ends and {@link ToolCallParser} decides. For Qwen's
 * {@code <tool_call>} form, text before the first tag streams (a tail that could begin the tag waits for the
 * next token); for Llama 3.1's JSON form, a reply that starts with {@code {} (or is only whitespace so far) is
 * held whole, any other streams as plain text. One instance per reply; not thread-safe.
 */
public final class ToolCallStream {
    private static final String QWEN_OPEN = "<tool_call>";

    private final ChatTemplate.ToolCallFormat format;
    private int sent;
    private boolean holding;

    public ToolCallStream(ChatTemplate.ToolCallFormat format) {
        this.format = format;
    }

    /** The content that may be sent now, given the reply's whole text so far ("" when nothing new). */
    public String push(String text) {
        if (holding) return "";
        int upTo = text.length();
        switch (format) {
            case QWEN_XML -> {
                int tag = text.indexOf(QWEN_OPEN, Math.max(0, sent - QWEN_OPEN.length()));
                if (tag >= 0) {
                    holding = true;
                    upTo = tag;
                } else {
                    upTo = text.length() - partialPrefix(text, QWEN_OPEN);
                }
            }
            case LLAMA3_JSON -> {
                String s = text.stripLeading();
                if (sent == 0 && (s.isEmpty() || s.startsWith("{") || s.startsWith("<|python_tag|>"))) {
                    if (!s.isEmpty()) holding = true;
                    return "";
                }
            }
            default -> { }
        }
        if (upTo <= sent) return "";
        String out = text.substring(sent, upTo);
        sent = upTo;
        return out;
    }

    /**
     * At the reply's end: the calls found in the whole text, and the content not sent yet (null when none).
     * With calls, the held text is their markup and is not sent; without, all of it is content.
     */
    public End finish(String text) {
        ToolCallParser.Parsed parsed = ToolCallParser.parse(text, format);
        if (!parsed.hasCalls()) {
            String rest = sent < text.length() ? text.substring(sent) : null;
            return new End(rest, List.of());
        }
        return new End(null, parsed.calls());
    }

    /** What is left to send when the reply ends. */
    public record End(String content, List<ChatMessage.ToolCall> calls) {}

    /** The length of the longest suffix of text that is a proper prefix of tag. */
    static int partialPrefix(String text, String tag) {
        for (int n = Math.min(tag.length() - 1, text.length()); n > 0; n--) {
            if (text.regionMatches(text.length() - n, tag, 0, n)) return n;
        }
        return 0;
    }
}
