package dev.troupe.engine.grammar;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Compiles a JSON Schema into the {@link JsonShape} constrained decoding enforces. The subset: {@code type}
 * (one or a list), {@code properties}, {@code required}, {@code additionalProperties}, {@code items},
 * {@code minItems}, {@code maxItems}, {@code minLength}, {@code maxLength}, {@code enum}, {@code const},
 * {@code anyOf}, {@code oneOf}, a one-element {@code allOf}, and {@code $ref} into {@code $defs} or
 * {@code definitions} (not recursive). Annotations ({@code title}, {@code description}, {@code format},
 * {@code default}, ...) are ignored. A keyword that constrains values in a way decoding would not enforce
 * ({@code pattern}, {@code minimum}, ...) is refused with a {@link GrammarException} naming it, rather than
 * producing output that silently fails the schema.
 */
public final class JsonSchemaCompiler {
    private static final Set<String> NOT_ENFORCED = Set.of("pattern", "minimum", "maximum", "exclusiveMinimum",
            "exclusiveMaximum", "multipleOf", "minProperties", "maxProperties", "uniqueItems", "contains",
            "minContains", "maxContains", "prefixItems", "patternProperties", "not", "if", "then", "else",
            "dependentRequired", "dependentSchemas", "propertyNames", "unevaluatedProperties", "unevaluatedItems",
            "$dynamicRef", "$recursiveRef");
    private static final int MAX_DEPTH = 32;

    private final Map<?, ?> root;
    private final Set<String> resolving = new HashSet<>();

    private JsonSchemaCompiler(Map<?, ?> root) {
        this.root = root;
    }

    /** Compiles schema text. */
    public static JsonShape compile(String schemaJson) {
        Object schema;
        try {
            schema = JsonValue.parse(schemaJson);
        } catch (IllegalArgumentException e) {
            throw new GrammarException("the schema is not valid JSON: " + e.getMessage());
        }
        return compile(schema);
    }

    /** Compiles a schema already parsed by {@link JsonValue#parse}. */
    public static JsonShape compile(Object schema) {
        return new JsonSchemaCompiler(schema instanceof Map<?, ?> m ? m : Map.of()).shape(schema, "#", 0);
    }

    private JsonShape shape(Object schema, String at, int depth) {
        if (depth > MAX_DEPTH) throw new GrammarException(at + ": the schema nests deeper than " + MAX_DEPTH);
        if (Boolean.TRUE.equals(schema)) return JsonShape.ANY;
        if (!(schema instanceof Map<?, ?> s)) throw new GrammarException(at + ": a schema must be an object or true");
        for (Object k : s.keySet()) {
            if (NOT_ENFORCED.contains(k)) {
                throw new GrammarException(at + ": '" + k + "' is not supported by structured output (it would not be enforced)");
            }
        }
        if (s.containsKey("$ref")) return ref(s.get("$ref"), at, depth);
        if (s.containsKey("const")) return new JsonShape.Literals(List.of(bytes(JsonValue.write(s.get("const")))));
        if (s.containsKey("enum")) {
            if (!(s.get("enum") instanceof List<?> values) || values.isEmpty()) {
                throw new GrammarException(at + ": 'enum' must be a non-empty array");
            }
            List<byte[]> texts = new ArrayList<>();
            for (Object v : values) texts.add(bytes(JsonValue.write(v)));
            return new JsonShape.Literals(texts);
        }
        for (String key : new String[] {"anyOf", "oneOf"}) {
            if (s.containsKey(key)) return oneOf(s.get(key), at + "/" + key, depth);
        }
        if (s.containsKey("allOf")) {
            if (!(s.get("allOf") instanceof List<?> all) || all.size() != 1) {
                throw new GrammarException(at + ": 'allOf' is supported with exactly one schema");
            }
            return shape(all.get(0), at + "/allOf/0", depth + 1);
        }
        Object type = s.get("type");
        if (type == null) {
            if (s.containsKey("properties") || s.containsKey("additionalProperties")) type = "object";
            else if (s.containsKey("items")) type = "array";
            else return JsonShape.ANY;
        }
        if (type instanceof List<?> types) {
            List<JsonShape> alts = new ArrayList<>();
            for (Object t : types) alts.add(typed(t, s, at, depth));
            return alts.size() == 1 ? alts.get(0) : new JsonShape.OneOf(alts);
        }
        return typed(type, s, at, depth);
    }

