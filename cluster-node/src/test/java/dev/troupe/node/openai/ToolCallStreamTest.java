package dev.troupe.node.openai;

import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.troupe.node.openai.ChatTemplate.ToolCallFormat.LLAMA3_JSON;
import static dev.troupe.node.openai.ChatTemplate.ToolCallFormat.QWEN_XML;
import static org.junit.jupiter.api.Assertions.*;

class ToolCallStreamTest {
    /** Feeds text in pieces and returns what was sent as content, the end's content appended, and the end. */
    private static Object[] run(ChatTemplate.ToolCallFormat f, List<String> pieces) {
        ToolCallStream s = new ToolCallStream(f);
        StringBuilder text = new StringBuilder();
        StringBuilder sent = new StringBuilder();
        for (String p : pieces) {
            text.append(p);
            sent.append(s.push(text.toString()));
        }
        ToolCallStream.End end = s.finish(text.toString());
        if (end.content() != null) sent.append(end.content());
        return new Object[]{sent.toString(), end};
    }

    @Test
    void qwenTextStreamsUntilATagAndTheCallComesAtTheEnd() {
        ToolCallStream s = new ToolCallStream(QWEN_XML);
        assertEquals("Let me", s.push("Let me"));
        assertEquals(" check", s.push("Let me check<tool"));      // "<tool" could start a tag: held
        assertEquals(".\n", s.push("Let me check<tool".replace("<tool", ".\n<tool_c")));
        String full = "Let me check.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call>";
        assertEquals("", s.push(full));
        ToolCallStream.End end = s.finish(full);
        assertNull(end.content());
        assertEquals("f", end.calls().get(0).name());
    }

    @Test
    void qwenTextThatOnlyLooksLikeATagIsSentInFull() {
        Object[] r = run(QWEN_XML, List.of("a <to", "y> b", " <tool_call>not json</tool_call>"));
        assertEquals("a <toy> b <tool_call>not json</tool_call>", r[0]);
        assertTrue(((ToolCallStream.End) r[1]).calls().isEmpty());
    }

    @Test
    void llamaJsonIsHeldWholeAndProseStreams() {
        Object[] call = run(LLAMA3_JSON, List.of(" ", "{\"name\": \"f\", ", "\"parameters\": {}}"));
        assertEquals("", call[0]);
        assertEquals(1, ((ToolCallStream.End) call[1]).calls().size());
        ToolCallStream s = new ToolCallStream(LLAMA3_JSON);
        assertEquals("", s.push(" "));
        assertEquals(" Hello", s.push(" Hello"));
        assertEquals(" {x}", s.push(" Hello {x}"));
        Object[] notACall = run(LLAMA3_JSON, List.of("{\"title\": ", "\"x\"}"));
        assertEquals("{\"title\": \"x\"}", notACall[0]);
    }

    @Test
    void partialPrefix() {
        assertEquals(5, ToolCallStream.partialPrefix("ab<tool", "<tool_call>"));
        assertEquals(0, ToolCallStream.partialPrefix("ab<toy", "<tool_call>"));
        assertEquals(1, ToolCallStream.partialPrefix("<", "<tool_call>"));
    }
}
