package dev.troupe.engine.grammar;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Reads JSON text of a {@link JsonShape} one byte at a time and says which bytes may come next.
 *
 * <p>A parse state is a stack of what is still expected ({@link Stack}: the innermost item first); the
 * matcher holds every state the text so far can be in (more than one where a schema offers alternatives
 * that share a prefix, such as two property names starting alike). States are immutable and share their
 * tails, so trying a byte from a state copies nothing, which lets {@link TokenConstraint} try every token of a
 * vocabulary from the same states.
 *
 * <p>Whitespace is allowed before each value and around punctuation, at most {@link #MAX_WHITESPACE} byte in a
 * row (so {@code {"a": 1, "b": [2, 3]}} but not pretty-printed layouts): small models otherwise spend their
 * whole budget on blanks. Numbers have at most {@link #MAX_DIGITS} digits in each part. Strings must be valid
 * UTF-8.
 */
public final class JsonMatcher {
    public static final int MAX_WHITESPACE = 1;
    public static final int MAX_DIGITS = 24;
    /** More alternative parses than this at once means a schema too ambiguous to follow. */
    static final int MAX_STATES = 256;

    /** What remains to be read, innermost first; {@code null} is the empty stack (the value is complete). */
    public record Stack(Item head, Stack tail) {
    }

    private List<Stack> states;

    public JsonMatcher(JsonShape shape) {
        this.states = List.of(new Stack(new Value(shape, 0), null));
    }

    public List<Stack> states() {
        return states;
    }

    /** Whether the text so far is a complete value (the end may come now). */
    public boolean complete() {
        return accepting(states);
    }

    /** Whether no byte can follow (complete and nothing may be added). */
    public boolean finished() {
        for (Stack s : states) if (s != null) return false;
        return true;
    }

    /** Reads one byte; false (and no change) if the text cannot continue with it. */
    public boolean accept(int b) {
        List<Stack> next = step(states, b & 0xFF);
        if (next.isEmpty()) return false;
        states = next;
        return true;
    }

    /** Reads bytes; false (and no change) if any of them cannot follow. */
    public boolean accept(byte[] bytes) {
        List<Stack> s = states;
        for (byte b : bytes) {
            s = step(s, b & 0xFF);
            if (s.isEmpty()) return false;
        }
        states = s;
        return true;
    }

    /** The states after reading {@code b} from any of {@code from}; empty if none can take it. */
    public static List<Stack> step(List<Stack> from, int b) {
        Set<Stack> out = new LinkedHashSet<>();
        for (Stack s : from) {
            advance(s, b, out);
            if (out.size() > MAX_STATES) {
                throw new GrammarException("the schema is too ambiguous to follow (over " + MAX_STATES + " parses at once)");
            }
        }
        return out.isEmpty() ? List.of() : new ArrayList<>(out);
    }

    public static boolean accepting(List<Stack> states) {
        for (Stack s : states) if (nullable(s)) return true;
        return false;
    }

    private static boolean nullable(Stack s) {
        for (Stack k = s; k != null; k = k.tail) if (!k.head.nullable()) return false;
        return true;
    }

    static void advance(Stack s, int b, Set<Stack> out) {
        if (s != null) s.head.step(b, s.tail, out);
    }

    private static Stack push(Item item, Stack rest) {
        return new Stack(item, rest);
    }

    private static boolean isWs(int b) {
        return b == ' ' || b == '\n' || b == '\t' || b == '\r';
    }

    private static boolean isDigit(int b) {
        return b >= '0' && b <= '9';
    }

    /** One pending piece of the text. */
    public sealed interface Item {
        /** Reads {@code b} with this item on top of {@code rest}, adding each resulting state to {@code out}. */
        void step(int b, Stack rest, Set<Stack> out);

        /** Whether this item may end without reading more. */
        default boolean nullable() {
            return false;
        }
    }

    /** A value of a shape, after {@code ws} bytes of whitespace before it. */
    record Value(JsonShape shape, int ws) implements Item {
        @Override
        public void step(int b, Stack rest, Set<Stack> out) {
            if (isWs(b)) {
                if (ws < MAX_WHITESPACE) out.add(push(new Value(shape, ws + 1), rest));
                return;
            }
            begin(shape, b, rest, out);
        }

        /** The first byte of a value of {@code shape}. */
        static void begin(JsonShape shape, int b, Stack rest, Set<Stack> out) {
            if (shape instanceof JsonShape.Any) {
                begin(JsonShape.ANY_OBJECT, b, rest, out);
                begin(ANY_ARRAY, b, rest, out);
                begin(ANY_STRING, b, rest, out);
                begin(ANY_NUMBER, b, rest, out);
                begin(ANY_LITERAL, b, rest, out);
            } else if (shape instanceof JsonShape.Obj o) {
                if (b == '{') out.add(push(new ObjOpen(o, 0), rest));
            } else if (shape instanceof JsonShape.Arr a) {
                if (b == '[') out.add(push(new ArrOpen(a, 0), rest));
            } else if (shape instanceof JsonShape.Str s) {
                if (b == '"') out.add(push(new Chars(s.minLength(), s.maxLength(), 0, 0, -1), rest));
            } else if (shape instanceof JsonShape.Num n) {
                if (b == '-') out.add(push(new Num(n.integer(), Num.SIGN, 0), rest));
                else if (b == '0') out.add(push(new Num(n.integer(), Num.ZERO, 1), rest));
                else if (isDigit(b)) out.add(push(new Num(n.integer(), Num.INT, 1), rest));
            } else if (shape instanceof JsonShape.Literals l) {
                for (byte[] t : l.texts()) new Literal(t, 0).step(b, rest, out);
            } else if (shape instanceof JsonShape.OneOf o) {
                for (JsonShape alt : o.alternatives()) begin(alt, b, rest, out);
            }
        }

        private static final JsonShape ANY_ARRAY = new JsonShape.Arr(JsonShape.ANY, 0, Integer.MAX_VALUE);
        private static final JsonShape ANY_STRING = new JsonShape.Str(0, Integer.MAX_VALUE);
        private static final JsonShape ANY_NUMBER = new JsonShape.Num(false);
        private static final JsonShape ANY_LITERAL = JsonShape.Literals.of("true", "false", "null");
    }

    /** Fixed text, {@code pos} bytes of it read. */
    record Literal(byte[] text, int pos) implements Item {
        @Override
        public void step(int b, Stack rest, Set<Stack> out) {
            if ((text[pos] & 0xFF) != b) return;
            out.add(pos + 1 == text.length ? rest : push(new Literal(text, pos + 1), rest));
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Literal l && l.text == text && l.pos == pos;
        }

        @Override
        public int hashCode() {
            return System.identityHashCode(text) * 31 + pos;
        }
    }

    /** Whitespace, then one punctuation byte ({@code :} after a key). */
    record Punct(int want, int ws) implements Item {
        @Override
        public void step(int b, Stack rest, Set<Stack> out) {
            if (isWs(b)) {
                if (ws < MAX_WHITESPACE) out.add(push(new Punct(want, ws + 1), rest));
            } else if (b == want) {
                out.add(rest);
            }
        }
    }

    /**
     * The inside of a string: {@code count} characters so far; {@code cont} UTF-8 continuation bytes still due;
     * {@code hex} -1 outside an escape, 0 just after a backslash, 1..4 inside {@code \\uXXXX}.
     */
    record Chars(int min, int max, int count, int cont, int hex) implements Item {
        /**
         * The count after one more character. A string without length bounds does not count, so its states
         * repeat from token to token and their allowed-token masks can be reused ({@link TokenConstraint}).
         */
        private int bump() {
            return min == 0 && max == Integer.MAX_VALUE ? count : count + 1;
        }

        @Override
        public void step(int b, Stack rest, Set<Stack> out) {
            if (cont > 0) {
                if ((b & 0xC0) == 0x80) out.add(push(new Chars(min, max, count, cont - 1, -1), rest));
                return;
            }
            if (hex == 0) {
                if (b == 'u') out.add(push(new Chars(min, max, count, 0, 1), rest));
                else if ("\"\\/bfnrt".indexOf(b) >= 0) out.add(push(new Chars(min, max, bump(), 0, -1), rest));
                return;
            }
            if (hex > 0) {
                boolean isHex = isDigit(b) || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
                if (isHex) out.add(push(new Chars(min, max, hex == 4 ? bump() : count, 0, hex == 4 ? -1 : hex + 1), rest));
                return;
            }
            if (b == '"') {
                if (count >= min) out.add(rest);
                return;
            }
            if (count >= max || b < 0x20 || b == 0x7F) return;
            if (b == '\\') {
                out.add(push(new Chars(min, max, count, 0, 0), rest));
            } else if (b < 0x80) {
                out.add(push(new Chars(min, max, bump(), 0, -1), rest));
            } else if (b >= 0xC2 && b <= 0xDF) {
                out.add(push(new Chars(min, max, bump(), 1, -1), rest));
            } else if (b >= 0xE0 && b <= 0xEF) {
                out.add(push(new Chars(min, max, bump(), 2, -1), rest));
            } else if (b >= 0xF0 && b <= 0xF4) {
                out.add(push(new Chars(min, max, bump(), 3, -1), rest));
            }
        }
    }

    /** A number in one of its parts, with {@code digits} digits in that part. */
    record Num(boolean integer, int part, int digits) implements Item {
        static final int SIGN = 0, ZERO = 1, INT = 2, DOT = 3, FRAC = 4, E = 5, E_SIGN = 6, EXP = 7;

        @Override
        public boolean nullable() {
            return part == ZERO || part == INT || part == FRAC || part == EXP;
        }

        @Override
        public void step(int b, Stack rest, Set<Stack> out) {
            boolean digit = isDigit(b);
            switch (part) {
                case SIGN -> {
                    if (b == '0') out.add(push(new Num(integer, ZERO, 1), rest));
                    else if (digit) out.add(push(new Num(integer, INT, 1), rest));
                    return;
                }
                case ZERO, INT -> {
                    if (part == INT && digit) {
                        if (digits < MAX_DIGITS) out.add(push(new Num(integer, INT, digits + 1), rest));
                        return;
                    }
                    if (!integer && b == '.') { out.add(push(new Num(false, DOT, 0), rest)); return; }
                    if (!integer && (b == 'e' || b == 'E')) { out.add(push(new Num(false, E, 0), rest)); return; }
                }
                case DOT -> {
                    if (digit) out.add(push(new Num(false, FRAC, 1), rest));
                    return;
                }
                case FRAC -> {
                    if (digit) {
                        if (digits < MAX_DIGITS) out.add(push(new Num(false, FRAC, digits + 1), rest));
                        return;
                    }
                    if (b == 'e' || b == 'E') { out.add(push(new Num(false, E, 0), rest)); return; }
                }
                case E -> {
                    if (b == '+' || b == '-') out.add(push(new Num(false, E_SIGN, 0), rest));
                    else if (digit) out.add(push(new Num(false, EXP, 1), rest));
                    return;
                }
                case E_SIGN -> {
                    if (digit) out.add(push(new Num(false, EXP, 1), rest));
                    return;
                }
                case EXP -> {
                    if (digit) {
                        if (digits < 3) out.add(push(new Num(false, EXP, digits + 1), rest));
                        return;
                    }
                }
                default -> throw new IllegalStateException("number part " + part);
            }
            // The number may end here: the byte belongs to what follows it.
            if (digit) return;
            advance(rest, b, out);
        }
    }

    /** Just after an object's {@code {}; {@code ws} blanks read. */
    record ObjOpen(JsonShape.Obj obj, int ws) implements Item {
        @Override
        public void step(int b, Stack rest, Set<Stack> out) {
            if (isWs(b)) {
                if (ws < MAX_WHITESPACE) out.add(push(new ObjOpen(obj, ws + 1), rest));
            } else if (b == '}') {
                if (!requiresFrom(obj, 0)) out.add(rest);
            } else if (b == '"') {
                key(obj, 0, rest, out);
            }
        }
    }

    /** After a property's value: {@code ,} and the next key, or {@code }}. {@code next} is the next property index. */
    record ObjNext(JsonShape.Obj obj, int next, int ws) implements Item {
        @Override
        public void step(int b, Stack rest, Set<Stack> out) {
            if (isWs(b)) {
                if (ws < MAX_WHITESPACE) out.add(push(new ObjNext(obj, next, ws + 1), rest));
            } else if (b == '}') {
                if (!requiresFrom(obj, next)) out.add(rest);
            } else if (b == ',') {
                if (obj.extra() != null || next < obj.properties().size()) out.add(push(new ObjKey(obj, next, 0), rest));
            }
        }
    }

    /** After a {@code ,} in an object: the opening quote of the next key. */
    record ObjKey(JsonShape.Obj obj, int next, int ws) implements Item {
        @Override
        public void step(int b, Stack rest, Set<Stack> out) {
            if (isWs(b)) {
                if (ws < MAX_WHITESPACE) out.add(push(new ObjKey(obj, next, ws + 1), rest));
            } else if (b == '"') {
                key(obj, next, rest, out);
            }
        }
    }

    /** Whether a required property is among those from index {@code from} on. */
    private static boolean requiresFrom(JsonShape.Obj obj, int from) {
        List<JsonShape.Property> p = obj.properties();
        for (int k = from; k < p.size(); k++) if (p.get(k).required()) return true;
        return false;
    }

    /**
     * The states after a key's opening quote: any string key with the extra shape's value, or each declared
     * property that may come next (those up to and including the first required one).
     */
    private static void key(JsonShape.Obj obj, int from, Stack rest, Set<Stack> out) {
        if (obj.properties().isEmpty()) {
            if (obj.extra() == null) return;
            Stack after = push(new Punct(':', 0), push(new Value(obj.extra(), 0), push(new ObjNext(obj, 0, 0), rest)));
            out.add(push(new Chars(0, Integer.MAX_VALUE, 0, 0, -1), after));
            return;
        }
        List<JsonShape.Property> p = obj.properties();
        for (int k = from; k < p.size(); k++) {
            JsonShape.Property prop = p.get(k);
            Stack after = push(new Punct(':', 0), push(new Value(prop.shape(), 0), push(new ObjNext(obj, k + 1, 0), rest)));
            out.add(push(new Literal(prop.keyTail(), 0), after));
            if (prop.required()) return;
        }
    }

    /** Just after an array's {@code [}. */
    record ArrOpen(JsonShape.Arr arr, int ws) implements Item {
        @Override
        public void step(int b, Stack rest, Set<Stack> out) {
            if (isWs(b)) {
                if (ws < MAX_WHITESPACE) out.add(push(new ArrOpen(arr, ws + 1), rest));
            } else if (b == ']') {
                if (arr.minItems() == 0) out.add(rest);
            } else if (arr.maxItems() > 0) {
                Value.begin(arr.items(), b, push(new ArrNext(arr, 1, 0), rest), out);
            }
        }
    }

    /** After an array's {@code count}-th item: {@code ,} and another, or {@code ]}. */
    record ArrNext(JsonShape.Arr arr, int count, int ws) implements Item {
        @Override
        public void step(int b, Stack rest, Set<Stack> out) {
            if (isWs(b)) {
                if (ws < MAX_WHITESPACE) out.add(push(new ArrNext(arr, count, ws + 1), rest));
            } else if (b == ']') {
                if (count >= arr.minItems()) out.add(rest);
            } else if (b == ',') {
                if (count < arr.maxItems()) out.add(push(new Value(arr.items(), 0), push(new ArrNext(arr, count + 1, 0), rest)));
            }
        }
    }
}
