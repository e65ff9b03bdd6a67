package dev.troupe.node.tracing;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Sends finished spans to an OpenTelemetry collector over OTLP/HTTP with the JSON encoding, off the request
 * path: {@link #offer} only puts the span in a bounded lock-free queue (a full queue drops it, counted; no
 * lock, no wake-up: it may run on a step loop's thread), and one daemon thread sends them in batches every
 * interval. A collector that is down or slow costs spans, never requests.
 */
public final class OtlpHttpExporter implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(OtlpHttpExporter.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    static final int MAX_BATCH = 512;

    private final URI endpoint;
    private final String serviceName;
    private final ConcurrentLinkedQueue<Span> queue = new ConcurrentLinkedQueue<>();
    /** Spans in the queue (a bound the queue itself does not keep). */
    private final AtomicInteger queued = new AtomicInteger();
    private final int capacity;
    private final Duration interval;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final Thread thread;
    private volatile boolean closed;
    private long lastWarned;
    final AtomicLong exported = new AtomicLong();
    final AtomicLong dropped = new AtomicLong();

    /**
     * endpoint: the collector's OTLP/HTTP base address (…/v1/traces is appended unless given); queueSize:
     * spans held while the sender is behind; interval: how long a span waits for its batch at most.
     */
    public OtlpHttpExporter(String endpoint, String serviceName, int queueSize, Duration interval) {
        String e = endpoint.strip();
        while (e.endsWith("/")) e = e.substring(0, e.length() - 1);
        this.endpoint = URI.create(e.endsWith("/v1/traces") ? e : e + "/v1/traces");
        this.serviceName = serviceName;
        this.capacity = Math.max(1, queueSize);
        this.interval = interval;
        this.thread = new Thread(this::run, "troupe-otlp-exporter");
        thread.setDaemon(true);
        thread.start();
    }

    public URI endpoint() { return endpoint; }

    /** Queues a finished span; never blocks nor waits for a lock (a full queue drops it). */
    public void offer(Span span) {
        if (closed || queued.incrementAndGet() > capacity) {
            if (!closed) queued.decrementAndGet();
            dropped.incrementAndGet();
            return;
        }
        queue.add(span);
    }

    private void run() {
        List<Span> batch = new ArrayList<>(MAX_BATCH);
        while (true) {
            boolean stopping = closed;
            Span s;
            while (batch.size() < MAX_BATCH && (s = queue.poll()) != null) {
                queued.decrementAndGet();
                batch.add(s);
            }
            try {
                send(batch);
            } catch (RuntimeException e) {
                warn("span export failed: " + e);
                dropped.addAndGet(batch.size());
            }
            boolean more = batch.size() == MAX_BATCH;
            batch.clear();
            if (stopping && queue.isEmpty()) return;
            // A full batch goes on at once; otherwise spans gather for an interval (fewer, larger posts).
            if (!more && !stopping) LockSupport.parkNanos(this, interval.toNanos());
        }
    }

    private void send(List<Span> batch) {
        if (batch.isEmpty()) return;
        byte[] body;
        try {
            body = JSON.writeValueAsBytes(encode(batch));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        try {
            HttpResponse<Void> r = http.send(HttpRequest.newBuilder(endpoint).timeout(Duration.ofSeconds(10))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(),
                    HttpResponse.BodyHandlers.discarding());
            if (r.statusCode() / 100 == 2) {
                exported.addAndGet(batch.size());
                return;
            }
            warn("the OTLP collector at " + endpoint + " answered " + r.statusCode() + "; " + batch.size() + " spans dropped");
        } catch (java.io.IOException e) {
            warn("cannot reach the OTLP collector at " + endpoint + " (" + e + "); " + batch.size() + " spans dropped");
        } catch (InterruptedException e) {
            // Nobody interrupts this thread but the JVM going down: the batch is lost, the loop ends with close.
            warn("span export interrupted; " + batch.size() + " spans dropped");
        }
        dropped.addAndGet(batch.size());
    }

    /** At most one warning a minute: a collector that is down must not flood the log. */
    private void warn(String message) {
        long now = System.nanoTime();
        if (lastWarned == 0 || now - lastWarned > Duration.ofMinutes(1).toNanos()) {
            lastWarned = now;
            log.warn(message);
        }
    }

    /** The OTLP/JSON ExportTraceServiceRequest of these spans (ids in hex, 64-bit integers as strings). */
    ObjectNode encode(List<Span> spans) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode rs = root.putArray("resourceSpans").addObject();
        attributes(rs.putObject("resource").putArray("attributes"), Map.of("service.name", serviceName));
        ObjectNode ss = rs.putArray("scopeSpans").addObject();
        ss.putObject("scope").put("name", "dev.troupe");
        ArrayNode out = ss.putArray("spans");
        for (Span s : spans) {
            ObjectNode o = out.addObject();
            o.put("traceId", s.context.traceId());
            o.put("spanId", s.context.spanId());
            if (s.parentSpanId != null) o.put("parentSpanId", s.parentSpanId);
            o.put("name", s.name);
            o.put("kind", switch (s.kind) {
                case INTERNAL -> 1;
                case SERVER -> 2;
                case CLIENT -> 3;
            });
            o.put("startTimeUnixNano", Long.toString(s.startEpochNanos));
            o.put("endTimeUnixNano", Long.toString(s.endEpochNanos));
            attributes(o.putArray("attributes"), s.attributes);
            if (!s.events.isEmpty()) {
                ArrayNode events = o.putArray("events");
                for (Span.Event e : s.events) {
                    ObjectNode ev = events.addObject();
                    ev.put("timeUnixNano", Long.toString(e.epochNanos()));
                    ev.put("name", e.name());
                    attributes(ev.putArray("attributes"), e.attributes());
                }
            }
            ObjectNode status = o.putObject("status");
            if (s.errorMessage != null) status.put("code", 2).put("message", s.errorMessage);
            else status.put("code", 0);
        }
        return root;
    }

    private static void attributes(ArrayNode out, Map<String, Object> attributes) {
        attributes.forEach((k, v) -> {
            ObjectNode a = out.addObject();
            a.put("key", k);
            value(a.putObject("value"), v);
        });
    }

    private static void value(ObjectNode out, Object v) {
        if (v instanceof Long || v instanceof Integer) out.put("intValue", String.valueOf(v));
        else if (v instanceof Double || v instanceof Float) out.put("doubleValue", ((Number) v).doubleValue());
        else if (v instanceof Boolean b) out.put("boolValue", b);
        else if (v instanceof List<?> list) {
            ArrayNode values = out.putObject("arrayValue").putArray("values");
            for (Object x : list) value(values.addObject(), x);
        } else out.put("stringValue", String.valueOf(v));
    }

    /** Sends what is queued (within 15 s) and stops the sender. */
    @Override
    public void close() {
        closed = true;
        LockSupport.unpark(thread);
        try {
            thread.join(Duration.ofSeconds(15).toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
