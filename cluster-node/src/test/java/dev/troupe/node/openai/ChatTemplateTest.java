package dev.troupe.node.openai;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ChatTemplateTest {
    static final List<ChatMessage> THREE = List.of(
            new ChatMessage("system", "You are terse."),
            new ChatMessage("user", "Hi there"),
            new ChatMessage("assistant", "Hello!"));

    static final List<ChatMessage> MULTI_TURN = List.of(
            new ChatMessage("system", "You are terse."),
            new ChatMessage("user", "Hi there"),
            new ChatMessage("assistant", "Hello!"),
            new ChatMessage("user", "2+2?"));

    // Abbreviated real-world template sources: detection only looks at markers.
    static final String QWEN = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
            + "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
            + "{{ '<|im_start|>assistant\\n' }}{% endif %}";
    static final String LLAMA3 = "{% set loop_messages = messages %}{% for message in loop_messages %}"
            + "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ "
            + "message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + "
            + "content %}{% endif %}{{ content }}{% endfor %}";
    static final String LLAMA2 = "{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\\n' + "
            + "messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}{% endif %}{{ bos_token + '[INST] ' + "
            + "content.strip() + ' [/INST]' }}";
    static final String MISTRAL = "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
            + "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
            + "{{ message['content'] + eos_token}}{% endif %}{% endfor %}";

    @Test
    void detection() {
        assertEquals("chatml", ChatTemplate.fromGguf(QWEN).name());
        assertEquals("llama3", ChatTemplate.fromGguf(LLAMA3).name());
        assertEquals("llama2", ChatTemplate.fromGguf(LLAMA2).name());
        assertEquals("mistral", ChatTemplate.fromGguf(MISTRAL).name());
        assertEquals("plain", ChatTemplate.fromGguf(null).name());
        assertEquals("plain", ChatTemplate.fromGguf("").name());
        assertEquals("plain", ChatTemplate.fromGguf("{{ messages[0]['content'] }}").name());
        assertSame(ChatTemplate.CHATML, ChatTemplate.fromGguf(QWEN));
    }

    @Test
    void chatml() {
        ChatTemplate t = ChatTemplate.fromGguf(QWEN);
        assertEquals("<|im_start|>system\nYou are terse.<|im_end|>\n"
                + "<|im_start|>user\nHi there<|im_end|>\n"
                + "<|im_start|>assistant\nHello!<|im_end|>\n"
                + "<|im_start|>assistant\n", t.render(THREE));
        assertEquals("<|im_start|>system\nYou are terse.<|im_end|>\n"
                + "<|im_start|>user\nHi there<|im_end|>\n"
                + "<|im_start|>assistant\nHello!<|im_end|>\n"
                + "<|im_start|>user\n2+2?<|im_end|>\n"
                + "<|im_start|>assistant\n", t.render(MULTI_TURN));
        assertEquals(List.of(), t.stopStrings());
    }

    @Test
    void llama3LeavesOutBosAndTrims() {
        ChatTemplate t = ChatTemplate.fromGguf(LLAMA3);
        assertEquals("<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n", t.render(THREE));
        String multi = t.render(MULTI_TURN);
        assertFalse(multi.contains("<|begin_of_text|>"));
        assertTrue(multi.endsWith("<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n"));
        assertEquals("<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
                        + "<|start_header_id|>assistant<|end_header_id|>\n\n",
                t.render(List.of(new ChatMessage("user", "  hi \n"))));
    }

    @Test
    void llama2() {
        ChatTemplate t = ChatTemplate.fromGguf(LLAMA2);
        assertEquals("[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi there [/INST] Hello! </s>", t.render(THREE));
        assertEquals("[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi there [/INST] Hello! </s>"
                + "<s>[INST] 2+2? [/INST]", t.render(MULTI_TURN));
        assertEquals("[INST] hi [/INST]", t.render(List.of(new ChatMessage("user", " hi "))));
        assertEquals("[INST] <<SYS>>\nbe nice\n<</SYS>>\n\n [/INST]",
                t.render(List.of(new ChatMessage("system", "be nice"))));
    }

    @Test
    void mistral() {
        ChatTemplate t = ChatTemplate.fromGguf(MISTRAL);
        assertEquals("[INST] You are terse.\n\nHi there [/INST]Hello!</s>", t.render(THREE));
        assertEquals("[INST] You are terse.\n\nHi there [/INST]Hello!</s>[INST] 2+2? [/INST]", t.render(MULTI_TURN));
        assertEquals("[INST] hi [/INST]", t.render(List.of(new ChatMessage("user", "hi"))));
        assertEquals("[INST] tool out [/INST]", t.render(List.of(new ChatMessage("tool", "tool out"))));
    }

    @Test
    void plainDefault() {
        ChatTemplate t = ChatTemplate.fromGguf(null);
        assertEquals("System: You are terse.\n\nUser: Hi there\n\nAssistant: Hello!\n\nAssistant:", t.render(THREE));
        assertEquals("System: You are terse.\n\nUser: Hi there\n\nAssistant: Hello!\n\nUser: 2+2?\n\nAssistant:",
                t.render(MULTI_TURN));
        assertEquals("User: hi\n\nTool: 42\n\nAssistant:",
                t.render(List.of(new ChatMessage("user", "hi"), new ChatMessage("tool", "42"))));
        assertEquals(List.of("\nUser:"), t.stopStrings());
        assertEquals("Assistant:", t.render(List.of()));
    }

    @Test
    void renderedFromParsedRequest() {
        CompletionRequest r = RequestParser.parseChat(RequestParserTest.utf8("{\"model\":\"m\",\"messages\":["
                + "{\"role\":\"developer\",\"content\":\"Be brief.\"},"
                + "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hello, \"},{\"type\":\"text\",\"text\":\"world\"}]}]}"));
        assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello, world<|im_end|>\n"
                + "<|im_start|>assistant\n", ChatTemplate.CHATML.render(r.messages()));
    }
}
