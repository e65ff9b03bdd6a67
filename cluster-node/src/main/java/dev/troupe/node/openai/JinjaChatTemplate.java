package dev.troupe.node.openai;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

import java.beans.FeatureDescriptor;
import java.time.Clock;
import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A model's Jinja chat template ({@code tokenizer.chat_template}) rendered with Jinjava the way Hugging Face
 * transformers renders it with Python's Jinja2: {@code trim_blocks} and {@code lstrip_blocks} on (the latter done
 * here, as Jinja2 does it: only before a tag that starts its line),
 * {@code raise_exception(msg)} and {@code strftime_now(format)} available, {@code tojson} as Python's
 * {@code json.dumps(ensure_ascii=False)} writes it, and the Python string and dict methods templates call
 * ({@code .strip()}, {@code .startswith()}, {@code .split()}, {@code .get(k, default)}, ...) behaving as in
 * Python. {@code x[::-1]} is accepted (Jinjava has no slice step). HubChatTemplateIT compares the output with
 * Hugging Face's own JS renderer byte for byte.
 *
 * <p>Thread-safe: one instance renders many requests concurrently.
 */
public final class JinjaChatTemplate {
    /** Upper bound on a rendering: a template loop cannot produce an unbounded prompt. */
    private static final long MAX_OUTPUT_CHARS = 16L << 20;
    private static final Pattern REVERSED = Pattern.compile("([A-Za-z_][A-Za-z0-9_.]*(?:\\[[^\\[\\]]*\\])*)\\[\\s*:\\s*:\\s*-1\\s*\\]");
    private static final Pattern LINE_START_BEFORE_BLOCK = Pattern.compile("(?m)^[ \\t]+(?=\\{[%#](?![+-]))");
    private static final ThreadLocal<Clock> CLOCK = ThreadLocal.withInitial(Clock::systemUTC);

    private final String source;
    private final Jinjava jinjava;
    private final Clock clock;

    /** A template error: the template called {@code raise_exception}, or it cannot render this input. */
    public static final class TemplateException extends RuntimeException {
        public TemplateException(String message) {
            super(message);
        }
    }

    public JinjaChatTemplate(String source) {
        this(source, Clock.systemUTC());
    }

