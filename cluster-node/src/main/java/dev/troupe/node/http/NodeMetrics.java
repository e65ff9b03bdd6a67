package dev.troupe.node.http;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.Collector;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import dev.troupe.actors.replica.LoopHistogram;
import dev.troupe.actors.replica.StepLoop;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/** The node's Prometheus metrics, one registry per node (several nodes may share a JVM in tests). */
public final class NodeMetrics {
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();

    final Counter requests = Counter.builder().name("troupe_requests_total")
            .help("HTTP API requests by endpoint and outcome (ok, or the error status)")
            .labelNames("model", "version", "endpoint", "outcome").register(registry);
    final Counter promptTokens = Counter.builder().name("troupe_prompt_tokens_total")
            .help("Prompt tokens of finished requests").labelNames("model", "version").register(registry);
    final Counter completionTokens = Counter.builder().name("troupe_completion_tokens_total")
            .help("Generated tokens of finished requests").labelNames("model", "version").register(registry);
    final Histogram timeToFirstToken = Histogram.builder().name("troupe_time_to_first_token_seconds")
            .help("From request accepted to the first generated text").labelNames("model", "version")
            .classicUpperBounds(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30).register(registry);
    final Histogram interTokenLatency = Histogram.builder().name("troupe_inter_token_latency_seconds")
            .help("Between consecutive streamed chunks of one request").labelNames("model", "version")
            .classicUpperBounds(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1).register(registry);
    final Histogram requestDuration = Histogram.builder().name("troupe_request_duration_seconds")
            .help("From request accepted to its last byte").labelNames("model", "version", "endpoint")
            .classicUpperBounds(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120).register(registry);

    final Counter requestsFinished = Counter.builder().name("troupe_request_finished_total")
            .help("Generation requests that reached a version, by how they ended: stop, length, cancelled, timeout, rejected, error")
            .labelNames("model", "version", "finish_reason").register(registry);
    final Counter tenantRequestsFinished = Counter.builder().name("troupe_tenant_request_finished_total")
            .help("Generation requests per tenant by how they ended (as troupe_request_finished_total)")
            .labelNames("model", "version", "tenant", "finish_reason").register(registry);
    final Histogram promptLength = Histogram.builder().name("troupe_request_prompt_tokens")
            .help("Prompt tokens of each finished generation request").labelNames("model", "version")
            .classicUpperBounds(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000).register(registry);
    final Histogram generationLength = Histogram.builder().name("troupe_request_generation_tokens")
            .help("Generated tokens of each finished generation request").labelNames("model", "version")
            .classicUpperBounds(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000).register(registry);

    /** A generation request that reached a version ended: by finish reason (and tenant), and its lengths when it finished. */
    void generationFinished(String model, String version, String tenant, String reason, boolean ok, int prompt, int completion) {
        requestsFinished.labelValues(model, version, reason).inc();
        if (tenant != null) tenantRequestsFinished.labelValues(model, version, tenant, reason).inc();
        if (ok) {
            promptLength.labelValues(model, version).observe(prompt);
            generationLength.labelValues(model, version).observe(completion);
        }
    }

    /** One loaded version's step loop, read at scrape time. */
    public record LoopStats(String model, String version, StepLoop.Stats stats, java.util.Map<String, StepLoop.TenantUsage> tenants,
                            StepLoop.Histograms histograms) {}

