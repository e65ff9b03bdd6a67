package dev.troupe.node.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.actors.replica.GenerationEvent.FinishReason;
import dev.troupe.actors.replica.GenerationEvent.TokenLogprob;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ResponseRendererTest {
    static final ObjectMapper M = new ObjectMapper();
    static final String TRICKY = "say \"hi\"\nback\\slash\ttab \u00e9\u4f60\ud83d\ude00 \u0001 </script>";

    static JsonNode parse(String json) throws Exception {
        return M.readTree(json);
    }

    static List<String> names(JsonNode n) {
        List<String> out = new ArrayList<>();
        n.fieldNames().forEachRemaining(out::add);
        return out;
    }

    static TokenLogprob tok(int id, String text, float lp, String[] topTexts, float[] topLps) {
        int[] topIds = new int[topTexts.length];
        for (int i = 0; i < topIds.length; i++) {
            topIds[i] = 100 + i;
        }
        return new TokenLogprob(id, text, lp, topIds, topTexts, topLps);
    }

    static final TokenLogprob T_HELLO = tok(1, "Hello", -0.25f, new String[]{"Hello", "Hi"}, new float[]{-0.25f, -1.5f});
    static final TokenLogprob T_COMMA = tok(2, ",", -0.5f, new String[]{",", "!"}, new float[]{-0.5f, -1f});
    static final TokenLogprob T_E = tok(3, " \u00e9", -2f, new String[]{" \u00e9", " e"}, new float[]{-2f, -2.5f});

    // ------------------------------------------------------------------ errors, SSE

    @Test
    void apiErrorJsonAndFactories() throws Exception {
        ApiError e = ApiError.badRequest("'n' \"bad\"\n", "n");
        JsonNode j = parse(e.toJson());
        assertEquals(List.of("error"), names(j));
        JsonNode err = j.get("error");
        assertEquals(List.of("message", "type", "param", "code"), names(err));
        assertEquals("'n' \"bad\"\n", err.get("message").textValue());
        assertEquals("invalid_request_error", err.get("type").textValue());
        assertEquals("n", err.get("param").textValue());
        assertTrue(err.get("code").isNull());

        ApiError nf = ApiError.notFound("no such model", "model", "model_not_found");
        assertEquals(404, nf.status());
        assertEquals("model_not_found", parse(nf.toJson()).at("/error/code").textValue());
        JsonNode internal = parse(ApiError.internal("boom").toJson()).get("error");
        assertTrue(internal.get("param").isNull());
        assertTrue(internal.get("code").isNull());
        assertEquals("{\"error\":{\"message\":\"boom\",\"type\":\"server_error\",\"param\":null,\"code\":null}}",
                ApiError.internal("boom").toJson());

        assertStatus(ApiError.tooLarge("x"), 413, "invalid_request_error");
        assertStatus(ApiError.rateLimited("x"), 429, "rate_limit_error");
        assertStatus(ApiError.unavailable("x"), 503, "service_unavailable");
        assertStatus(ApiError.timeout("x"), 504, "timeout");
        assertStatus(ApiError.internal("x"), 500, "server_error");
        assertStatus(ApiError.badRequest("x", null), 400, "invalid_request_error");
        assertEquals("x", ApiError.tooLarge("x").getMessage());
    }

    static void assertStatus(ApiError e, int status, String type) {
        assertEquals(status, e.status());
        assertEquals(type, e.type());
    }

    @Test
    void failureKindsMapToErrors() {
        assertStatus(ApiError.forFailure(GenerationEvent.FailureKind.QUEUE_FULL, "full"), 429, "rate_limit_error");
        assertStatus(ApiError.forFailure(GenerationEvent.FailureKind.DEADLINE_EXCEEDED, "late"), 504, "timeout");
        assertStatus(ApiError.forFailure(GenerationEvent.FailureKind.SHUTTING_DOWN, "bye"), 503, "service_unavailable");
        assertStatus(ApiError.forFailure(GenerationEvent.FailureKind.INTERNAL, "bug"), 500, "server_error");
        ApiError tooLong = ApiError.forFailure(GenerationEvent.FailureKind.TOO_LONG, "too long");
        assertStatus(tooLong, 400, "invalid_request_error");
        assertEquals("context_length_exceeded", tooLong.code());
        assertEquals(499, ApiError.forFailure(GenerationEvent.FailureKind.CANCELLED, null).status());
        assertEquals("cancelled", ApiError.forFailure(GenerationEvent.FailureKind.CANCELLED, null).getMessage());
    }

    @Test
    void sseFraming() {
        assertEquals("data: {\"a\":1}\n\n", ResponseRenderer.sse("{\"a\":1}"));
        assertEquals("data: [DONE]\n\n", ResponseRenderer.SSE_DONE);
        // rendered JSON never contains a raw newline, so one frame is one data line
        String chunk = ResponseRenderer.chatChunk("c", 1, "m", null, "a\nb\r\n", null, null);
        assertFalse(chunk.contains("\n"));
        assertFalse(chunk.contains("\r"));
    }

    // ------------------------------------------------------------------ completions

    @Test
    void completionShapeAndEscaping() throws Exception {
        String json = ResponseRenderer.completion("cmpl-1", 1700000000L, "tiny", TRICKY, FinishReason.LENGTH,
                7, 16, null);
        JsonNode j = parse(json);
        assertEquals(List.of("id", "object", "created", "model", "choices", "usage"), names(j));
        assertEquals("cmpl-1", j.get("id").textValue());
        assertEquals("text_completion", j.get("object").textValue());
        assertEquals(1700000000L, j.get("created").longValue());
        assertEquals("tiny", j.get("model").textValue());
        assertEquals(1, j.get("choices").size());
        JsonNode c = j.get("choices").get(0);
        assertEquals(List.of("index", "text", "logprobs", "finish_reason"), names(c));
        assertEquals(0, c.get("index").intValue());
        assertEquals(TRICKY, c.get("text").textValue());
        assertTrue(c.get("logprobs").isNull());
        assertEquals("length", c.get("finish_reason").textValue());
        JsonNode u = j.get("usage");
        assertEquals(List.of("prompt_tokens", "completion_tokens", "total_tokens"), names(u));
        assertEquals(7, u.get("prompt_tokens").intValue());
        assertEquals(16, u.get("completion_tokens").intValue());
        assertEquals(23, u.get("total_tokens").intValue());
        assertTrue(json.contains("\\\"hi\\\"") && json.contains("\\n") && json.contains("\\u0001"), json);
    }

    @Test
    void completionChunks() throws Exception {
        JsonNode mid = parse(ResponseRenderer.completionChunk("cmpl-1", 5, "tiny", "Hel", null, null));
        assertEquals(List.of("id", "object", "created", "model", "choices"), names(mid));
        assertEquals("text_completion", mid.get("object").textValue());
        JsonNode c = mid.get("choices").get(0);
        assertEquals("Hel", c.get("text").textValue());
        assertTrue(c.get("finish_reason").isNull());
        assertTrue(c.get("logprobs").isNull());
        assertFalse(mid.has("usage"));

        JsonNode last = parse(ResponseRenderer.completionChunk("cmpl-1", 5, "tiny", "", FinishReason.STOP, null));
        assertEquals("", last.at("/choices/0/text").textValue());
        assertEquals("stop", last.at("/choices/0/finish_reason").textValue());
    }

    @Test
    void completionLogprobsWithOffsets() throws Exception {
        LogprobsAccumulator acc = new LogprobsAccumulator();
        acc.add(new GenerationEvent.Tokens("r", "Hello,", new int[]{1, 2}, List.of(T_HELLO, T_COMMA)));
        acc.add(List.of(T_E));
        acc.add((List<TokenLogprob>) null);
        assertEquals(3, acc.size());
        assertEquals(8, acc.endOffset());
        JsonNode lp = parse(ResponseRenderer.completion("c", 1, "m", "Hello, \u00e9", FinishReason.STOP, 3, 3, acc))
                .at("/choices/0/logprobs");
        assertEquals(List.of("tokens", "token_logprobs", "top_logprobs", "text_offset"), names(lp));
        assertEquals("[\"Hello\",\",\",\" \u00e9\"]", lp.get("tokens").toString());
        assertEquals(-0.25, lp.get("token_logprobs").get(0).doubleValue());
        assertEquals(-0.5, lp.get("token_logprobs").get(1).doubleValue());
        assertEquals(-2.0, lp.get("token_logprobs").get(2).doubleValue());
        assertEquals("[0,5,6]", lp.get("text_offset").toString());
        JsonNode top0 = lp.get("top_logprobs").get(0);
        assertEquals(List.of("Hello", "Hi"), names(top0));
        assertEquals(-1.5, top0.get("Hi").doubleValue());
        assertEquals(-1.0, lp.get("top_logprobs").get(1).get("!").doubleValue());
    }

    @Test
    void streamingLogprobChunksContinueOffsets() throws Exception {
        LogprobsAccumulator first = LogprobsAccumulator.chunk(List.of(T_HELLO, T_COMMA), 0);
        LogprobsAccumulator second = LogprobsAccumulator.chunk(List.of(T_E), first.endOffset());
        JsonNode a = parse(ResponseRenderer.completionChunk("c", 1, "m", "Hello,", null, first));
        JsonNode b = parse(ResponseRenderer.completionChunk("c", 1, "m", " \u00e9", FinishReason.LENGTH, second));
        assertEquals("[0,5]", a.at("/choices/0/logprobs/text_offset").toString());
        assertEquals("[6]", b.at("/choices/0/logprobs/text_offset").toString());
        assertEquals(" \u00e9", b.at("/choices/0/logprobs/tokens/0").textValue());
        assertEquals(10, new LogprobsAccumulator(10).endOffset());
        assertThrows(IllegalArgumentException.class, () -> new LogprobsAccumulator(-1));
        assertEquals(0, first.textOffset(0));
        assertEquals(5, first.textOffset(1));
    }

    @Test
    void logprobEdgeCases() throws Exception {
        TokenLogprob dup = tok(9, "a", Float.NEGATIVE_INFINITY, new String[]{"a", "a", "b"},
                new float[]{-0.1f, -0.2f, Float.NaN});
        TokenLogprob bare = new TokenLogprob(8, "z", -1f, null, null, null);
        LogprobsAccumulator acc = new LogprobsAccumulator().add(List.of(dup, bare));
        JsonNode lp = parse(ResponseRenderer.completion("c", 1, "m", "az", FinishReason.STOP, 1, 2, acc))
                .at("/choices/0/logprobs");
        assertEquals(-9999.0, lp.at("/token_logprobs/0").doubleValue());
        assertEquals("{\"a\":-0.1,\"b\":-9999.0}", lp.get("top_logprobs").get(0).toString());
        assertEquals("{}", lp.get("top_logprobs").get(1).toString());
        JsonNode chat = parse(ResponseRenderer.chatCompletion("c", 1, "m", "az", FinishReason.STOP, 1, 2, acc))
                .at("/choices/0/logprobs/content");
        assertEquals(3, chat.get(0).get("top_logprobs").size());
        assertEquals(0, chat.get(1).get("top_logprobs").size());
        assertEquals(-9999.0, chat.get(0).get("logprob").doubleValue());
    }

    // ------------------------------------------------------------------ chat

    @Test
    void chatCompletionShape() throws Exception {
        JsonNode j = parse(ResponseRenderer.chatCompletion("chatcmpl-9", 42, "tiny", TRICKY, FinishReason.STOP,
                10, 3, null));
        assertEquals(List.of("id", "object", "created", "model", "choices", "usage"), names(j));
        assertEquals("chat.completion", j.get("object").textValue());
        JsonNode c = j.get("choices").get(0);
        assertEquals(List.of("index", "message", "logprobs", "finish_reason"), names(c));
        assertEquals("{\"role\":\"assistant\",\"content\":" + M.writeValueAsString(TRICKY) + "}",
                c.get("message").toString());
        assertEquals(TRICKY, c.at("/message/content").textValue());
        assertTrue(c.get("logprobs").isNull());
        assertEquals("stop", c.get("finish_reason").textValue());
        assertEquals(13, j.at("/usage/total_tokens").intValue());
    }

    @Test
    void chatChunks() throws Exception {
        JsonNode first = parse(ResponseRenderer.chatChunk("id", 1, "m", "assistant", "", null, null));
        assertEquals(List.of("id", "object", "created", "model", "choices"), names(first));
        assertEquals("chat.completion.chunk", first.get("object").textValue());
        JsonNode c = first.get("choices").get(0);
        assertEquals(List.of("index", "delta", "logprobs", "finish_reason"), names(c));
        assertEquals("{\"role\":\"assistant\",\"content\":\"\"}", c.get("delta").toString());
        assertTrue(c.get("finish_reason").isNull());

        JsonNode mid = parse(ResponseRenderer.chatChunk("id", 1, "m", null, "tok\"en\n", null, null));
        assertEquals("{\"content\":\"tok\\\"en\\n\"}", mid.at("/choices/0/delta").toString());

        JsonNode last = parse(ResponseRenderer.chatChunk("id", 1, "m", null, null, FinishReason.LENGTH, null));
        assertEquals("{}", last.at("/choices/0/delta").toString());
        assertEquals("length", last.at("/choices/0/finish_reason").textValue());
    }

    @Test
    void chatLogprobsFormat() throws Exception {
        LogprobsAccumulator acc = new LogprobsAccumulator().add(List.of(T_HELLO, T_E));
        JsonNode lp = parse(ResponseRenderer.chatChunk("id", 1, "m", null, "Hello \u00e9", null, acc))
                .at("/choices/0/logprobs");
        assertEquals(List.of("content"), names(lp));
        JsonNode e0 = lp.get("content").get(0);
        assertEquals(List.of("token", "logprob", "bytes", "top_logprobs"), names(e0));
        assertEquals("Hello", e0.get("token").textValue());
        assertEquals(-0.25, e0.get("logprob").doubleValue());
        assertEquals("[72,101,108,108,111]", e0.get("bytes").toString());
        JsonNode alt = e0.get("top_logprobs").get(1);
        assertEquals(List.of("token", "logprob", "bytes"), names(alt));
        assertEquals("Hi", alt.get("token").textValue());
        assertEquals(-1.5, alt.get("logprob").doubleValue());
        assertEquals("[72,105]", alt.get("bytes").toString());
        JsonNode e1 = lp.get("content").get(1);
        assertEquals("[32,195,169]", e1.get("bytes").toString());

        JsonNode empty = parse(ResponseRenderer.chatCompletion("id", 1, "m", "", FinishReason.STOP, 1, 0,
                new LogprobsAccumulator())).at("/choices/0/logprobs");
        assertEquals("{\"content\":[]}", empty.toString());
    }

    // ------------------------------------------------------------------ usage, models, embeddings

    @Test
    void usageChunks() throws Exception {
        JsonNode chat = parse(ResponseRenderer.usageChunk("id", 3, "m", true, 11, 4));
        assertEquals(List.of("id", "object", "created", "model", "choices", "usage"), names(chat));
        assertEquals("chat.completion.chunk", chat.get("object").textValue());
        assertEquals("[]", chat.get("choices").toString());
        assertEquals("{\"prompt_tokens\":11,\"completion_tokens\":4,\"total_tokens\":15}", chat.get("usage").toString());
        JsonNode comp = parse(ResponseRenderer.usageChunk("id", 3, "m", false, 1, 2));
        assertEquals("text_completion", comp.get("object").textValue());
        assertEquals(3, comp.at("/usage/total_tokens").intValue());
    }

    @Test
    void modelsList() throws Exception {
        JsonNode j = parse(ResponseRenderer.models(List.of(new ModelEntry("tiny", 100), new ModelEntry("q\"x", 200))));
        assertEquals(List.of("object", "data"), names(j));
        assertEquals("list", j.get("object").textValue());
        assertEquals(2, j.get("data").size());
        JsonNode m = j.get("data").get(0);
        assertEquals(List.of("id", "object", "created", "owned_by"), names(m));
        assertEquals("tiny", m.get("id").textValue());
        assertEquals("model", m.get("object").textValue());
        assertEquals(100, m.get("created").longValue());
        assertEquals("troupe", m.get("owned_by").textValue());
        assertEquals("q\"x", j.at("/data/1/id").textValue());
        assertEquals("{\"object\":\"list\",\"data\":[]}", ResponseRenderer.models(List.of()));
        assertEquals(m, parse(ResponseRenderer.model(new ModelEntry("tiny", 100))));
    }

    @Test
    void embeddingsShape() throws Exception {
        JsonNode j = parse(ResponseRenderer.embeddings("emb", List.of(new float[]{0.1f, -2.5f, 0f}, new float[]{1e-8f}), 9));
        assertEquals(List.of("object", "data", "model", "usage"), names(j));
        assertEquals("list", j.get("object").textValue());
        assertEquals("emb", j.get("model").textValue());
        assertEquals("{\"prompt_tokens\":9,\"total_tokens\":9}", j.get("usage").toString());
        JsonNode d0 = j.get("data").get(0);
        assertEquals(List.of("object", "index", "embedding"), names(d0));
        assertEquals("embedding", d0.get("object").textValue());
        assertEquals(0, d0.get("index").intValue());
        assertEquals(0.1f, d0.get("embedding").get(0).floatValue());
        assertEquals(-2.5f, d0.get("embedding").get(1).floatValue());
        assertEquals(3, d0.get("embedding").size());
        assertEquals(1, j.at("/data/1/index").intValue());
        assertEquals(1e-8f, j.at("/data/1/embedding/0").floatValue());
        String raw = ResponseRenderer.embeddings("e", List.<float[]>of(new float[]{0.1f}), 1);
        assertTrue(raw.contains("[0.1]"), raw); // written as a float, not 0.10000000149011612
        assertThrows(IllegalArgumentException.class,
                () -> ResponseRenderer.embeddings("e", List.<float[]>of(new float[]{Float.NaN}), 1));
    }
}