    private JsonShape typed(Object type, Map<?, ?> s, String at, int depth) {
        if (!(type instanceof String t)) throw new GrammarException(at + ": 'type' must be a string or an array of strings");
        return switch (t) {
            case "object" -> object(s, at, depth);
            case "array" -> new JsonShape.Arr(s.containsKey("items") ? shape(s.get("items"), at + "/items", depth + 1) : JsonShape.ANY,
                    count(s, "minItems", 0, at), bound(s, "maxItems", "minItems", at));
            case "string" -> new JsonShape.Str(count(s, "minLength", 0, at), bound(s, "maxLength", "minLength", at));
            case "number" -> new JsonShape.Num(false);
            case "integer" -> new JsonShape.Num(true);
            case "boolean" -> JsonShape.Literals.of("true", "false");
            case "null" -> JsonShape.Literals.of("null");
            default -> throw new GrammarException(at + ": unknown type '" + t + "'");
        };
    }

    private JsonShape object(Map<?, ?> s, String at, int depth) {
        Set<String> required = new HashSet<>();
        if (s.get("required") instanceof List<?> r) {
            for (Object o : r) if (o instanceof String name) required.add(name);
        } else if (s.containsKey("required")) {
            throw new GrammarException(at + ": 'required' must be an array of names");
        }
        List<JsonShape.Property> props = new ArrayList<>();
        if (s.get("properties") instanceof Map<?, ?> p) {
            for (Map.Entry<?, ?> e : p.entrySet()) {
                String name = (String) e.getKey();
                props.add(new JsonShape.Property(name, shape(e.getValue(), at + "/properties/" + name, depth + 1), required.contains(name)));
            }
        } else if (s.containsKey("properties")) {
            throw new GrammarException(at + ": 'properties' must be an object");
        }
        for (String name : required) {
            if (props.stream().noneMatch(pr -> pr.name().equals(name))) {
                throw new GrammarException(at + ": required property '" + name + "' is not in 'properties'");
            }
        }
        JsonShape extra = null;
        if (props.isEmpty()) {
            Object ap = s.get("additionalProperties");
            if (ap == null || Boolean.TRUE.equals(ap)) extra = JsonShape.ANY;
            else if (!Boolean.FALSE.equals(ap)) extra = shape(ap, at + "/additionalProperties", depth + 1);
        }
        return new JsonShape.Obj(props, extra);
    }

    private JsonShape oneOf(Object list, String at, int depth) {
        if (!(list instanceof List<?> l) || l.isEmpty()) throw new GrammarException(at + ": must be a non-empty array of schemas");
        List<JsonShape> alts = new ArrayList<>();
        for (int k = 0; k < l.size(); k++) alts.add(shape(l.get(k), at + "/" + k, depth + 1));
        return alts.size() == 1 ? alts.get(0) : new JsonShape.OneOf(alts);
    }

    private JsonShape ref(Object ref, String at, int depth) {
        if (!(ref instanceof String r) || !(r.startsWith("#/$defs/") || r.startsWith("#/definitions/"))) {
            throw new GrammarException(at + ": only local '$ref's into '#/$defs/' or '#/definitions/' are supported, got " + ref);
        }
        int slash = r.indexOf('/', 2);
        Object defs = root.get(r.substring(2, slash));
        Object target = defs instanceof Map<?, ?> d ? d.get(r.substring(slash + 1)) : null;
        if (target == null) throw new GrammarException(at + ": '$ref' " + r + " names no definition");
        if (!resolving.add(r)) throw new GrammarException(at + ": recursive '$ref' " + r + " is not supported");
        try {
            return shape(target, r, depth + 1);
        } finally {
            resolving.remove(r);
        }
    }

    private static int count(Map<?, ?> s, String key, int absent, String at) {
        Object v = s.get(key);
        if (v == null) return absent;
        if (v instanceof Long l && l >= 0 && l <= Integer.MAX_VALUE) return (int) (long) l;
        throw new GrammarException(at + ": '" + key + "' must be a non-negative integer");
    }

    /** An upper bound, refused below its lower bound (no value could satisfy both). */
    private static int bound(Map<?, ?> s, String key, String lowerKey, String at) {
        int max = count(s, key, Integer.MAX_VALUE, at);
        if (max < count(s, lowerKey, 0, at)) throw new GrammarException(at + ": '" + key + "' is below '" + lowerKey + "'");
        return max;
    }

    private static byte[] bytes(String s) {
        return s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }
}