    /** Gauges read from the loaded versions' step loops at scrape time (versions come and go). */
    public void watch(Supplier<List<LoopStats>> loops) {
        gauge("troupe_running_sequences", "Sequences in the running batch", loops, s -> s.running());
        gauge("troupe_waiting_requests", "Requests queued for the running batch", loops, s -> s.waiting());
        gauge("troupe_kv_blocks_used", "KV-cache blocks in use", loops, s -> s.kvBlocksUsed());
        gauge("troupe_kv_blocks_free", "KV-cache blocks free", loops, s -> s.kvBlocksFree());
        gauge("troupe_kv_cache_usage_ratio", "Share of the KV-cache blocks in use (0 to 1)", loops,
                s -> (double) s.kvBlocksUsed() / Math.max(1, s.kvBlocksUsed() + s.kvBlocksFree()));
        counter("troupe_engine_steps", "Forward steps run", loops, s -> s.steps());
        counter("troupe_preemptions", "Sequences preempted for KV blocks", loops, s -> s.preemptions());
        counter("troupe_fairness_preemptions", "Sequences preempted to give a waiting tenant its fair share", loops,
                s -> s.fairnessPreemptions());
        counter("troupe_prefix_cache_queries", "Prompt tokens looked up in the prefix cache", loops, s -> s.prefixQueriedTokens());
        counter("troupe_prefix_cache_hits", "Prompt tokens found in the prefix cache, their prefill skipped", loops,
                s -> s.prefixHitTokens());
        counter("troupe_engine_prompt_tokens", "Prompt tokens the step loop prefilled (recomputation after preemption included)", loops,
                s -> s.promptTokens());
        counter("troupe_engine_generated_tokens", "Tokens the step loop generated", loops, s -> s.generatedTokens());
        histogram("troupe_request_queue_time_seconds", "Time a finished request waited on its replica before its first step", loops,
                StepLoop.Histograms::queueTime);
        histogram("troupe_request_prefill_time_seconds", "Time from a finished request's first step to its first generated token", loops,
                StepLoop.Histograms::prefillTime);
        histogram("troupe_request_decode_time_seconds", "Time from a finished request's first generated token to its last", loops,
                StepLoop.Histograms::decodeTime);
        histogram("troupe_step_batch_size", "Sequences in each forward step (prefill chunks and decodes)", loops, StepLoop.Histograms::batchSize);
        histogram("troupe_step_tokens", "Tokens in each forward step (prefill and decode)", loops, StepLoop.Histograms::stepTokens);
        gauge("troupe_replicas", "Replicas of the version loaded on this node", loops, s -> 1);
        CounterWithCallback.builder().name("troupe_tenant_generated_tokens")
                .help("Tokens generated per tenant by a version's step loop (the fair scheduler's service)")
                .labelNames("model", "version", "tenant").callback(cb -> {
                    for (LoopStats l : loops.get()) {
                        l.tenants().forEach((t, u) -> cb.call(u.generatedTokens(), l.model(), l.version(), t));
                    }
                }).register(registry);
    }

    /** The HTTP server's open connections and those closed to shed load (read at scrape time). */
    public void watchConnections(java.util.function.IntSupplier open, java.util.function.LongSupplier shed) {
        GaugeWithCallback.builder().name("troupe_http_connections_open").help("HTTP connections open now")
                .callback(cb -> cb.call(open.getAsInt())).register(registry);
        CounterWithCallback.builder().name("troupe_http_connections_shed")
                .help("Idle HTTP connections closed because too many were open")
                .callback(cb -> cb.call(shed.getAsLong())).register(registry);
    }

    /** What this gateway did when replicas were lost (counters, read at scrape time). */
    public void watchFailover(dev.troupe.sharding.Failover.Counters c) {
        CounterWithCallback.builder().name("troupe_requests_moved")
                .help("Requests this gateway moved off a lost or shutting-down replica: retried = before their first token, "
                        + "continued = after some; lost = given up with no replica left to take them")
                .labelNames("model", "version", "how").callback(cb -> c.byVersion().forEach((v, moves) -> {
                    cb.call(moves.retried().get(), v.model(), v.version(), "retried");
                    cb.call(moves.continued().get(), v.model(), v.version(), "continued");
                    cb.call(moves.lost().get(), v.model(), v.version(), "lost");
                })).register(registry);
    }

    /**
     * A histogram the step loops keep themselves (allocation-free on their thread, see {@link LoopHistogram}),
     * one series per loaded version, read at scrape time.
     */
    private void histogram(String name, String help, Supplier<List<LoopStats>> loops,
                           java.util.function.Function<StepLoop.Histograms, LoopHistogram> which) {
        registry.register(new Collector() {
            @Override
            public MetricSnapshot collect() {
                HistogramSnapshot.Builder b = HistogramSnapshot.builder().name(name).help(help);
                for (LoopStats l : loops.get()) {
                    LoopHistogram.Snapshot h = which.apply(l.histograms()).snapshot();
                    double[] bounds = java.util.Arrays.copyOf(h.bounds(), h.bounds().length + 1);
                    bounds[bounds.length - 1] = Double.POSITIVE_INFINITY;
                    b.dataPoint(HistogramSnapshot.HistogramDataPointSnapshot.builder()
                            .classicHistogramBuckets(ClassicHistogramBuckets.of(bounds, h.bucketCounts()))
                            .sum(h.sum()).labels(Labels.of("model", l.model(), "version", l.version())).build());
                }
                return b.build();
            }

            @Override
            public String getPrometheusName() {
                return name;
            }
        });
    }

