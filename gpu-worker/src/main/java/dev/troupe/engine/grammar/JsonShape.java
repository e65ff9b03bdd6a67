package dev.troupe.engine.grammar;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The shape a JSON value must have, compiled from a JSON Schema ({@link JsonSchemaCompiler}) or meaning any
 * value. {@link JsonMatcher} reads text against it one byte at a time.
 */
public sealed interface JsonShape {
    /** Any JSON value. */
    record Any() implements JsonShape {
    }

    /**
     * An object. Declared properties are written in their declared order, each optional one may be left out;
     * with none declared and {@code extra} set, any keys with values of shape {@code extra}.
     */
    record Obj(List<Property> properties, JsonShape extra) implements JsonShape {
        // Compared by identity: matcher states hold shapes and are hashed once per byte tried.
        @Override public boolean equals(Object o) { return this == o; }

        @Override public int hashCode() { return System.identityHashCode(this); }

        public Obj {
            properties = List.copyOf(properties);
        }
    }

    /** A declared property: its name as the JSON text after the opening quote (escaped, closing quote included). */
    record Property(String name, byte[] keyTail, JsonShape shape, boolean required) {
        public Property(String name, JsonShape shape, boolean required) {
            this(name, JsonValue.quote(name).substring(1).getBytes(StandardCharsets.UTF_8), shape, required);
        }
    }

    record Arr(JsonShape items, int minItems, int maxItems) implements JsonShape {
        // Compared by identity: matcher states hold shapes and are hashed once per byte tried.
        @Override public boolean equals(Object o) { return this == o; }

        @Override public int hashCode() { return System.identityHashCode(this); }

    }

    /** A string of {@code minLength..maxLength} characters (code points). */
    record Str(int minLength, int maxLength) implements JsonShape {
    }

    record Num(boolean integer) implements JsonShape {
    }

    /** One of a fixed set of values, each as its compact JSON text ({@code enum}, {@code const}, booleans, null). */
    record Literals(List<byte[]> texts) implements JsonShape {
        // Compared by identity: matcher states hold shapes and are hashed once per byte tried.
        @Override public boolean equals(Object o) { return this == o; }

        @Override public int hashCode() { return System.identityHashCode(this); }

        public Literals {
            texts = List.copyOf(texts);
        }

        public static Literals of(String... jsonTexts) {
            return new Literals(java.util.Arrays.stream(jsonTexts).map(t -> t.getBytes(StandardCharsets.UTF_8)).toList());
        }
    }

    /** Any one of the alternatives ({@code anyOf}, {@code oneOf}, a list of types). */
    record OneOf(List<JsonShape> alternatives) implements JsonShape {
        // Compared by identity: matcher states hold shapes and are hashed once per byte tried.
        @Override public boolean equals(Object o) { return this == o; }

        @Override public int hashCode() { return System.identityHashCode(this); }

        public OneOf {
            alternatives = List.copyOf(alternatives);
        }
    }

    JsonShape ANY = new Any();
    /** What {@code response_format: json_object} asks for: an object with any keys and values. */
    JsonShape ANY_OBJECT = new Obj(List.of(), ANY);
}