    /** @param clock what {@code strftime_now} reads (tests pin it) */
    public JinjaChatTemplate(String source, Clock clock) {
        String src = REVERSED.matcher(Objects.requireNonNull(source, "source")).replaceAll("($1|reverse)");
        // Jinja2's lstrip_blocks strips spaces and tabs before a block tag or comment only when nothing else
        // precedes it on its line; Jinjava's strips them mid-line too, so it stays off and this does it.
        src = LINE_START_BEFORE_BLOCK.matcher(src).replaceAll("");
        this.source = wrapKeywordArguments(src);
        this.clock = clock;
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonMethods());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_WRITE);
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(false)
                .withMaxOutputSize(MAX_OUTPUT_CHARS)
                .withElResolver(resolver)
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withUseNaturalOperatorPrecedence(true)
                        .withParseWhitespaceControlStrictly(true)
                        .withEvaluateMapKeys(true)
                        .withIterateOverMapKeys(true)
                        .withKeepNullableLoopValues(true)
                        .withUseTrimmingForNotesAndExpressions(true)
                        .build())
                .build();
        this.jinjava = new Jinjava(config);
        try {
            jinjava.registerFunction(new ELFunctionDefinition("", "raise_exception",
                    JinjaChatTemplate.class.getDeclaredMethod("raiseException", String.class)));
            jinjava.registerFunction(new ELFunctionDefinition("", "strftime_now",
                    JinjaChatTemplate.class.getDeclaredMethod("strftimeNow", String.class)));
        } catch (NoSuchMethodException e) {
            throw new IllegalStateException(e);
        }
        jinjava.registerFilter(new ToJson());
        jinjava.registerFilter(new Trim());
    }

    /**
     * Puts every keyword argument's value in parentheses: {@code namespace(i=messages|length - 1)}. Jinjava
     * binds {@code i=messages|length} first and then fails on {@code - 1}; Jinja2 takes the whole expression.
     * Only text inside {@code {{ }}} and {@code {% %}} is touched, and string literals are skipped.
     */
    static String wrapKeywordArguments(String src) {
        StringBuilder out = new StringBuilder(src.length() + 16);
        int n = src.length();
        int i = 0;
        while (i < n) {
            boolean open = i + 1 < n && src.charAt(i) == '{' && (src.charAt(i + 1) == '{' || src.charAt(i + 1) == '%');
            if (!open) {
                out.append(src.charAt(i++));
                continue;
            }
            char close = src.charAt(i + 1) == '{' ? '}' : '%';
            out.append(src, i, i + 2);
            i += 2;
            // depth of brackets; for each '(' level, whether a keyword value is open there
            java.util.ArrayDeque<Character> stack = new java.util.ArrayDeque<>();
            java.util.ArrayDeque<Boolean> wrapping = new java.util.ArrayDeque<>();
            while (i < n) {
                char c = src.charAt(i);
                if (stack.isEmpty() && c == close && i + 1 < n && src.charAt(i + 1) == '}') break;
                if (c == '\'' || c == '"') {
                    int j = i + 1;
                    while (j < n && src.charAt(j) != c) j += src.charAt(j) == '\\' ? 2 : 1;
                    j = Math.min(j + 1, n);
                    out.append(src, i, j);
                    i = j;
                    continue;
                }
                if (c == '(' || c == '[' || c == '{') {
                    stack.push(c);
                    wrapping.push(false);
                } else if ((c == ')' || c == ']' || c == '}') && !stack.isEmpty()) {
                    if (wrapping.pop()) out.append(')');
                    stack.pop();
                } else if (c == ',' && !stack.isEmpty() && wrapping.peek()) {
                    out.append(')');
                    wrapping.pop();
                    wrapping.push(false);
                } else if (c == '=' && !stack.isEmpty() && stack.peek() == '(' && !wrapping.peek()
                        && i + 1 < n && src.charAt(i + 1) != '=' && i > 0 && "=!<>".indexOf(src.charAt(i - 1)) < 0
                        && isKeyword(src, i)) {
                    out.append("=(");
                    wrapping.pop();
                    wrapping.push(true);
                    i++;
                    continue;
                }
                out.append(c);
                i++;
            }
        }
        return out.toString();
    }

    /** Whether the '=' at i follows "name" right after '(' or ',' (a keyword argument, not a comparison). */
    private static boolean isKeyword(String s, int i) {
        int j = i - 1;
        while (j >= 0 && s.charAt(j) == ' ') j--;
        int end = j;
        while (j >= 0 && (Character.isLetterOrDigit(s.charAt(j)) || s.charAt(j) == '_')) j--;
        if (j == end) return false;
        while (j >= 0 && s.charAt(j) == ' ') j--;
        return j >= 0 && (s.charAt(j) == '(' || s.charAt(j) == ',');
    }

    /** A JSON tree as the plain Java values templates see: ordered maps, lists, strings, numbers, booleans, null. */
    public static Object fromJson(com.fasterxml.jackson.databind.JsonNode n) {
        if (n == null || n.isNull() || n.isMissingNode()) return null;
        if (n.isTextual()) return n.textValue();
        if (n.isBoolean()) return n.booleanValue();
        if (n.isIntegralNumber()) return n.canConvertToLong() ? (Object) n.longValue() : n.bigIntegerValue();
        if (n.isNumber()) return n.doubleValue();
        if (n.isArray()) {
            List<Object> out = new ArrayList<>(n.size());
            for (com.fasterxml.jackson.databind.JsonNode x : n) out.add(fromJson(x));
            return out;
        }
        Map<String, Object> out = new java.util.LinkedHashMap<>();
        for (Iterator<Map.Entry<String, com.fasterxml.jackson.databind.JsonNode>> it = n.fields(); it.hasNext(); ) {
            Map.Entry<String, com.fasterxml.jackson.databind.JsonNode> e = it.next();
            out.put(e.getKey(), fromJson(e.getValue()));
        }
        return out;
    }

    /** The template source as given (after the {@code [::-1]} rewrite). */
    public String source() {
        return source;
    }

    /**
     * Renders the template. The context's values are JSON-like: maps (keep their order), lists, strings,
     * numbers, booleans, null.
     *
     * @throws TemplateException when the template raises or fails on this input
     */
    public String render(Map<String, Object> context) {
        Clock previous = CLOCK.get();
        CLOCK.set(clock);
        RenderResult r;
        try {
            r = jinjava.renderForResult(source, context);
        } finally {
            CLOCK.set(previous);
        }
        for (TemplateError e : r.getErrors()) {
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new TemplateException(message(e));
            }
        }
        return r.getOutput();
    }

    /** The message a template's {@code raise_exception} gave, or Jinjava's description of what failed. */
    private static String message(TemplateError e) {
        for (Throwable t = e.getException(); t != null; t = t.getCause()) {
            if (t instanceof TemplateException) return t.getMessage();
        }
        String m = e.getMessage();
        Matcher raised = Pattern.compile("TemplateException: (.*)").matcher(m == null ? "" : m);
        return raised.find() ? raised.group(1) : m;
    }

    public static String raiseException(String message) {
        throw new TemplateException(message);
    }

    public static String strftimeNow(String format) {
        return strftime(format, ZonedDateTime.now(CLOCK.get()));
    }

    /** The strftime conversions chat templates use (Llama 3.x writes "%d %b %Y"). */
    static String strftime(String format, ZonedDateTime t) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 == format.length()) {
                sb.append(c);
                continue;
            }
            char k = format.charAt(++i);
            switch (k) {
                case 'd' -> sb.append(String.format("%02d", t.getDayOfMonth()));
                case 'e' -> sb.append(String.format("%2d", t.getDayOfMonth()));
                case 'm' -> sb.append(String.format("%02d", t.getMonthValue()));
                case 'Y' -> sb.append(t.getYear());
                case 'y' -> sb.append(String.format("%02d", t.getYear() % 100));
                case 'H' -> sb.append(String.format("%02d", t.getHour()));
                case 'I' -> sb.append(String.format("%02d", (t.getHour() + 11) % 12 + 1));
                case 'M' -> sb.append(String.format("%02d", t.getMinute()));
                case 'S' -> sb.append(String.format("%02d", t.getSecond()));
                case 'p' -> sb.append(t.getHour() < 12 ? "AM" : "PM");
                case 'b' -> sb.append(t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'B' -> sb.append(t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'a' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'A' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'j' -> sb.append(String.format("%03d", t.getDayOfYear()));
                case '%' -> sb.append('%');
                default -> sb.append('%').append(k);
            }
        }
        return sb.toString();
    }

    // ------------------------------------------------------------------ Python semantics

    /** Python's str.isspace for one char. */
    static boolean isPySpace(char c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == '\u0085';
    }

    static String strip(String s, String chars, boolean left, boolean right) {
        int a = 0, b = s.length();
        while (left && a < b && (chars == null ? isPySpace(s.charAt(a)) : chars.indexOf(s.charAt(a)) >= 0)) a++;
        while (right && b > a && (chars == null ? isPySpace(s.charAt(b - 1)) : chars.indexOf(s.charAt(b - 1)) >= 0)) b--;
        return s.substring(a, b);
    }

    /** Python's str.split(sep=None, maxsplit=-1). */
    static List<String> split(String s, String sep, int maxSplit) {
        List<String> out = new ArrayList<>();
        if (sep == null) {
            int i = 0, n = s.length();
            while (true) {
                while (i < n && isPySpace(s.charAt(i))) i++;
                if (i == n) break;
                if (maxSplit >= 0 && out.size() == maxSplit) {
                    out.add(strip(s.substring(i), null, false, true));
                    break;
                }
                int j = i;
                while (j < n && !isPySpace(s.charAt(j))) j++;
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        if (sep.isEmpty()) throw new TemplateException("empty separator");
        int from = 0;
        while (maxSplit < 0 || out.size() < maxSplit) {
            int at = s.indexOf(sep, from);
            if (at < 0) break;
            out.add(s.substring(from, at));
            from = at + sep.length();
        }
        out.add(s.substring(from));
        return out;
    }

    private static boolean startsOrEnds(String s, Object arg, boolean start) {
        if (arg instanceof Collection<?> c) {
            for (Object o : c) if (startsOrEnds(s, o, start)) return true;
            return false;
        }
        String p = String.valueOf(arg);
        return start ? s.startsWith(p) : s.endsWith(p);
    }

    private static String title(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        boolean prevCased = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            sb.append(prevCased ? Character.toLowerCase(c) : Character.toUpperCase(c));
            prevCased = Character.isLetter(c);
        }
        return sb.toString();
    }

    /** Python str and dict methods on Java strings and maps; anything else is left to Jinjava's resolvers. */
    private static final class PythonMethods extends ELResolver {
        @Override
        public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
            if (base == null || method == null) return null;
            String m = method.toString();
            Object[] p = params == null ? new Object[0] : params;
            Object r = NONE;
            if (base instanceof String s) r = stringMethod(s, m, p);
            else if (base instanceof Map<?, ?> map) r = mapMethod(map, m, p);
            if (r == NONE) return null;
            context.setPropertyResolved(true);
            return r;
        }

        private static final Object NONE = new Object();

        private static Object stringMethod(String s, String m, Object[] p) {
            String a0 = p.length > 0 && p[0] != null ? p[0].toString() : null;
            switch (m) {
                case "startswith": return startsOrEnds(s, p[0], true);
                case "endswith": return startsOrEnds(s, p[0], false);
                case "strip": return strip(s, a0, true, true);
                case "lstrip": return strip(s, a0, true, false);
                case "rstrip": return strip(s, a0, false, true);
                case "split": return split(s, a0, p.length > 1 ? ((Number) p[1]).intValue() : -1);
                case "upper": return s.toUpperCase(Locale.ROOT);
                case "lower": return s.toLowerCase(Locale.ROOT);
                case "title": return title(s);
                case "capitalize": return s.isEmpty() ? s : Character.toUpperCase(s.charAt(0)) + s.substring(1).toLowerCase(Locale.ROOT);
                case "replace": {
                    if (p.length > 2) {
                        int n = ((Number) p[2]).intValue();
                        String out = s;
                        int from = 0;
                        StringBuilder sb = new StringBuilder();
                        String old = a0, neu = String.valueOf(p[1]);
                        int count = 0;
                        while (count < n || n < 0) {
                            int at = out.indexOf(old, from);
                            if (at < 0) break;
                            sb.append(out, from, at).append(neu);
                            from = at + old.length();
                            count++;
                        }
                        return sb.append(out.substring(from)).toString();
                    }
                    return s.replace(a0, String.valueOf(p[1]));
                }
                case "find": return s.indexOf(a0);
                case "count": return s.isEmpty() && a0.isEmpty() ? 1 : split(s, a0, -1).size() - 1;
                case "join": {
                    StringBuilder sb = new StringBuilder();
                    boolean first = true;
                    for (Object o : p[0] instanceof Iterable<?> it ? it : List.of()) {
                        if (!first) sb.append(s);
                        sb.append(o);
                        first = false;
                    }
                    return sb.toString();
                }
                case "splitlines": {
                    List<String> lines = new ArrayList<>(List.of(s.split("\r\n|\r|\n", -1)));
                    if (!lines.isEmpty() && lines.get(lines.size() - 1).isEmpty()) lines.remove(lines.size() - 1);
                    return lines;
                }
                case "isdigit": return !s.isEmpty() && s.chars().allMatch(Character::isDigit);
                case "isspace": return !s.isEmpty() && s.chars().allMatch(c -> isPySpace((char) c));
                default: return NONE;
            }
        }

        private static Object mapMethod(Map<?, ?> map, String m, Object[] p) {
            switch (m) {
                case "get": return map.containsKey(p[0]) ? map.get(p[0]) : (p.length > 1 ? p[1] : null);
                case "items": {
                    List<List<Object>> out = new ArrayList<>();
                    for (Map.Entry<?, ?> e : map.entrySet()) {
                        List<Object> pair = new ArrayList<>(2);
                        pair.add(e.getKey());
                        pair.add(e.getValue());
                        out.add(pair);
                    }
                    return out;
                }
                case "keys": return new ArrayList<>(map.keySet());
                case "values": return new ArrayList<>(map.values());
                default: return NONE;
            }
        }

        @Override
        public Object getValue(ELContext context, Object base, Object property) {
            return null;
        }

        @Override
        public Class<?> getType(ELContext context, Object base, Object property) {
            return null;
        }

        @Override
        public void setValue(ELContext context, Object base, Object property, Object value) {
        }

        @Override
        public boolean isReadOnly(ELContext context, Object base, Object property) {
            return false;
        }

        @Override
        public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
            return null;
        }

        @Override
        public Class<?> getCommonPropertyType(ELContext context, Object base) {
            return null;
        }
    }

    /** Hugging Face's tojson: {@code json.dumps(x, ensure_ascii=False, indent=indent, sort_keys=False)}. */
    private static final class ToJson implements Filter {
        @Override
        public String getName() {
            return "tojson";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, args, Map.of());
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object indent = kwargs.get("indent");
            if (indent == null && args.length > 0) indent = args[0];
            StringBuilder sb = new StringBuilder();
            PyJson.write(sb, var, indent == null ? -1 : ((Number) (indent instanceof String s ? Integer.valueOf(s) : indent)).intValue(), 0);
            return sb.toString();
        }
    }

    /** Python's str.strip() as the trim filter (Jinja2's trim strips Python whitespace). */
    private static final class Trim implements Filter {
        @Override
        public String getName() {
            return "trim";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            if (var == null) return "";
            return strip(var.toString(), args.length > 0 ? args[0] : null, true, true);
        }
    }
}
