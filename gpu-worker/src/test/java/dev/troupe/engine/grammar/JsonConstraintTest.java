package dev.troupe.engine.grammar;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.troupe.engine.TestModels;
import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.tokenizer.Tokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Constrained decoding: the matcher takes exactly the JSON of a shape, and tokens drawn at random among those
 * the constraint allows, over the real stories260K vocabulary, always make valid JSON that matches the schema
 * (checked with an independent parser) when the end is reached.
 */
class JsonConstraintTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static Tokenizer tokenizer;
    private static TokenTrie trie;

    @BeforeAll
    static void vocabulary() throws Exception {
        try (GgufFile f = GgufFile.open(TestModels.require(TestModels.STORIES))) {
            tokenizer = Tokenizer.fromGguf(f);
        }
        trie = TokenTrie.of(tokenizer);
    }

    private static boolean matches(JsonShape shape, String text) {
        JsonMatcher m = new JsonMatcher(shape);
        return m.accept(text.getBytes(StandardCharsets.UTF_8)) && m.complete();
    }

    @Test
    void anyValueTakesJsonAndNothingElse() {
        for (String ok : new String[] {"{}", "[]", "0", "-12.5e+3", "\"a\\u00e9\\n\"", "true", "null",
                "{\"a\": [1, {\"b\": false}], \"c\": \"é\"}", " [ 1 , 2 ]"}) {
            assertTrue(matches(JsonShape.ANY, ok), ok);
        }
        for (String bad : new String[] {"{", "01", "1.", "[1,]", "{\"a\" 1}", "tru", "\"\\x\"", "{} {}", "'a'", "+1",
                "\"a\u0001\"", "{,}"}) {
            assertFalse(matches(JsonShape.ANY, bad), bad);
        }
        JsonMatcher m = new JsonMatcher(JsonShape.ANY);
        assertFalse(m.accept(new byte[] {'"', (byte) 0xC3, 'a'}), "a lead byte must be followed by a continuation byte");
        assertFalse(matches(JsonShape.ANY, " ".repeat(JsonMatcher.MAX_WHITESPACE + 1) + "1"), "whitespace runs are bounded");
    }

    @Test
    void schemaShapesAreEnforced() {
        JsonShape person = JsonSchemaCompiler.compile("""
                {"type":"object","properties":{
                   "name":{"type":"string","minLength":1,"maxLength":5},
                   "age":{"type":"integer"},
                   "tags":{"type":"array","items":{"enum":["a","b"]},"maxItems":2},
                   "pet":{"anyOf":[{"type":"null"},{"$ref":"#/$defs/Pet"}]}},
                 "required":["name","age"],
                 "$defs":{"Pet":{"type":"object","properties":{"kind":{"const":"cat"}},"required":["kind"],
                                 "additionalProperties":false}}}""");
        assertTrue(matches(person, "{\"name\":\"Al\",\"age\":3}"));
        assertTrue(matches(person, "{\"name\": \"Al\", \"age\": -3, \"tags\": [\"a\",\"b\"], \"pet\": {\"kind\": \"cat\"}}"));
        assertTrue(matches(person, "{\"name\":\"Al\",\"age\":3,\"pet\":null}"));
        assertFalse(matches(person, "{\"age\":3}"), "a required property is missing");
        assertFalse(matches(person, "{\"name\":\"\",\"age\":3}"), "minLength");
        assertFalse(matches(person, "{\"name\":\"Alexander\",\"age\":3}"), "maxLength");
        assertFalse(matches(person, "{\"name\":\"Al\",\"age\":3.5}"), "an integer");
        assertFalse(matches(person, "{\"name\":\"Al\",\"age\":3,\"tags\":[\"c\"]}"), "enum");
        assertFalse(matches(person, "{\"name\":\"Al\",\"age\":3,\"tags\":[\"a\",\"a\",\"a\"]}"), "maxItems");
        assertFalse(matches(person, "{\"name\":\"Al\",\"age\":3,\"pet\":{\"kind\":\"dog\"}}"), "const");
        assertFalse(matches(person, "{\"name\":\"Al\",\"age\":3,\"x\":1}"), "an undeclared property");

        assertTrue(matches(JsonSchemaCompiler.compile("{\"type\":\"object\"}"), "{\"x\": [1, \"y\"]}"));
        assertFalse(matches(JsonSchemaCompiler.compile("{\"type\":\"object\"}"), "[1]"), "json_object is an object");
    }

    @Test
    void unenforceableSchemasAreRefusedWithTheKeyword() {
        GrammarException e = assertThrows(GrammarException.class,
                () -> JsonSchemaCompiler.compile("{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":0}}}"));
        assertTrue(e.getMessage().contains("#/properties/n") && e.getMessage().contains("'minimum'"), e.getMessage());
        assertThrows(GrammarException.class, () -> JsonSchemaCompiler.compile("{\"type\":\"strnig\"}"));
        assertThrows(GrammarException.class, () -> JsonSchemaCompiler.compile("{\"$ref\":\"#/$defs/A\",\"$defs\":{\"A\":{\"$ref\":\"#/$defs/A\"}}}"));
        assertThrows(GrammarException.class, () -> JsonSchemaCompiler.compile("{\"type\":"));
        assertThrows(GrammarException.class, () -> JsonSchemaCompiler.compile("{\"required\":[\"a\"],\"properties\":{}}"));
        assertThrows(GrammarException.class, () -> JsonSchemaCompiler.compile("{\"type\":\"array\",\"minItems\":3,\"maxItems\":2}"));
        assertThrows(GrammarException.class, () -> JsonSchemaCompiler.compile("{\"type\":\"string\",\"minLength\":3,\"maxLength\":2}"));
    }

    @Test
    void randomTokensUnderTheMaskMakeValidJson() throws Exception {
        String schema = """
                {"type":"object","properties":{"title":{"type":"string","maxLength":12},
                 "year":{"type":"integer"},"ok":{"type":"boolean"},
                 "scores":{"type":"array","items":{"type":"number"},"maxItems":3}},
                 "required":["title","year","ok"]}""";
        int completed = 0;
        completed += generate(JsonShape.ANY_OBJECT, null, 40);
        completed += generate(JsonSchemaCompiler.compile(schema), schema, 40);
        assertTrue(completed >= 20, "most random walks should reach the end, got " + completed + " of 80");
    }

    @Test
    void cachedMasksAreTheMasksWalked() {
        JsonShape shape = JsonSchemaCompiler.compile("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},"
                + "\"b\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":3}}},\"required\":[\"a\",\"b\"]}");
        TokenConstraint.MaskCache cache = new TokenConstraint.MaskCache(8);
        Random random = new Random(11);
        long[] walked = new long[(tokenizer.vocabSize() + 63) >>> 6];
        long[] cached = new long[walked.length];
        for (int run = 0; run < 20; run++) {
            TokenConstraint plain = new TokenConstraint(shape, trie);
            TokenConstraint withCache = new TokenConstraint(shape, trie, cache);
            for (int step = 0; step < 60; step++) {
                int n = plain.allowed(walked);
                assertEquals(n, withCache.allowed(cached));
                assertArrayEquals(walked, cached, "run " + run + " step " + step);
                List<Integer> allowed = new ArrayList<>();
                for (int t = 0; t < tokenizer.vocabSize(); t++) {
                    if ((walked[t >>> 6] & (1L << t)) != 0 && !tokenizer.isEndOfGeneration(t)) allowed.add(t);
                }
                if (allowed.isEmpty()) break;
                byte[] b = tokenizer.tokenBytes(allowed.get(random.nextInt(allowed.size())));
                assertTrue(plain.accept(b));
                assertTrue(withCache.accept(b));
            }
        }
    }

    /** Draws tokens among the allowed ones; returns how many runs reached an end token (each checked). */
    private int generate(JsonShape shape, String schema, int runs) throws Exception {
        Random random = new Random(7);
        long[] mask = new long[(tokenizer.vocabSize() + 63) >>> 6];
        int completed = 0;
        for (int run = 0; run < runs; run++) {
            TokenConstraint c = new TokenConstraint(shape, trie);
            ByteArrayOutputStream text = new ByteArrayOutputStream();
            for (int step = 0; step < 200; step++) {
                int n = c.allowed(mask);
                assertTrue(n > 0, "some token must always be allowed, after " + text);
                List<Integer> allowed = new ArrayList<>();
                List<Integer> closing = new ArrayList<>();
                int end = -1;
                for (int t = 0; t < tokenizer.vocabSize(); t++) {
                    if ((mask[t >>> 6] & (1L << t)) == 0) continue;
                    allowed.add(t);
                    if (tokenizer.isEndOfGeneration(t)) end = t;
                    byte[] b = tokenizer.tokenBytes(t);
                    if (b.length == 1 && "\"}]0,".indexOf(b[0]) >= 0) closing.add(t);
                }
                assertEquals(n, allowed.size());
                if (end >= 0 && random.nextInt(3) > 0) {
                    assertTrue(c.complete());
                    String json = text.toString(StandardCharsets.UTF_8);
                    JsonNode v = JSON.readTree(json);
                    assertTrue(v.isObject(), json);
                    if (schema != null) {
                        for (String f : new String[] {"title", "year", "ok"}) assertTrue(v.has(f), json);
                        assertTrue(v.get("title").isTextual() && v.get("title").textValue().codePointCount(0,
                                v.get("title").textValue().length()) <= 12, json);
                        assertTrue(v.get("year").isIntegralNumber(), json);
                        assertTrue(v.get("ok").isBoolean(), json);
                        if (v.has("scores")) assertTrue(v.get("scores").isArray() && v.get("scores").size() <= 3, json);
                    }
                    completed++;
                    break;
                }
                List<Integer> pool = !closing.isEmpty() && random.nextBoolean() ? closing : allowed;
                int t = pool.get(random.nextInt(pool.size()));
                if (tokenizer.isEndOfGeneration(t)) continue;
                byte[] b = tokenizer.tokenBytes(t);
                assertTrue(c.accept(b), "an allowed token must be accepted");
                text.write(b);
            }
        }
        return completed;
    }
}
