package dev.troupe.node.openai;

import dev.troupe.engine.sampling.SamplingParams;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class RequestParserTest {

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** A completions body with {@code extra} JSON members added (e.g. {@code "\"n\":2"}). */
    static byte[] comp(String extra) {
        return utf8("{\"model\":\"m\",\"prompt\":\"hi\"" + (extra.isEmpty() ? "" : "," + extra) + "}");
    }

    static byte[] chat(String extra) {
        return utf8("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
                + (extra.isEmpty() ? "" : "," + extra) + "}");
    }

    static ApiError compErr(String extra) {
        return assertThrows(ApiError.class, () -> RequestParser.parseCompletion(comp(extra)));
    }

    static ApiError chatErr(String extra) {
        return assertThrows(ApiError.class, () -> RequestParser.parseChat(chat(extra)));
    }

    static ApiError err(byte[] body, java.util.function.Function<byte[], ?> parser) {
        return assertThrows(ApiError.class, () -> parser.apply(body));
    }

    static void assertBad(ApiError e, String param, String... words) {
        assertEquals(400, e.status(), e.toString());
        assertEquals("invalid_request_error", e.type());
        assertEquals(param, e.param(), e.toString());
        for (String w : words) {
            assertTrue(e.getMessage().contains(w), "message '" + e.getMessage() + "' lacks '" + w + "'");
        }
    }

    // ------------------------------------------------------------------ body

    @Test
    void invalidUtf8InsideAStringIsRejected() {
        byte[] head = utf8("{\"model\":\"m\",\"prompt\":\"a");
        byte[] tail = utf8("b\"}");
        byte[] body = new byte[head.length + 2 + tail.length];
        System.arraycopy(head, 0, body, 0, head.length);
        body[head.length] = (byte) 0xC3;
        body[head.length + 1] = (byte) 0x28;
        System.arraycopy(tail, 0, body, head.length + 2, tail.length);
        assertBad(err(body, RequestParser::parseCompletion), null, "request body is not valid UTF-8");
        assertBad(err(body, RequestParser::parseChat), null, "not valid UTF-8");
        assertBad(err(body, RequestParser::parseEmbeddings), null, "not valid UTF-8");
    }

    @Test
    void overlongAndTruncatedUtf8AreRejected() {
        byte[] overlong = {'{', '"', 'a', '"', ':', '"', (byte) 0xC0, (byte) 0xAF, '"', '}'};
        assertBad(err(overlong, RequestParser::parseCompletion), null, "UTF-8");
        byte[] truncated = {'{', '"', 'a', '"', ':', '"', (byte) 0xE2, (byte) 0x82};
        assertBad(err(truncated, RequestParser::parseCompletion), null, "UTF-8");
    }

    @Test
    void validMultibyteUtf8IsKept() {
        CompletionRequest r = RequestParser.parseCompletion(utf8("{\"model\":\"m\",\"prompt\":\"h\u00e9 \u4f60 \ud83d\ude00\"}"));
        assertEquals("h\u00e9 \u4f60 \ud83d\ude00", r.prompt());
        CompletionRequest bom = RequestParser.parseCompletion(utf8("\uFEFF{\"model\":\"m\",\"prompt\":\"x\"}"));
        assertEquals("x", bom.prompt());
    }

    @Test
    void malformedJsonNamesTheProblemAndPlace() {
        ApiError e = err(utf8("{\"model\":\"m\",\n\"prompt\": }"), RequestParser::parseCompletion);
        assertBad(e, null, "not valid JSON", "line 2");
        assertBad(err(utf8("{\"model\":\"m\""), RequestParser::parseCompletion), null, "not valid JSON");
        assertBad(err(utf8("{\"model\":\"m\",\"prompt\":\"x\"} {}"), RequestParser::parseCompletion), null,
                "not valid JSON");
        assertBad(err(utf8("{'model':'m'}"), RequestParser::parseChat), null, "not valid JSON");
    }

    @Test
    void bodyMustBeAnObject() {
        assertBad(err(utf8("[1,2]"), RequestParser::parseCompletion), null, "must be a JSON object", "array");
        assertBad(err(utf8("\"x\""), RequestParser::parseChat), null, "must be a JSON object");
        assertBad(err(utf8("null"), RequestParser::parseChat), null, "must be a JSON object");
        assertBad(err(new byte[0], RequestParser::parseCompletion), null, "empty");
        assertBad(err(utf8("  \n"), RequestParser::parseEmbeddings), null, "empty");
    }

    @Test
    void unpairedSurrogateEscapeIsRejected() {
        ApiError e = err(utf8("{\"model\":\"m\",\"prompt\":\"a\\ud800b\"}"), RequestParser::parseCompletion);
        assertBad(e, "prompt", "surrogate");
        CompletionRequest ok = RequestParser.parseCompletion(utf8("{\"model\":\"m\",\"prompt\":\"\\ud83d\\ude00\"}"));
        assertEquals("\ud83d\ude00", ok.prompt());
        assertBad(err(utf8("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\\udc00\"}]}"),
                RequestParser::parseChat), "messages[0].content", "surrogate");
    }

    // ------------------------------------------------------------------ defaults, unknown fields

    @Test
    void completionDefaults() {
        CompletionRequest r = RequestParser.parseCompletion(comp(""));
        assertFalse(r.chat());
        assertEquals("m", r.model());
        assertEquals("hi", r.prompt());
        assertNull(r.messages());
        assertFalse(r.stream());
        assertFalse(r.includeUsage());
        assertEquals(-1, r.logprobs());
        assertFalse(r.wantsLogprobs());
        assertNull(r.user());
        SamplingParams p = r.params();
        assertEquals(16, p.maxTokens());
        assertEquals(1f, p.temperature());
        assertEquals(1f, p.topP());
        assertEquals(0, p.topK());
        assertEquals(0f, p.minP());
        assertEquals(1f, p.repetitionPenalty());
        assertEquals(0f, p.presencePenalty());
        assertEquals(0f, p.frequencyPenalty());
        assertNull(p.seed());
        assertEquals(List.of(), p.stop());
        assertEquals(0, p.topLogprobs());
        assertFalse(p.ignoreEos());
    }

    @Test
    void chatDefaults() {
        CompletionRequest r = RequestParser.parseChat(chat(""));
        assertTrue(r.chat());
        assertNull(r.prompt());
        assertEquals(List.of(new ChatMessage("user", "hi")), r.messages());
        assertEquals(Integer.MAX_VALUE, r.params().maxTokens());
        assertEquals(1f, r.params().temperature());
        assertEquals(-1, r.logprobs());
        assertEquals(0, r.params().topLogprobs());
    }

    @Test
    void nullsMeanDefault() {
        String nulls = "\"max_tokens\":null,\"temperature\":null,\"top_p\":null,\"n\":null,\"stop\":null,"
                + "\"seed\":null,\"stream\":null,\"stream_options\":null,\"logprobs\":null,\"user\":null,"
                + "\"presence_penalty\":null,\"frequency_penalty\":null,\"logit_bias\":null,\"echo\":null,"
                + "\"best_of\":null,\"top_k\":null,\"min_p\":null,\"repetition_penalty\":null,\"ignore_eos\":null,"
                + "\"suffix\":null";
        assertEquals(RequestParser.parseCompletion(comp("")), RequestParser.parseCompletion(comp(nulls)));
        String chatNulls = "\"max_tokens\":null,\"max_completion_tokens\":null,\"logprobs\":null,"
                + "\"top_logprobs\":null,\"tools\":null,\"response_format\":null,\"temperature\":null";
        assertEquals(RequestParser.parseChat(chat("")), RequestParser.parseChat(chat(chatNulls)));
    }

    @Test
    void unknownFieldsAreIgnored() {
        CompletionRequest r = RequestParser.parseCompletion(
                comp("\"frobnicate\":{\"a\":[1,2,{}]},\"metadata\":\"x\",\"store\":true"));
        assertEquals(RequestParser.parseCompletion(comp("")), r);
        CompletionRequest c = RequestParser.parseChat(chat("\"parallel_tool_calls\":false,\"zzz\":null,\"tool_choice\":\"none\""));
        assertEquals(RequestParser.parseChat(chat("")), c);
        assertEquals(1, RequestParser.parseChat(utf8("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\","
                + "\"name\":\"bob\",\"extra\":1}]}")).messages().size());
    }

    @Test
    void everyFieldParsed() {
        CompletionRequest r = RequestParser.parseCompletion(comp("\"max_tokens\":5,\"temperature\":0,\"top_p\":0.5,"
                + "\"n\":1,\"best_of\":1,\"echo\":false,\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                + "\"stop\":[\"a\",\"bb\"],\"seed\":-7,\"presence_penalty\":-2,\"frequency_penalty\":2,"
                + "\"logit_bias\":{},\"logprobs\":3,\"user\":\"u1\",\"top_k\":40,\"min_p\":0.05,"
                + "\"repetition_penalty\":1.1,\"ignore_eos\":true,\"suffix\":\"\""));
        SamplingParams p = r.params();
        assertEquals(5, p.maxTokens());
        assertEquals(0f, p.temperature());
        assertEquals(0.5f, p.topP());
        assertTrue(r.stream());
        assertTrue(r.includeUsage());
        assertEquals(List.of("a", "bb"), p.stop());
        assertEquals(-7L, p.seed());
        assertEquals(-2f, p.presencePenalty());
        assertEquals(2f, p.frequencyPenalty());
        assertEquals(3, r.logprobs());
        assertEquals(3, p.topLogprobs());
        assertEquals("u1", r.user());
        assertEquals(40, p.topK());
        assertEquals(0.05f, p.minP());
        assertEquals(1.1f, p.repetitionPenalty());
        assertTrue(p.ignoreEos());
    }

    @Test
    void extensionsOffValues() {
        assertEquals(0, RequestParser.parseCompletion(comp("\"top_k\":-1")).params().topK());
        assertEquals(0, RequestParser.parseCompletion(comp("\"top_k\":0")).params().topK());
        assertEquals(0f, RequestParser.parseCompletion(comp("\"min_p\":0")).params().minP());
        assertEquals(1f, RequestParser.parseCompletion(comp("\"min_p\":1")).params().minP());
    }

    @Test
    void integralFloatsAndLargeSeedsAreIntegers() {
        assertEquals(16, RequestParser.parseCompletion(comp("\"max_tokens\":16.0")).params().maxTokens());
        assertEquals(Long.MAX_VALUE, RequestParser.parseCompletion(comp("\"seed\":9223372036854775807")).params().seed());
        assertEquals(Integer.MAX_VALUE,
                RequestParser.parseCompletion(comp("\"max_tokens\":2147483647")).params().maxTokens());
    }

    @Test
    void stopAsSingleString() {
        assertEquals(List.of("\n\n"), RequestParser.parseCompletion(comp("\"stop\":\"\\n\\n\"")).params().stop());
        assertEquals(List.of(), RequestParser.parseCompletion(comp("\"stop\":[]")).params().stop());
    }

    // ------------------------------------------------------------------ model, prompt

    @Test
    void modelRequiredString() {
        assertBad(err(utf8("{\"prompt\":\"x\"}"), RequestParser::parseCompletion), "model", "'model'", "required");
        assertBad(err(utf8("{\"model\":3,\"prompt\":\"x\"}"), RequestParser::parseCompletion), "model", "string", "3");
        assertBad(err(utf8("{\"model\":\"\",\"prompt\":\"x\"}"), RequestParser::parseCompletion), "model", "empty");
        assertBad(err(utf8("{\"messages\":[]}"), RequestParser::parseChat), "model", "required");
        assertBad(err(utf8("{\"input\":\"x\"}"), RequestParser::parseEmbeddings), "model", "required");
    }

    @Test
    void promptRules() {
        assertBad(err(utf8("{\"model\":\"m\"}"), RequestParser::parseCompletion), "prompt", "required");
        assertBad(err(utf8("{\"model\":\"m\",\"prompt\":null}"), RequestParser::parseCompletion), "prompt", "required");
        assertEquals("one", RequestParser.parseCompletion(utf8("{\"model\":\"m\",\"prompt\":[\"one\"]}")).prompt());
        assertEquals("", RequestParser.parseCompletion(utf8("{\"model\":\"m\",\"prompt\":\"\"}")).prompt());
        assertBad(err(utf8("{\"model\":\"m\",\"prompt\":[\"a\",\"b\"]}"), RequestParser::parseCompletion), "prompt",
                "only one prompt per request is supported");
        assertBad(err(utf8("{\"model\":\"m\",\"prompt\":[1,2,3]}"), RequestParser::parseCompletion), "prompt",
                "token arrays", "not supported");
        assertBad(err(utf8("{\"model\":\"m\",\"prompt\":[[1,2],[3]]}"), RequestParser::parseCompletion), "prompt",
                "token arrays", "not supported");
        assertBad(err(utf8("{\"model\":\"m\",\"prompt\":[]}"), RequestParser::parseCompletion), "prompt", "empty");
        assertBad(err(utf8("{\"model\":\"m\",\"prompt\":[\"a\",5]}"), RequestParser::parseCompletion), "prompt",
                "prompt[1]", "string");
        assertBad(err(utf8("{\"model\":\"m\",\"prompt\":{\"a\":1}}"), RequestParser::parseCompletion), "prompt",
                "string");
    }

    // ------------------------------------------------------------------ messages

    @Test
    void messagesRequiredNonEmptyArray() {
        assertBad(err(utf8("{\"model\":\"m\"}"), RequestParser::parseChat), "messages", "required");
        assertBad(err(utf8("{\"model\":\"m\",\"messages\":[]}"), RequestParser::parseChat), "messages", "at least one");
        assertBad(err(utf8("{\"model\":\"m\",\"messages\":\"hi\"}"), RequestParser::parseChat), "messages", "array");
        assertBad(err(utf8("{\"model\":\"m\",\"messages\":[\"hi\"]}"), RequestParser::parseChat), "messages[0]",
                "object");
    }

    static byte[] msgs(String messagesJson) {
        return utf8("{\"model\":\"m\",\"messages\":" + messagesJson + "}");
    }

    @Test
    void messageRolesAndContents() {
        CompletionRequest r = RequestParser.parseChat(msgs("[{\"role\":\"developer\",\"content\":\"d\"},"
                + "{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
                + "{\"type\":\"text\",\"text\":\"b\"}]},{\"role\":\"assistant\",\"content\":null},"
                + "{\"role\":\"tool\",\"content\":\"t\",\"tool_call_id\":\"x\"},{\"role\":\"user\",\"content\":[]}]"));
        assertEquals(List.of(new ChatMessage("system", "d"), new ChatMessage("system", "s"),
                new ChatMessage("user", "ab"), new ChatMessage("assistant", ""), new ChatMessage("tool", "t", List.of(), "x", null),
                new ChatMessage("user", "")), r.messages());
    }

    @Test
    void toolsAndToolCalls() {
        String tool = "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\"}}}";
        CompletionRequest r = RequestParser.parseChat(utf8("{\"model\":\"m\",\"tools\":[" + tool + "],\"tool_choice\":\"auto\",\"messages\":["
                + "{\"role\":\"user\",\"content\":\"w?\"},"
                + "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
                + "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\": \\\"Paris\\\"}\"}}]},"
                + "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"sunny\"}]}"));
        assertTrue(r.hasTools());
        assertEquals("get_weather", ((java.util.Map<?, ?>) ((java.util.Map<?, ?>) r.tools().get(0)).get("function")).get("name"));
        ChatMessage a = r.messages().get(1);
        assertEquals("", a.content());
        assertEquals(List.of(new ChatMessage.ToolCall("call_1", "get_weather", "{\"city\": \"Paris\"}")), a.toolCalls());
        assertEquals("call_1", r.messages().get(2).toolCallId());
        // tool_choice none: the tools are not offered
        assertFalse(RequestParser.parseChat(utf8("{\"model\":\"m\",\"tools\":[" + tool + "],\"tool_choice\":\"none\","
                + "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}")).hasTools());
    }

    @Test
    void messageErrorsNameTheMessage() {
        String ok = "{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"content\":\"y\"},";
        assertBad(err(msgs("[" + ok + "{\"role\":\"wizard\",\"content\":\"x\"}]"), RequestParser::parseChat),
                "messages[2].role", "wizard", "'user'");
        assertBad(err(msgs("[" + ok + "{\"content\":\"x\"}]"), RequestParser::parseChat),
                "messages[2].role", "required");
        assertBad(err(msgs("[" + ok + "{\"role\":7,\"content\":\"x\"}]"), RequestParser::parseChat),
                "messages[2].role", "7");
        assertBad(err(msgs("[" + ok + "{\"role\":\"user\"}]"), RequestParser::parseChat),
                "messages[2].content", "required");
        assertBad(err(msgs("[" + ok + "{\"role\":\"user\",\"content\":42}]"), RequestParser::parseChat),
                "messages[2].content", "string or an array", "42");
        assertBad(err(msgs("[" + ok + "{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}]"),
                RequestParser::parseChat), "messages[2].content[0].type", "image_url", "not supported");
        assertBad(err(msgs("[" + ok + "{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]"),
                RequestParser::parseChat), "messages[2].content[0].text", "string");
        assertBad(err(msgs("[" + ok + "{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}]"),
                RequestParser::parseChat), "messages[2].content[0].type", "string");
        assertBad(err(msgs("[" + ok + "{\"role\":\"user\",\"content\":[\"a\"]}]"),
                RequestParser::parseChat), "messages[2].content[0]", "object");
    }

    // ------------------------------------------------------------------ numbers

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
            "\"temperature\":\"hot\"   | temperature       | 'temperature' must be a number between 0 and 2, got \"hot\"",
            "\"temperature\":2.01      | temperature       | between 0 and 2",
            "\"temperature\":-0.1      | temperature       | between 0 and 2",
            "\"temperature\":1e999     | temperature       | between 0 and 2",
            "\"top_p\":0               | top_p             | greater than 0 and at most 1",
            "\"top_p\":1.5             | top_p             | at most 1",
            "\"top_p\":true            | top_p             | number",
            "\"presence_penalty\":2.5  | presence_penalty  | between -2 and 2",
            "\"frequency_penalty\":-3  | frequency_penalty | between -2 and 2",
            "\"frequency_penalty\":\"1\" | frequency_penalty | number",
            "\"max_tokens\":0          | max_tokens        | 'max_tokens' must be an integer >= 1, got 0",
            "\"max_tokens\":-5         | max_tokens        | integer >= 1",
            "\"max_tokens\":1.5        | max_tokens        | integer",
            "\"max_tokens\":\"10\"     | max_tokens        | integer",
            "\"max_tokens\":2147483648 | max_tokens        | integer",
            "\"n\":17                  | n                 | integer",
            "\"n\":0                   | n                 | between 1 and 16",
            "\"best_of\":3             | best_of           | best_of > 1 is not supported",
            "\"echo\":true             | echo              | 'echo' is not supported",
            "\"echo\":\"no\"           | echo              | boolean",
            "\"stream\":\"yes\"        | stream            | 'stream' must be a boolean",
            "\"stream\":1              | stream            | boolean",
            "\"seed\":1.5              | seed              | 'seed' must be an integer",
            "\"seed\":\"1\"            | seed              | integer",
            "\"seed\":99999999999999999999 | seed          | integer",
            "\"logit_bias\":{\"50256\":-100} | logit_bias  | not supported",
            "\"logit_bias\":[]         | logit_bias        | object",
            "\"logprobs\":6            | logprobs          | between 0 and 5",
            "\"logprobs\":-1           | logprobs          | between 0 and 5",
            "\"logprobs\":true         | logprobs          | integer",
            "\"user\":5                | user              | 'user' must be a string",
            "\"top_k\":-2              | top_k             | integer >= -1",
            "\"top_k\":2.5             | top_k             | integer",
            "\"min_p\":1.5             | min_p             | between 0 and 1",
            "\"repetition_penalty\":0  | repetition_penalty | greater than 0",
            "\"repetition_penalty\":-1 | repetition_penalty | greater than 0",
            "\"ignore_eos\":1          | ignore_eos        | boolean",
            "\"suffix\":\"x\"          | suffix            | not supported",
            "\"suffix\":1              | suffix            | string",
    })
    void completionFieldErrors(String extra, String param, String words) {
        assertBad(compErr(extra.trim()), param.trim(), words.trim());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
            "\"temperature\":[1]                    | temperature            | between 0 and 2",
            "\"max_tokens\":0                       | max_tokens             | integer >= 1",
            "\"max_completion_tokens\":0            | max_completion_tokens  | integer >= 1",
            "\"max_completion_tokens\":\"x\"        | max_completion_tokens  | integer",
            "\"n\":0                                | n                      | between 1 and 16",
            "\"logprobs\":1                         | logprobs               | boolean",
            "\"logprobs\":true,\"top_logprobs\":21  | top_logprobs           | between 0 and 20",
            "\"logprobs\":true,\"top_logprobs\":-1  | top_logprobs           | between 0 and 20",
            "\"top_logprobs\":2                     | top_logprobs           | requires 'logprobs' to be true",
            "\"logprobs\":false,\"top_logprobs\":2  | top_logprobs           | requires 'logprobs'",
            "\"tools\":[{\"type\":\"function\"}]    | tools[0].function      | must be an object",
            "\"tools\":{}                         | tools                  | must be an array",
            "\"chat_template_kwargs\":[1]         | chat_template_kwargs   | must be an object",
            "\"tools\":[{\"type\":\"x\"}]           | tools[0]               | type",
            "\"tool_choice\":\"required\"          | tool_choice            | at least one tool",
            "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"x\"}}}}}],\"tool_choice\":\"required\" | tools | 'pattern'",
            "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":\"required\",\"response_format\":{\"type\":\"json_object\"} | response_format | cannot be combined",
            "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"g\"}} | tool_choice | not in 'tools'",
            "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":\"sometimes\" | tool_choice | must be",
            "\"functions\":[{\"name\":\"f\"}]       | functions              | not supported",
            "\"response_format\":{\"type\":\"yaml\"} | response_format | must be",
            "\"response_format\":{\"type\":\"json_schema\"} | response_format.json_schema.schema | JSON Schema object",
            "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"integer\",\"minimum\":0}}} | response_format.json_schema.schema | 'minimum'",
            "\"response_format\":\"json\"           | response_format        | object",
            "\"logit_bias\":{\"1\":1}               | logit_bias             | not supported",
            "\"stop\":\"\"                          | stop                   | non-empty",
            "\"user\":[]                            | user                   | string",
    })
    void chatFieldErrors(String extra, String param, String words) {
        assertBad(chatErr(extra.trim()), param.trim(), words.trim());
    }

    @Test
    void responseFormatsAndForcedToolCallsBecomeSchemas() {
        assertNull(RequestParser.parseChat(chat("\"response_format\":{\"type\":\"text\"}")).params().jsonSchema());
        assertEquals("{\"type\":\"object\"}",
                RequestParser.parseChat(chat("\"response_format\":{\"type\":\"json_object\"}")).params().jsonSchema());
        CompletionRequest s = RequestParser.parseChat(chat("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
                + "{\"name\":\"p\",\"strict\":true,\"schema\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}}}"));
        assertEquals("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}", s.params().jsonSchema());
        assertFalse(s.forcedToolCall());

        String tools = "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
                + "\"properties\":{\"city\":{\"$ref\":\"#/$defs/City\"}},\"required\":[\"city\"],\"$defs\":{\"City\":{\"type\":\"string\"}}}}},"
                + "{\"type\":\"function\",\"function\":{\"name\":\"now\"}}]";
        CompletionRequest required = RequestParser.parseChat(chat(tools + ",\"tool_choice\":\"required\""));
        assertTrue(required.forcedToolCall());
        assertEquals(2, required.tools().size());
        dev.troupe.engine.grammar.JsonShape call = dev.troupe.engine.grammar.JsonSchemaCompiler.compile(required.params().jsonSchema());
        assertTrue(accepts(call, "{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}"));
        assertTrue(accepts(call, "{\"name\":\"now\",\"arguments\":{}}"));
        assertFalse(accepts(call, "{\"name\":\"get_weather\",\"arguments\":{}}"), "its required argument");
        assertFalse(accepts(call, "{\"name\":\"other\",\"arguments\":{}}"), "a function not offered");

        CompletionRequest named = RequestParser.parseChat(chat(tools + ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"now\"}}"));
        call = dev.troupe.engine.grammar.JsonSchemaCompiler.compile(named.params().jsonSchema());
        assertTrue(accepts(call, "{\"name\":\"now\",\"arguments\":{\"x\":1}}"));
        assertFalse(accepts(call, "{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}"), "only the named function");
        assertFalse(RequestParser.parseChat(chat(tools + ",\"tool_choice\":\"auto\"")).forcedToolCall());
    }

    private static boolean accepts(dev.troupe.engine.grammar.JsonShape shape, String text) {
        dev.troupe.engine.grammar.JsonMatcher m = new dev.troupe.engine.grammar.JsonMatcher(shape);
        return m.accept(text.getBytes(StandardCharsets.UTF_8)) && m.complete();
    }

    @Test
    void maxCompletionTokensWins() {
        assertEquals(7, RequestParser.parseChat(chat("\"max_tokens\":100,\"max_completion_tokens\":7")).params().maxTokens());
        assertEquals(100, RequestParser.parseChat(chat("\"max_tokens\":100")).params().maxTokens());
        assertEquals(9, RequestParser.parseChat(chat("\"max_completion_tokens\":9")).params().maxTokens());
        // both are still validated
        assertBad(chatErr("\"max_tokens\":0,\"max_completion_tokens\":7"), "max_tokens", "integer >= 1");
    }

    @Test
    void chatLogprobs() {
        CompletionRequest a = RequestParser.parseChat(chat("\"logprobs\":true"));
        assertEquals(0, a.logprobs());
        assertTrue(a.wantsLogprobs());
        assertEquals(0, a.params().topLogprobs());
        CompletionRequest b = RequestParser.parseChat(chat("\"logprobs\":true,\"top_logprobs\":20"));
        assertEquals(20, b.logprobs());
        assertEquals(20, b.params().topLogprobs());
        CompletionRequest c = RequestParser.parseChat(chat("\"logprobs\":false"));
        assertEquals(-1, c.logprobs());
        assertEquals(0, c.params().topLogprobs());
        CompletionRequest d = RequestParser.parseChat(chat("\"response_format\":{\"type\":\"text\"},\"tools\":[]"));
        assertEquals(-1, d.logprobs());
    }

    @Test
    void completionLogprobsZeroMeansChosenTokenOnly() {
        CompletionRequest r = RequestParser.parseCompletion(comp("\"logprobs\":0"));
        assertEquals(0, r.logprobs());
        assertTrue(r.wantsLogprobs());
        assertEquals(0, r.params().topLogprobs());
        assertEquals(5, RequestParser.parseCompletion(comp("\"logprobs\":5")).params().topLogprobs());
    }

    // ------------------------------------------------------------------ stop, stream

    @Test
    void stopRules() {
        assertEquals(4, RequestParser.parseCompletion(comp("\"stop\":[\"a\",\"b\",\"c\",\"d\"]")).params().stop().size());
        assertBad(compErr("\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]"), "stop", "at most 4", "5");
        assertBad(compErr("\"stop\":[\"a\",\"\"]"), "stop", "non-empty", "stop[1]");
        assertBad(compErr("\"stop\":\"\""), "stop", "non-empty");
        assertBad(compErr("\"stop\":[\"a\",3]"), "stop", "stop[1]", "string");
        assertBad(compErr("\"stop\":[null]"), "stop", "string");
        assertBad(compErr("\"stop\":7"), "stop", "string or an array");
    }

    @Test
    void streamOptions() {
        assertBad(compErr("\"stream_options\":{\"include_usage\":true}"), "stream_options", "only allowed",
                "'stream' is true");
        assertBad(chatErr("\"stream\":false,\"stream_options\":{}"), "stream_options", "only allowed");
        assertBad(compErr("\"stream\":true,\"stream_options\":true"), "stream_options", "object");
        assertBad(compErr("\"stream\":true,\"stream_options\":{\"include_usage\":\"yes\"}"),
                "stream_options.include_usage", "boolean");
        CompletionRequest r = RequestParser.parseChat(chat("\"stream\":true,\"stream_options\":{}"));
        assertTrue(r.stream());
        assertFalse(r.includeUsage());
        CompletionRequest u = RequestParser.parseChat(chat("\"stream\":true,\"stream_options\":{\"include_usage\":true}"));
        assertTrue(u.includeUsage());
    }

    // ------------------------------------------------------------------ embeddings

    static byte[] emb(String extra) {
        return utf8("{\"model\":\"e\"" + (extra.isEmpty() ? "" : "," + extra) + "}");
    }

    @Test
    void embeddingsInputs() {
        assertEquals(new EmbeddingRequest("e", List.of("hello")), RequestParser.parseEmbeddings(emb("\"input\":\"hello\"")));
        assertEquals(List.of("a", "b"), RequestParser.parseEmbeddings(emb("\"input\":[\"a\",\"b\"],\"encoding_format\":\"float\","
                + "\"user\":\"u\",\"unknown\":1")).inputs());
        StringBuilder many = new StringBuilder("\"input\":[");
        for (int i = 0; i < 2048; i++) {
            many.append(i == 0 ? "" : ",").append("\"x\"");
        }
        assertEquals(2048, RequestParser.parseEmbeddings(emb(many + "]")).inputs().size());
        assertBad(err(emb(many + ",\"y\"]"), RequestParser::parseEmbeddings), "input", "at most 2048", "2049");
    }

    @Test
    void embeddingsErrors() {
        assertBad(err(emb(""), RequestParser::parseEmbeddings), "input", "required");
        assertBad(err(emb("\"input\":\"\""), RequestParser::parseEmbeddings), "input", "empty");
        assertBad(err(emb("\"input\":[]"), RequestParser::parseEmbeddings), "input", "empty array");
        assertBad(err(emb("\"input\":[\"a\",\"\"]"), RequestParser::parseEmbeddings), "input", "input[1]", "empty");
        assertBad(err(emb("\"input\":[\"a\",1]"), RequestParser::parseEmbeddings), "input", "input[1]", "string");
        assertBad(err(emb("\"input\":[1,2]"), RequestParser::parseEmbeddings), "input", "token arrays", "not supported");
        assertBad(err(emb("\"input\":[[1],[2]]"), RequestParser::parseEmbeddings), "input", "token arrays");
        assertBad(err(emb("\"input\":5"), RequestParser::parseEmbeddings), "input", "string or an array");
        assertTrue(RequestParser.parseEmbeddings(emb("\"input\":\"a\",\"encoding_format\":\"base64\"")).base64());
        assertBad(err(emb("\"input\":\"a\",\"encoding_format\":\"hex\""), RequestParser::parseEmbeddings),
                "encoding_format", "'float'");
        assertBad(err(emb("\"input\":\"a\",\"encoding_format\":1"), RequestParser::parseEmbeddings),
                "encoding_format", "string");
        assertBad(err(emb("\"input\":\"a\",\"dimensions\":256"), RequestParser::parseEmbeddings),
                "dimensions", "not supported");
        assertBad(err(emb("\"input\":\"a\",\"user\":1"), RequestParser::parseEmbeddings), "user", "string");
    }
}
