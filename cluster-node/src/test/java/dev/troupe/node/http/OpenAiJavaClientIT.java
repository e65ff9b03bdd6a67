package dev.troupe.node.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.models.FunctionDefinition;
import com.openai.models.FunctionParameters;
import com.openai.models.ResponseFormatJsonObject;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionFunctionTool;
import com.openai.models.chat.completions.ChatCompletionMessageFunctionToolCall;
import com.openai.models.chat.completions.ChatCompletionToolChoiceOption;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.embeddings.EmbeddingCreateParams;
import dev.troupe.node.ServeCommand;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The official OpenAI Java SDK ({@code com.openai:openai-java}), unchanged and with its defaults, against a real
 * node: completions and chat, streaming and not, embeddings, a model by id, JSON mode, structured output from a
 * Java class, and a forced tool call.
 */
class OpenAiJavaClientIT {
    private static ServeCommand.Node node;
    private static OpenAIClient client;
    private static JsonNode reference;

    /** What structured output maps the reply onto (the SDK derives the JSON schema from this class). */
    public static class Pet {
        public String name;
        public long age;
        public boolean friendly;
    }

    @BeforeAll
    static void start() throws Exception {
        reference = ServeIT.JSON.readTree(Files.readAllLines(ServeIT.shared("stories260K-greedy.jsonl")).get(1));
        node = ServeIT.startNode("stories260K-f32.gguf", "troupe.engine.threads = 2\ntroupe.engine.warm-up = 0s\ntroupe.shutdown.grace = 2s");
        client = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + node.port() + "/v1").apiKey("unused-on-loopback")
                .maxRetries(0).build();
    }

    @AfterAll
    static void stop() {
        if (client != null) client.close();
        if (node != null) node.stop();
    }

    @Test
    void completionsPlainAndStreamedGiveTheReferenceText() {
        CompletionCreateParams p = CompletionCreateParams.builder().model("stories").prompt(reference.get("prompt").asText())
                .maxTokens(reference.get("max_tokens").asLong()).temperature(0).build();
        Completion c = client.completions().create(p);
        assertEquals(reference.get("completion").asText(), c.choices().get(0).text());
        StringBuilder streamed = new StringBuilder();
        try (StreamResponse<Completion> s = client.completions().createStreaming(p)) {
            s.stream().forEach(chunk -> chunk.choices().forEach(ch -> streamed.append(ch.text())));
        }
        assertEquals(reference.get("completion").asText(), streamed.toString());
    }

    @Test
    void chatPlainAndStreamedAgree() {
        ChatCompletionCreateParams p = ChatCompletionCreateParams.builder().model("stories").addUserMessage("Tell me about a dog.")
                .maxCompletionTokens(24).temperature(0).build();
        ChatCompletion c = client.chat().completions().create(p);
        String text = c.choices().get(0).message().content().orElseThrow();
        assertFalse(text.isEmpty());
        StringBuilder streamed = new StringBuilder();
        try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(p)) {
            s.stream().forEach(chunk -> chunk.choices().forEach(ch -> ch.delta().content().ifPresent(streamed::append)));
        }
        assertEquals(text, streamed.toString());
    }

    @Test
    void severalChoices() {
        ChatCompletion c = client.chat().completions().create(ChatCompletionCreateParams.builder().model("stories")
                .addUserMessage("Tell me about a dog.").maxCompletionTokens(16).temperature(1).seed(5).n(3).build());
        assertEquals(3, c.choices().size());
        for (int i = 0; i < 3; i++) assertEquals(i, c.choices().get(i).index());
        assertTrue(c.usage().orElseThrow().completionTokens() >= 3);
    }

    @Test
    void embeddingsWithTheSdkDefaultsEqualTheFloatVectors() throws Exception {
        List<Float> v = client.embeddings().create(EmbeddingCreateParams.builder().model("stories").input("a cat").build())
                .data().get(0).embedding();
        java.net.http.HttpResponse<String> r = ServeIT.HTTP.send(java.net.http.HttpRequest.newBuilder(
                        java.net.URI.create("http://127.0.0.1:" + node.port() + "/v1/embeddings")).header("Content-Type", "application/json")
                        .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"model\":\"stories\",\"input\":\"a cat\",\"encoding_format\":\"float\"}")).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        JsonNode floats = ServeIT.JSON.readTree(r.body()).get("data").get(0).get("embedding");
        assertEquals(floats.size(), v.size());
        for (int i = 0; i < v.size(); i++) assertEquals((float) floats.get(i).asDouble(), v.get(i), 0f, "component " + i);
    }

    @Test
    void aModelById() {
        assertEquals("stories", client.models().retrieve("stories").id());
    }

    @Test
    void jsonModeGivesAJsonObject() throws Exception {
        // A 260K-parameter story model keeps adding keys: its replies reach max tokens before the object closes.
        // Each must still be the start of one, by an independent parser (structured output below ends whole).
        for (long seed = 1; seed <= 4; seed++) {
            ChatCompletion c = client.chat().completions().create(ChatCompletionCreateParams.builder().model("stories")
                    .addUserMessage("Describe a cat as JSON.").maxCompletionTokens(90).temperature(1).seed(seed)
                    .responseFormat(ResponseFormatJsonObject.builder().build()).build());
            String content = c.choices().get(0).message().content().orElseThrow();
            assertTrue(content.stripLeading().startsWith("{"), content);
            if (c.choices().get(0).finishReason() == ChatCompletion.Choice.FinishReason.STOP) {
                assertTrue(ServeIT.JSON.readTree(content).isObject(), content);
            } else {
                assertEquals(ChatCompletion.Choice.FinishReason.LENGTH, c.choices().get(0).finishReason());
                assertJsonPrefix(content);
            }
        }
    }

    /** Text that a JSON parser reads without error up to its end, where it only runs out of input. */
    private static void assertJsonPrefix(String text) throws Exception {
        try (com.fasterxml.jackson.core.JsonParser p = ServeIT.JSON.getFactory().createParser(text)) {
            while (p.nextToken() != null) {
                // reading is the check
            }
            fail("a whole value where max tokens cut it short: " + text);
        } catch (com.fasterxml.jackson.core.io.JsonEOFException expected) {
            // cut short inside the value: a prefix
        }
    }

    @Test
    void structuredOutputFillsAJavaClass() {
        for (long seed = 1; seed <= 3; seed++) {
            Pet pet = client.chat().completions().create(ChatCompletionCreateParams.builder().model("stories")
                            .addUserMessage("Name a pet.").maxCompletionTokens(90).temperature(0.7).seed(seed)
                            .responseFormat(Pet.class).build())
                    .choices().get(0).message().content().orElseThrow();
            assertNotNull(pet.name, "seed " + seed);
        }
    }

    @Test
    void aRequiredToolCallComesBackAsToolCalls() throws Exception {
        FunctionParameters params = FunctionParameters.builder()
                .putAdditionalProperty("type", JsonValue.from("object"))
                .putAdditionalProperty("properties", JsonValue.from(Map.of("city", Map.of("type", "string", "maxLength", 20),
                        "days", Map.of("type", "integer"))))
                .putAdditionalProperty("required", JsonValue.from(List.of("city", "days"))).build();
        ChatCompletion c = client.chat().completions().create(ChatCompletionCreateParams.builder().model("stories")
                .addUserMessage("What is the weather in Oslo?").maxCompletionTokens(90).temperature(0)
                .addTool(ChatCompletionFunctionTool.builder().function(FunctionDefinition.builder().name("get_weather")
                        .description("The forecast for a city").parameters(params).build()).build())
                .toolChoice(ChatCompletionToolChoiceOption.Auto.REQUIRED).build());
        ChatCompletion.Choice choice = c.choices().get(0);
        assertEquals(ChatCompletion.Choice.FinishReason.TOOL_CALLS, choice.finishReason(), c.toString());
        ChatCompletionMessageFunctionToolCall call = choice.message().toolCalls().orElseThrow().get(0).asFunction();
        assertEquals("get_weather", call.function().name());
        JsonNode args = ServeIT.JSON.readTree(call.function().arguments());
        assertTrue(args.get("city").isTextual() && args.get("days").isIntegralNumber(), call.function().arguments());
        assertFalse(call.id().isEmpty());
    }
}