    /** This node's slices: their memory (total, reserved by the replicas loaded there, free) and replicas, read at scrape time. */
    public void watchSlices(Supplier<List<dev.troupe.sharding.SliceInfo>> slices) {
        GaugeWithCallback.builder().name("troupe_slice_memory_bytes")
                .help("A slice's memory on this node: total, used (reserved by the replicas loaded on it) and free")
                .labelNames("slice", "state").callback(cb -> {
                    for (dev.troupe.sharding.SliceInfo s : slices.get()) {
                        cb.call(s.memoryBytes(), s.id(), "total");
                        cb.call(s.reservedBytes(), s.id(), "used");
                        cb.call(Math.max(0, s.memoryBytes() - s.reservedBytes()), s.id(), "free");
                    }
                }).register(registry);
        GaugeWithCallback.builder().name("troupe_slice_replicas").help("Replicas loaded on a slice of this node")
                .labelNames("slice").callback(cb -> {
                    for (dev.troupe.sharding.SliceInfo s : slices.get()) cb.call(s.replicas().size(), s.id());
                }).register(registry);
    }

    /** A cluster member as this node sees it: its address, roles and status (Pekko's, or unreachable). */
    public record Member(String node, String roles, String status) {}

    /**
     * The cluster as this node sees it (read at scrape time): each member with its roles and status, and this
     * node's own roles.
     */
    public void watchCluster(String self, String selfRoles, Supplier<List<Member>> members) {
        GaugeWithCallback.builder().name("troupe_node_info").help("This node (its cluster address) and its roles; always 1")
                .labelNames("node", "roles").callback(cb -> cb.call(1, self, selfRoles)).register(registry);
        GaugeWithCallback.builder().name("troupe_cluster_members")
                .help("Cluster members as this node sees them by roles and status (up, joining, leaving, ..., or unreachable); 1 per member")
                .labelNames("node", "roles", "status").callback(cb -> {
                    for (Member m : members.get()) cb.call(1, m.node(), m.roles(), m.status());
                }).register(registry);
    }

    /** Spans the OTLP exporter sent and dropped (read at scrape time). */
    public void watchTracing(java.util.function.LongSupplier exported, java.util.function.LongSupplier dropped) {
        CounterWithCallback.builder().name("troupe_trace_spans_exported").help("Spans sent to the OTLP collector")
                .callback(cb -> cb.call(exported.getAsLong())).register(registry);
        CounterWithCallback.builder().name("troupe_trace_spans_dropped")
                .help("Spans dropped: the export queue was full or the collector did not take them")
                .callback(cb -> cb.call(dropped.getAsLong())).register(registry);
    }

    private void counter(String name, String help, Supplier<List<LoopStats>> loops, ToDoubleFunction<StepLoop.Stats> value) {
        CounterWithCallback.builder().name(name).help(help).labelNames("model", "version").callback(cb -> {
            for (LoopStats l : loops.get()) cb.call(value.applyAsDouble(l.stats()), l.model(), l.version());
        }).register(registry);
    }

    private void gauge(String name, String help, Supplier<List<LoopStats>> loops, ToDoubleFunction<StepLoop.Stats> value) {
        GaugeWithCallback.builder().name(name).help(help).labelNames("model", "version").callback(cb -> {
            for (LoopStats l : loops.get()) cb.call(value.applyAsDouble(l.stats()), l.model(), l.version());
        }).register(registry);
    }

    /** Series labelled by tenant: who the tenants are and what they use is not for anonymous scrapers. */
    static final String TENANT_SERIES_PREFIX = "troupe_tenant_";

    public String scrape() {
        return scrape(true);
    }

    /** The exposition; without tenants, the tenant-labelled series are left out. */
    public String scrape(boolean tenants) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            writer.write(out, tenants ? registry.scrape() : registry.scrape(name -> !name.startsWith(TENANT_SERIES_PREFIX)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString(java.nio.charset.StandardCharsets.UTF_8);
    }

    public String contentType() {
        return PrometheusTextFormatWriter.CONTENT_TYPE;
    }
}
