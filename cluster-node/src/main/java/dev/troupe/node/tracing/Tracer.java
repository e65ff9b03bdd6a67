package dev.troupe.node.tracing;

import com.typesafe.config.Config;

import java.time.Instant;

/**
 * The node's tracing: every request gets a span context (so traceparent goes in and out, and travels to the
 * replica, whether or not anything is exported); spans of sampled traces go to the OTLP exporter when
 * {@code troupe.tracing.otlp-endpoint} names a collector. Span times come from one clock: the epoch time
 * of a {@link System#nanoTime()} reading, so they agree with the latencies the metrics measure.
 */
public final class Tracer implements AutoCloseable {
    private final OtlpHttpExporter exporter;
    private final long epochNanosAtBase;
    private final long nanoTimeAtBase;

    public Tracer(OtlpHttpExporter exporter) {
        this.exporter = exporter;
        Instant now = Instant.now();
        this.nanoTimeAtBase = System.nanoTime();
        this.epochNanosAtBase = now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    /** No export: contexts only. */
    public static Tracer disabled() {
        return new Tracer(null);
    }

    /** From troupe.tracing (otlp-endpoint empty = no export). */
    public static Tracer from(Config config) {
        String endpoint = config.getString("troupe.tracing.otlp-endpoint");
        if (endpoint.isBlank()) return disabled();
        return new Tracer(new OtlpHttpExporter(endpoint, config.getString("troupe.tracing.service-name"),
                config.getInt("troupe.tracing.queue-size"), config.getDuration("troupe.tracing.export-interval")));
    }

    public boolean exporting() { return exporter != null; }

    /**
     * A server span with context self (see {@link TraceContext#childOf}) for a request that arrived with
     * parent's context (null: none, self starts a trace), started at startNanos (System.nanoTime).
     */
    public Span startServer(TraceContext self, TraceContext parent, String name, long startNanos) {
        return new Span(self, parent == null ? null : parent.spanId(), Span.Kind.SERVER, name, epochNanos(startNanos));
    }

    /** Ends the span at endNanos (System.nanoTime) and exports it if its trace is sampled. Never blocks. */
    public void end(Span span, long endNanos) {
        span.endEpochNanos = epochNanos(endNanos);
        if (exporter != null && span.context.sampled()) exporter.offer(span);
    }

    /** The Unix epoch time, in nanoseconds, of a System.nanoTime reading. */
    public long epochNanos(long nanoTime) {
        return epochNanosAtBase + (nanoTime - nanoTimeAtBase);
    }

    /** Spans sent to the collector so far. */
    public long exported() { return exporter == null ? 0 : exporter.exported.get(); }

    /** Spans dropped so far: the queue was full or the collector did not take them. */
    public long dropped() { return exporter == null ? 0 : exporter.dropped.get(); }

    @Override
    public void close() {
        if (exporter != null) exporter.close();
    }
}
