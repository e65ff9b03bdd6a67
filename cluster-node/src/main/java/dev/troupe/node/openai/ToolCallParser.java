package dev.troupe.node.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds tool calls in a model's finished output, in the form its chat template taught it
 * ({@link ChatTemplate.ToolCallFormat}), and turns them into OpenAI {@code tool_calls}:
 * <ul>
 *   <li>{@code QWEN_XML} (Qwen2.5, Qwen3, Hermes): each {@code <tool_call>{"name": .., "arguments": {..}}</tool_call>}
 *       block is a call; the text outside the blocks, trimmed, is the message content (null when empty).</li>
 *   <li>{@code LLAMA3_JSON} (Llama 3.1+): the whole output (after an optional {@code <|python_tag|>}) is one JSON
 *       object {@code {"name": .., "parameters": {..}}} ({@code "arguments"} accepted too), or several separated
 *       by {@code ;}; content is null.</li>
 * </ul>
 * All or nothing: when any would-be call is not valid JSON with a string {@code name} and object arguments, the
 * output is returned as plain content, so a model that merely talks about tools is not misread.
 */
public final class ToolCallParser {
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    private static final Pattern QWEN_BLOCK = Pattern.compile("<tool_call>(.*?)</tool_call>", Pattern.DOTALL);
    private static final SecureRandom IDS = new SecureRandom();

    private ToolCallParser() {}

    /** The message content (null when none) and the calls (empty when the output holds none). */
    public record Parsed(String content, List<ChatMessage.ToolCall> calls) {
        public boolean hasCalls() {
            return !calls.isEmpty();
        }
    }

    public static Parsed parse(String text, ChatTemplate.ToolCallFormat format) {
        Parsed none = new Parsed(text, List.of());
        switch (format) {
            case QWEN_XML -> {
                Matcher m = QWEN_BLOCK.matcher(text);
                List<ChatMessage.ToolCall> calls = new ArrayList<>();
                StringBuilder content = new StringBuilder();
                int last = 0;
                while (m.find()) {
                    ChatMessage.ToolCall c = call(m.group(1).strip(), "arguments");
                    if (c == null) return none;
                    calls.add(c);
                    content.append(text, last, m.start());
                    last = m.end();
                }
                if (calls.isEmpty()) return none;
                content.append(text.substring(last));
                String rest = content.toString().strip();
                return new Parsed(rest.isEmpty() ? null : rest, calls);
            }
            case LLAMA3_JSON -> {
                String s = text.strip();
                if (s.startsWith("<|python_tag|>")) s = s.substring("<|python_tag|>".length()).strip();
                if (!s.startsWith("{")) return none;
                List<ChatMessage.ToolCall> calls = new ArrayList<>();
                for (String part : splitTopLevel(s)) {
                    ChatMessage.ToolCall c = call(part.strip(), "parameters");
                    if (c == null) return none;
                    calls.add(c);
                }
                return calls.isEmpty() ? none : new Parsed(null, calls);
            }
            default -> {
                return none;
            }
        }
    }

    /** One call from a JSON object with a string name and object arguments (under argsKey or "arguments"), or null. */
    private static ChatMessage.ToolCall call(String json, String argsKey) {
        JsonNode n;
        try {
            n = JSON.readTree(json);
        } catch (IOException e) {
            return null;
        }
        if (n == null || !n.isObject() || !n.path("name").isTextual() || n.get("name").textValue().isEmpty()) return null;
        JsonNode args = n.has(argsKey) ? n.get(argsKey) : n.get("arguments");
        if (args == null || args.isNull()) args = JSON.createObjectNode();
        if (args.isTextual()) { // some models write the arguments as a JSON string
            try {
                args = JSON.readTree(args.textValue());
            } catch (IOException e) {
                return null;
            }
        }
        if (!(args instanceof ObjectNode)) return null;
        return new ChatMessage.ToolCall(newId(), n.get("name").textValue(), args.toString());
    }

    /** Splits "{..}; {..}" at semicolons outside JSON strings and brackets. */
    private static List<String> splitTopLevel(String s) {
        List<String> out = new ArrayList<>();
        int depth = 0, from = 0;
        boolean inString = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (inString) {
                if (c == '\\') i++;
                else if (c == '"') inString = false;
            } else if (c == '"') {
                inString = true;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                depth--;
            } else if (c == ';' && depth == 0) {
                out.add(s.substring(from, i));
                from = i + 1;
            }
        }
        if (!s.substring(from).isBlank()) out.add(s.substring(from));
        return out;
    }

    static String newId() {
        byte[] b = new byte[12];
        IDS.nextBytes(b);
        return "call_" + HexFormat.of().formatHex(b);
    }
}
