package dev.troupe.node.openai;

import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.troupe.node.openai.ChatTemplate.ToolCallFormat.LLAMA3_JSON;
import static dev.troupe.node.openai.ChatTemplate.ToolCallFormat.NONE;
import static dev.troupe.node.openai.ChatTemplate.ToolCallFormat.QWEN_XML;
import static org.junit.jupiter.api.Assertions.*;

class ToolCallParserTest {
    @Test
    void qwenBlocksBecomeCallsAndTheRestIsContent() {
        ToolCallParser.Parsed p = ToolCallParser.parse("Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call>\n"
                + "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>", QWEN_XML);
        assertEquals("Let me check.", p.content());
        assertEquals(2, p.calls().size());
        assertEquals("get_weather", p.calls().get(0).name());
        assertEquals("{\"city\":\"Paris\",\"days\":2}", p.calls().get(0).arguments());
        assertEquals("{}", p.calls().get(1).arguments());
        assertTrue(p.calls().get(0).id().matches("call_[0-9a-f]{24}"));
        assertNotEquals(p.calls().get(0).id(), p.calls().get(1).id());
    }

    @Test
    void qwenOnlyCallsHaveNullContent() {
        ToolCallParser.Parsed p = ToolCallParser.parse("<tool_call>\n{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}\n</tool_call>", QWEN_XML);
        assertNull(p.content());
        assertEquals("{\"a\":1}", p.calls().get(0).arguments());
    }

    @Test
    void malformedOrUnclosedCallsLeaveTheTextAlone() {
        String bad = "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": }\n</tool_call>";
        assertEquals(new ToolCallParser.Parsed(bad, List.of()), ToolCallParser.parse(bad, QWEN_XML));
        String unclosed = "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}";
        assertFalse(ToolCallParser.parse(unclosed, QWEN_XML).hasCalls());
        String noName = "<tool_call>{\"arguments\": {}}</tool_call>";
        assertFalse(ToolCallParser.parse(noName, QWEN_XML).hasCalls());
        assertFalse(ToolCallParser.parse("plain answer", QWEN_XML).hasCalls());
        assertFalse(ToolCallParser.parse("<tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call>", NONE).hasCalls());
    }

    @Test
    void llamaJsonCalls() {
        ToolCallParser.Parsed p = ToolCallParser.parse(" {\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris; France\"}} ", LLAMA3_JSON);
        assertNull(p.content());
        assertEquals(1, p.calls().size());
        assertEquals("{\"city\":\"Paris; France\"}", p.calls().get(0).arguments());
        ToolCallParser.Parsed two = ToolCallParser.parse("<|python_tag|>{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"arguments\": {\"x\": [1, 2]}}", LLAMA3_JSON);
        assertEquals(List.of("a", "b"), two.calls().stream().map(ChatMessage.ToolCall::name).toList());
    }

    @Test
    void llamaTextIsNotACall() {
        assertFalse(ToolCallParser.parse("The weather is {\"nice\": true}", LLAMA3_JSON).hasCalls());
        assertFalse(ToolCallParser.parse("{\"name\": \"f\", \"parameters\": {}} and then some text", LLAMA3_JSON).hasCalls());
        assertFalse(ToolCallParser.parse("{\"title\": \"not a call\"}", LLAMA3_JSON).hasCalls());
    }
}
