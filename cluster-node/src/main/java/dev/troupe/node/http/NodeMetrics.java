package dev.troupe.node.http;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import dev.troupe.actors.replica.StepLoop;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.function.Supplier;

/** The node's Prometheus metrics, one registry per node (several nodes may share a JVM in tests). */
public final class NodeMetrics {
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();

    final Counter requests = Counter.builder().name("troupe_requests_total")
            .help("HTTP API requests by endpoint and outcome (ok, or the error status)")
            .labelNames("model", "endpoint", "outcome").register(registry);
    final Counter promptTokens = Counter.builder().name("troupe_prompt_tokens_total")
            .help("Prompt tokens of finished requests").labelNames("model").register(registry);
    final Counter completionTokens = Counter.builder().name("troupe_completion_tokens_total")
            .help("Generated tokens of finished requests").labelNames("model").register(registry);
    final Histogram timeToFirstToken = Histogram.builder().name("troupe_time_to_first_token_seconds")
            .help("From request accepted to the first generated text").labelNames("model")
            .classicUpperBounds(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30).register(registry);
    final Histogram interTokenLatency = Histogram.builder().name("troupe_inter_token_latency_seconds")
            .help("Between consecutive streamed chunks of one request").labelNames("model")
            .classicUpperBounds(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1).register(registry);
    final Histogram requestDuration = Histogram.builder().name("troupe_request_duration_seconds")
            .help("From request accepted to its last byte").labelNames("model", "endpoint")
            .classicUpperBounds(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120).register(registry);

    /** Gauges read from a replica's step loop at scrape time. */
    public void watch(String model, Supplier<StepLoop.Stats> stats) {
        GaugeWithCallback.builder().name("troupe_running_sequences").help("Sequences in the running batch")
                .labelNames("model").callback(cb -> cb.call(stats.get().running(), model)).register(registry);
        GaugeWithCallback.builder().name("troupe_waiting_requests").help("Requests queued for the running batch")
                .labelNames("model").callback(cb -> cb.call(stats.get().waiting(), model)).register(registry);
        GaugeWithCallback.builder().name("troupe_kv_blocks_used").help("KV-cache blocks in use")
                .labelNames("model").callback(cb -> cb.call(stats.get().kvBlocksUsed(), model)).register(registry);
        GaugeWithCallback.builder().name("troupe_kv_blocks_free").help("KV-cache blocks free")
                .labelNames("model").callback(cb -> cb.call(stats.get().kvBlocksFree(), model)).register(registry);
        GaugeWithCallback.builder().name("troupe_engine_steps").help("Forward steps run (a counter)")
                .labelNames("model").callback(cb -> cb.call(stats.get().steps(), model)).register(registry);
        GaugeWithCallback.builder().name("troupe_preemptions").help("Sequences preempted for KV blocks (a counter)")
                .labelNames("model").callback(cb -> cb.call(stats.get().preemptions(), model)).register(registry);
    }

    public String scrape() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            writer.write(out, registry.scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString(java.nio.charset.StandardCharsets.UTF_8);
    }

    public String contentType() {
        return PrometheusTextFormatWriter.CONTENT_TYPE;
    }
}
