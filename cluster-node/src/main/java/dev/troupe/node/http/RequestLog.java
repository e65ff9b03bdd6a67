package dev.troupe.node.http;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.spi.LoggingEventBuilder;

/**
 * One INFO line per finished request on the logger {@code troupe.requests}: its ids, tenant, model, version,
 * node, outcome, token counts and timings, as key=value text and as SLF4J key-value pairs (structured fields
 * in the JSON log format). Never the prompt or the completion.
 */
final class RequestLog {
    static final String LOGGER = "troupe.requests";
    private static final Logger log = LoggerFactory.getLogger(LOGGER);

    private RequestLog() {}

    /** status: the HTTP status it ended with (499: the client went away); outcome: the finish reason or what went wrong. */
    static void finished(RequestRecord r, int status, String outcome, long endNanos) {
        if (!log.isInfoEnabled()) return;
        ServedModel m = r.served;
        StringBuilder text = new StringBuilder("request finished");
        LoggingEventBuilder e = log.atInfo();
        e = field(e, text, "request_id", r.requestId);
        e = field(e, text, "id", r.generationId);
        e = field(e, text, "tenant", r.tenant);
        e = field(e, text, "model", r.model);
        e = field(e, text, "version", m == null ? HttpApi.NO_VERSION : m.version());
        e = field(e, text, "node", m == null ? null : m.replica().node());
        e = field(e, text, "endpoint", r.endpoint);
        e = field(e, text, "status", status);
        e = field(e, text, "outcome", outcome);
        e = field(e, text, "prompt_tokens", r.promptTokens);
        e = field(e, text, "completion_tokens", r.completionTokens);
        if (r.queueNanos >= 0) e = field(e, text, "queue_ms", millis(r.queueNanos));
        if (r.firstToken != 0) e = field(e, text, "ttft_ms", millis(r.firstToken - r.accepted));
        e = field(e, text, "total_ms", millis(endNanos - r.accepted));
        e = field(e, text, "trace_id", r.span.context().traceId());
        e.log(text.toString());
    }

    private static LoggingEventBuilder field(LoggingEventBuilder e, StringBuilder text, String key, Object value) {
        if (value == null) return e;
        text.append(' ').append(key).append('=').append(value);
        return e.addKeyValue(key, value);
    }

    /** Milliseconds to the microsecond. */
    private static double millis(long nanos) {
        return Math.round(nanos / 1e3) / 1e3;
    }
}
