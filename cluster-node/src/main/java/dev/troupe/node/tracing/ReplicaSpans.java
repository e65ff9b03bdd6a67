package dev.troupe.node.tracing;

import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.actors.replica.GenerationRequest;
import dev.troupe.actors.replica.GenerationSink;
import dev.troupe.actors.replica.RemoteRequests;

import java.util.List;
import java.util.Map;

/**
 * The replica's side of a request that came from another node's gateway: a span, child of the gateway's
 * (the request's traceparent), from the entity taking the request to its last event, with what the replica
 * saw (queue time, first token, tokens, finish reason). Only for sampled traces while spans are exported;
 * otherwise the request's sink is left as it is.
 */
public final class ReplicaSpans implements RemoteRequests {
    private final Tracer tracer;
    private final String node;

    public ReplicaSpans(Tracer tracer, String node) {
        this.tracer = tracer;
        this.node = node;
    }

    @Override
    public GenerationSink accepted(String replica, GenerationRequest request, GenerationSink sink) {
        TraceContext parent = TraceContext.parse(request.traceParent());
        if (parent == null || !parent.sampled() || !tracer.exporting()) return sink;
        Span span = tracer.startServer(TraceContext.childOf(parent), parent, "replica " + replica, System.nanoTime())
                .attribute("troupe.replica", replica)
                .attribute("troupe.node", node)
                .attribute("troupe.request_id", request.requestId())
                .attribute("troupe.resumed_tokens", (long) request.resumed());
        return new Traced(sink, span);
    }

    /** The request's own sink, and its span ended with the terminal event. Loop thread only. */
    private final class Traced implements GenerationSink {
        private final GenerationSink sink;
        private final Span span;
        private boolean first = true;

        Traced(GenerationSink sink, Span span) {
            this.sink = sink;
            this.span = span;
        }

        @Override
        public void onStarted() { sink.onStarted(); }

        @Override
        public void onEvent(GenerationEvent event) {
            try {
                sink.onEvent(event);
            } finally {
                if (event instanceof GenerationEvent.Tokens && first) {
                    first = false;
                    span.event("gen_ai.first_token", tracer.epochNanos(System.nanoTime()), Map.of());
                } else if (event instanceof GenerationEvent.Finished f) {
                    span.attribute("gen_ai.usage.input_tokens", (long) f.promptTokens())
                            .attribute("gen_ai.usage.output_tokens", (long) f.completionTokens())
                            .attribute("gen_ai.response.finish_reasons", List.of(f.reason().openAi()))
                            .attribute("troupe.queue_time", f.queueNanos() / 1e9);
                    tracer.end(span, System.nanoTime());
                } else if (event instanceof GenerationEvent.Failed f) {
                    span.attribute("gen_ai.usage.input_tokens", (long) f.promptTokens())
                            .attribute("gen_ai.usage.output_tokens", (long) f.completionTokens())
                            .attribute("error.type", f.kind().name().toLowerCase(java.util.Locale.ROOT));
                    if (f.kind() != GenerationEvent.FailureKind.CANCELLED) span.error(f.kind().name());
                    tracer.end(span, System.nanoTime());
                }
            }
        }
    }
}
