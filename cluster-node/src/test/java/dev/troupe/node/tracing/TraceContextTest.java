package dev.troupe.node.tracing;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.*;

class TraceContextTest {
    private static final String TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";

    @Test
    void parsesAndWritesTheW3cHeader() {
        TraceContext c = TraceContext.parse("00-" + TRACE + "-00f067aa0ba902b7-01");
        assertEquals(new TraceContext(TRACE, "00f067aa0ba902b7", true), c);
        assertEquals("00-" + TRACE + "-00f067aa0ba902b7-01", c.traceparent());
        assertFalse(TraceContext.parse("00-" + TRACE + "-00f067aa0ba902b7-00").sampled());
        // A later version is read by its first four fields.
        assertEquals(c, TraceContext.parse("01-" + TRACE + "-00f067aa0ba902b7-01-whatever"));
    }

    @Test
    void refusesMalformedHeaders() {
        for (String bad : new String[] {null, "", "garbage", "00-" + TRACE + "-00f067aa0ba902b7",
                "00-" + TRACE.toUpperCase() + "-00f067aa0ba902b7-01", "00-" + "0".repeat(32) + "-00f067aa0ba902b7-01",
                "00-" + TRACE + "-0000000000000000-01", "ff-" + TRACE + "-00f067aa0ba902b7-01",
                "00-" + TRACE + "-00f067aa0ba902b7-01-extra", "00_" + TRACE + "-00f067aa0ba902b7-01"}) {
            assertNull(TraceContext.parse(bad), bad);
        }
    }

    @Test
    void aChildKeepsTheTraceAndItsSamplingAndARootIsSampled() {
        TraceContext parent = TraceContext.parse("00-" + TRACE + "-00f067aa0ba902b7-00");
        TraceContext child = TraceContext.childOf(parent);
        assertEquals(TRACE, child.traceId());
        assertNotEquals(parent.spanId(), child.spanId());
        assertFalse(child.sampled());
        TraceContext root = TraceContext.childOf(null);
        assertTrue(root.sampled());
        assertEquals(root, TraceContext.parse(root.traceparent()));
    }

    @Test
    void aFullQueueOrADeadCollectorDropsSpansWithoutBlocking() {
        // Nothing listens on port 9 of loopback (discard is not served): every batch fails and is counted.
        try (Tracer tracer = new Tracer(new OtlpHttpExporter("http://127.0.0.1:9", "test", 4, Duration.ofMillis(10)))) {
            long start = System.nanoTime();
            for (int i = 0; i < 1000; i++) {
                tracer.end(tracer.startServer(TraceContext.childOf(null), null, "chat m", System.nanoTime()), System.nanoTime());
            }
            assertTrue(System.nanoTime() - start < Duration.ofSeconds(1).toNanos(), "offering spans blocked");
            assertTrue(tracer.dropped() >= 1000 - 4 - OtlpHttpExporter.MAX_BATCH, "dropped " + tracer.dropped());
        }
    }

    @Test
    void exportsOtlpJsonWithGenAiAttributes() throws Exception {
        try (OtlpReceiver receiver = new OtlpReceiver();
             Tracer tracer = new Tracer(new OtlpHttpExporter(receiver.endpoint(), "troupe-test", 16, Duration.ofMillis(10)))) {
            TraceContext parent = TraceContext.parse("00-" + TRACE + "-00f067aa0ba902b7-01");
            long start = System.nanoTime();
            Span s = tracer.startServer(TraceContext.childOf(parent), parent, "chat m", start)
                    .attribute("gen_ai.request.max_tokens", 12L).attribute("gen_ai.request.temperature", 0.5)
                    .attribute("gen_ai.response.finish_reasons", java.util.List.of("stop"))
                    .event("gen_ai.first_token", tracer.epochNanos(start + 1000), java.util.Map.of());
            tracer.end(s, start + 5000);
            var span = receiver.await(x -> true);
            assertEquals(TRACE, span.get("traceId").asText());
            assertEquals("00f067aa0ba902b7", span.get("parentSpanId").asText());
            assertEquals(s.context().spanId(), span.get("spanId").asText());
            assertEquals(2, span.get("kind").asInt());
            assertEquals(5000, Long.parseLong(span.get("endTimeUnixNano").asText()) - Long.parseLong(span.get("startTimeUnixNano").asText()));
            var attributes = OtlpReceiver.attributes(span);
            assertEquals(12L, attributes.get("gen_ai.request.max_tokens"));
            assertEquals(0.5, attributes.get("gen_ai.request.temperature"));
            assertEquals(java.util.List.of("stop"), attributes.get("gen_ai.response.finish_reasons"));
            assertEquals("gen_ai.first_token", span.get("events").get(0).get("name").asText());
            assertTrue(receiver.resources().get(0).contains("troupe-test"));
            long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
            while (tracer.exported() < 1 && System.nanoTime() < deadline) Thread.sleep(10);
            assertEquals(1, tracer.exported());
            assertEquals(0, tracer.dropped());
        }
    }
}
