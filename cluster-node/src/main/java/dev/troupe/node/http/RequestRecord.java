package dev.troupe.node.http;

import dev.troupe.node.tracing.Span;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One request's facts as the gateway learns them (who sent it, which version and node served it, when its
 * first token came, how it ended), closed exactly once by {@link Gateway#finish}, which turns them into
 * metrics, the request's log line and its span. Never any prompt or completion text.
 */
public final class RequestRecord {
    /** The request's X-Request-Id (the client's, or the one the node assigned); the generation id when there is none. */
    final String requestId;
    /** The response's own id (cmpl-…, chatcmpl-…, embd-…). */
    final String generationId;
    final String tenant;
    final String model;
    final String endpoint;
    /** When the node accepted it (System.nanoTime). */
    final long accepted;
    final Span span;
    private final AtomicBoolean closed = new AtomicBoolean();
    volatile ServedModel served;
    /** When its first text reached the gateway (System.nanoTime), 0 before. */
    volatile long firstToken;
    volatile int promptTokens;
    volatile int completionTokens;
    /** stop / length once it finished normally. */
    volatile String finishReason;
    /** How long it waited on its replica before its first step, -1 when not known. */
    volatile long queueNanos = -1;

    RequestRecord(String requestId, String generationId, String tenant, String model, String endpoint, long accepted, Span span) {
        this.requestId = requestId;
        this.generationId = generationId;
        this.tenant = tenant;
        this.model = model;
        this.endpoint = endpoint;
        this.accepted = accepted;
        this.span = span;
    }

    /** The W3C traceparent of this request's span (the response carries it; the replica gets it). */
    public String traceparent() {
        return span.context().traceparent();
    }

    void served(ServedModel model) {
        this.served = model;
    }

    /** The first text of the completion arrived now (only the first call counts). */
    void firstToken(long nanos) {
        if (firstToken == 0) firstToken = nanos;
    }

    void tokens(int prompt, int completion) {
        this.promptTokens = prompt;
        this.completionTokens = completion;
    }

    /** True the first time only: a request is finished once. */
    boolean close() {
        return closed.compareAndSet(false, true);
    }

    /** The GenAI semantic conventions' operation name of an endpoint. */
    static String operation(String endpoint) {
        return switch (endpoint) {
            case "chat" -> "chat";
            case "embeddings" -> "embeddings";
            default -> "text_completion";
        };
    }
}
