package dev.troupe.node.openai;

import dev.troupe.engine.tokenizer.PromptSegment;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Keeps special-token texts in request strings from becoming special tokens once a chat template has mixed them
 * into its own text. Before rendering, every special-token text in a request string (and the escape character
 * itself) is replaced by a private-use escape sequence; the template moves those around like any other
 * characters (they are not whitespace, have no case, are printed as they are by tojson); after rendering,
 * {@link #segments} cuts the output there: everything else is template text (special tokens recognised), each
 * escape becomes user content with the original text (never a special token).
 *
 * <p>One instance per rendering (it remembers which texts it replaced).
 */
final class SpecialTextGuard {
    static final char ESC = '\uE000';
    private static final char FIRST_INDEX = '\uE001';
    private static final int MAX_INDEX = '\uF8FF' - FIRST_INDEX;

    private final Map<Character, List<String>> byFirstChar = new HashMap<>();
    private final Map<String, Integer> indexOf = new LinkedHashMap<>();
    private final List<String> texts = new ArrayList<>();

    SpecialTextGuard(Collection<String> specialTexts) {
        for (String t : specialTexts) {
            if (!t.isEmpty()) byFirstChar.computeIfAbsent(t.charAt(0), k -> new ArrayList<>()).add(t);
        }
        for (List<String> l : byFirstChar.values()) l.sort((a, b) -> Integer.compare(b.length(), a.length()));
    }

    /** The string with special-token texts and escape characters replaced by escape sequences. */
    String defuse(String s) {
        StringBuilder out = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            String hit = null;
            if (c == ESC) {
                hit = String.valueOf(ESC);
            } else {
                List<String> cands = byFirstChar.get(c);
                if (cands != null) for (String t : cands) if (s.startsWith(t, i)) { hit = t; break; }
            }
            if (hit == null) {
                if (out != null) out.append(c);
                continue;
            }
            if (out == null) out = new StringBuilder(s.length() + 8).append(s, 0, i);
            out.append(ESC);
            if (c == ESC) {
                out.append(ESC);
            } else {
                Integer k = indexOf.get(hit);
                if (k == null) {
                    if (texts.size() > MAX_INDEX) throw ApiError.badRequest("too many distinct special-token texts in the request", "messages");
                    k = texts.size();
                    texts.add(hit);
                    indexOf.put(hit, k);
                }
                out.append((char) (FIRST_INDEX + k));
            }
            i += hit.length() - 1;
        }
        return out == null ? s : out.toString();
    }

    /** JSON-like values with every string defused (maps keep their order). */
    Object defuseValues(Object v) {
        if (v instanceof String s) return defuse(s);
        if (v instanceof Map<?, ?> m) {
            Map<String, Object> out = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : m.entrySet()) out.put(String.valueOf(e.getKey()), defuseValues(e.getValue()));
            return out;
        }
        if (v instanceof List<?> l) {
            List<Object> out = new ArrayList<>(l.size());
            for (Object o : l) out.add(defuseValues(o));
            return out;
        }
        return v;
    }

    /** The rendered prompt cut into template text and the user's special-token texts. */
    List<PromptSegment> segments(String rendered) {
        List<PromptSegment> out = new ArrayList<>();
        StringBuilder template = new StringBuilder();
        for (int i = 0; i < rendered.length(); i++) {
            char c = rendered.charAt(i);
            if (c != ESC || i + 1 == rendered.length()) {
                template.append(c);
                continue;
            }
            char k = rendered.charAt(++i);
            String text = k == ESC ? String.valueOf(ESC) : k - FIRST_INDEX < texts.size() && k >= FIRST_INDEX ? texts.get(k - FIRST_INDEX) : null;
            if (text == null) { // not one of ours (a template that cut an escape apart): keep the characters as text
                out.add(PromptSegment.template(template.toString()));
                template.setLength(0);
                out.add(PromptSegment.content(String.valueOf(c) + k));
                continue;
            }
            if (template.length() > 0) out.add(PromptSegment.template(template.toString()));
            template.setLength(0);
            out.add(PromptSegment.content(text));
        }
        if (template.length() > 0) out.add(PromptSegment.template(template.toString()));
        return out;
    }

    /** The rendered prompt as plain text, escapes restored. */
    static String text(List<PromptSegment> segments) {
        StringBuilder sb = new StringBuilder();
        for (PromptSegment s : segments) sb.append(s.text());
        return sb.toString();
    }
}
