package dev.troupe.node.http;

import com.fasterxml.jackson.databind.JsonNode;
import dev.troupe.node.ServeCommand;
import dev.troupe.node.tracing.OtlpReceiver;
import dev.troupe.node.tracing.TraceContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * W3C trace context through a node: a request's traceparent is the parent of the node's span for it, the
 * response carries that span's traceparent, and with troupe.tracing.otlp-endpoint set the span reaches an
 * OTLP/HTTP collector (here, one in the test) with the OpenTelemetry GenAI attributes.
 */
class TracingIT {
    private static final String TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
    private static final String CALLER_SPAN = "00f067aa0ba902b7";
    private static OtlpReceiver receiver;
    private static ServeCommand.Node node;

    @BeforeAll
    static void start() throws Exception {
        receiver = new OtlpReceiver();
        node = DeploymentsIT.start("troupe.tracing.otlp-endpoint = \"" + receiver.endpoint() + "\"\n"
                + "troupe.tracing.export-interval = 50ms\ntroupe.tracing.service-name = troupe-it\n");
    }

    @AfterAll
    static void stop() {
        if (node != null) node.stop();
        if (receiver != null) receiver.close();
    }

    private static HttpResponse<String> post(String path, String body, String traceparent) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.port() + path))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (traceparent != null) b.header("traceparent", traceparent);
        HttpResponse<String> r = ServeIT.HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return r;
    }

    private static TraceContext answered(HttpResponse<String> r) {
        TraceContext c = TraceContext.parse(r.headers().firstValue("traceparent").orElse(null));
        assertNotNull(c, "the response's traceparent: " + r.headers().map());
        return c;
    }

    @Test
    void aCompletionJoinsTheCallersTraceAndItsSpanHasTheGenAiAttributes() throws Exception {
        HttpResponse<String> r = post("/v1/completions", "{\"model\":\"stories\",\"prompt\":\"Once upon a time\",\"max_tokens\":5,"
                + "\"temperature\":0.25,\"seed\":7}", "00-" + TRACE + "-" + CALLER_SPAN + "-01");
        TraceContext self = answered(r);
        assertEquals(TRACE, self.traceId());
        assertNotEquals(CALLER_SPAN, self.spanId());
        JsonNode body = ServeIT.JSON.readTree(r.body());

        JsonNode span = receiver.await(s -> s.get("spanId").asText().equals(self.spanId()));
        assertEquals(TRACE, span.get("traceId").asText());
        assertEquals(CALLER_SPAN, span.get("parentSpanId").asText(), "the caller's span is the parent");
        assertEquals("text_completion stories", span.get("name").asText());
        assertEquals(2, span.get("kind").asInt(), "SERVER");
        Map<String, Object> a = OtlpReceiver.attributes(span);
        assertEquals("text_completion", a.get("gen_ai.operation.name"));
        assertEquals("stories", a.get("gen_ai.request.model"));
        assertEquals("stories", a.get("gen_ai.response.model"));
        assertEquals(5L, a.get("gen_ai.request.max_tokens"));
        assertEquals(0.25, (Double) a.get("gen_ai.request.temperature"), 1e-6);
        assertEquals(7L, a.get("gen_ai.request.seed"));
        assertEquals(body.get("usage").get("prompt_tokens").asLong(), a.get("gen_ai.usage.input_tokens"));
        assertEquals(body.get("usage").get("completion_tokens").asLong(), a.get("gen_ai.usage.output_tokens"));
        assertEquals(List.of(body.get("choices").get(0).get("finish_reason").asText()), a.get("gen_ai.response.finish_reasons"));
        assertEquals(body.get("id").asText(), a.get("gen_ai.response.id"));
        assertEquals("v1", a.get("troupe.model.version"));
        double ttft = (Double) a.get("gen_ai.server.time_to_first_token");
        long duration = Long.parseLong(span.get("endTimeUnixNano").asText()) - Long.parseLong(span.get("startTimeUnixNano").asText());
        assertTrue(ttft > 0 && ttft * 1e9 <= duration, "ttft " + ttft + " s within the span's " + duration + " ns");
        assertEquals("gen_ai.first_token", span.get("events").get(0).get("name").asText());
        assertEquals(0, span.get("status").get("code").asInt());
        assertTrue(receiver.resources().stream().anyMatch(x -> x.contains("troupe-it")), receiver.resources().toString());
        // No prompt or completion text on the span.
        assertFalse(span.toString().contains("Once upon a time"));
        assertFalse(span.toString().contains(body.get("choices").get(0).get("text").asText().strip()) && body.get("choices").get(0).get("text").asText().strip().length() > 8);
    }

    @Test
    void aStreamedChatWithoutTraceparentStartsATrace() throws Exception {
        HttpResponse<String> r = post("/v1/chat/completions", "{\"model\":\"stories\",\"max_tokens\":4,\"stream\":true,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}", null);
        TraceContext self = answered(r);
        assertTrue(self.sampled());
        JsonNode span = receiver.await(s -> s.get("spanId").asText().equals(self.spanId()));
        assertEquals(self.traceId(), span.get("traceId").asText());
        assertFalse(span.has("parentSpanId"), span.toString());
        assertEquals("chat stories", span.get("name").asText());
        Map<String, Object> a = OtlpReceiver.attributes(span);
        assertEquals("chat", a.get("gen_ai.operation.name"));
        assertEquals(4L, a.get("gen_ai.usage.output_tokens"));
        assertEquals(List.of("length"), a.get("gen_ai.response.finish_reasons"));
        assertTrue(a.containsKey("gen_ai.server.time_to_first_token"), a.toString());
    }

    @Test
    void embeddingsHaveTheirSpanAndAMalformedTraceparentStartsATrace() throws Exception {
        HttpResponse<String> r = post("/v1/embeddings", "{\"model\":\"stories\",\"input\":\"Hello there\"}", "00-not-a-trace");
        TraceContext self = answered(r);
        JsonNode span = receiver.await(s -> s.get("spanId").asText().equals(self.spanId()));
        assertFalse(span.has("parentSpanId"), span.toString());
        assertEquals("embeddings stories", span.get("name").asText());
        Map<String, Object> a = OtlpReceiver.attributes(span);
        assertEquals("embeddings", a.get("gen_ai.operation.name"));
        assertTrue((Long) a.get("gen_ai.usage.input_tokens") > 0, a.toString());
    }

    @Test
    void anUnsampledTraceIsPropagatedButNotExported() throws Exception {
        String trace = "11112222333344445555666677778888";
        HttpResponse<String> r = post("/v1/completions", "{\"model\":\"stories\",\"prompt\":\"Hi\",\"max_tokens\":2}",
                "00-" + trace + "-" + CALLER_SPAN + "-00");
        TraceContext self = answered(r);
        assertEquals(trace, self.traceId());
        assertFalse(self.sampled());
        // A sampled request after it: once its span is in, the unsampled one would have been too.
        HttpResponse<String> after = post("/v1/completions", "{\"model\":\"stories\",\"prompt\":\"Hi\",\"max_tokens\":2}", null);
        String afterSpan = answered(after).spanId();
        receiver.await(s -> s.get("spanId").asText().equals(afterSpan));
        assertTrue(receiver.spans().stream().noneMatch(s -> s.get("traceId").asText().equals(trace)), "an unsampled span was exported");
    }

    @Test
    void theExportIsCounted() throws Exception {
        post("/v1/completions", "{\"model\":\"stories\",\"prompt\":\"Hi\",\"max_tokens\":2}", null);
        long until = System.nanoTime() + 10_000_000_000L;
        String m = "";
        while (System.nanoTime() < until) {
            m = DeploymentsIT.admin(node, "GET", "/metrics", null, null).body();
            if (m.contains("troupe_trace_spans_exported_total ") && !m.contains("troupe_trace_spans_exported_total 0.0")) break;
            Thread.sleep(50);
        }
        assertFalse(m.contains("troupe_trace_spans_exported_total 0.0"), m);
        assertTrue(m.contains("troupe_trace_spans_dropped_total 0.0"), m);
    }
}
