package dev.troupe.node.tracing;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One finished span as an exporter takes it: its context, its parent's span id (null for a root), name,
 * kind, times (Unix epoch nanoseconds), attributes (String, Long, Double, Boolean or a List of Strings),
 * events and whether it ended in error. Built by one thread, then handed to the exporter.
 */
public final class Span {
    /** OTLP's span kinds. */
    public enum Kind { INTERNAL, SERVER, CLIENT }

    public record Event(String name, long epochNanos, Map<String, Object> attributes) {}

    final TraceContext context;
    final String parentSpanId;
    final Kind kind;
    final long startEpochNanos;
    String name;
    long endEpochNanos;
    final Map<String, Object> attributes = new LinkedHashMap<>();
    final List<Event> events = new ArrayList<>(1);
    String errorMessage;

    Span(TraceContext context, String parentSpanId, Kind kind, String name, long startEpochNanos) {
        this.context = context;
        this.parentSpanId = parentSpanId;
        this.kind = kind;
        this.name = name;
        this.startEpochNanos = startEpochNanos;
    }

    public TraceContext context() { return context; }

    public Span name(String name) {
        this.name = name;
        return this;
    }

    /** Sets an attribute; a null value is left out. */
    public Span attribute(String key, Object value) {
        if (value != null) attributes.put(key, value);
        return this;
    }

    public Span event(String name, long epochNanos, Map<String, Object> attributes) {
        events.add(new Event(name, epochNanos, attributes));
        return this;
    }

    /** The span ended in error (OTLP status ERROR with this description). */
    public Span error(String message) {
        this.errorMessage = message;
        return this;
    }
}
