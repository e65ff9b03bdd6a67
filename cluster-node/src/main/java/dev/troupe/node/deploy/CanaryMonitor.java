package dev.troupe.node.deploy;

import com.typesafe.config.Config;
import dev.troupe.actors.registry.ModelRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Watches the canary (a version other than the live one that receives traffic) against the configured
 * SLO ({@code troupe.canary}): over the window, with at least {@code min-requests} requests, an error rate
 * (server-side failures: 5xx and 504) above {@code max-error-rate} or a p99 request latency above
 * {@code max-p99-latency} makes the registry roll the canary back by itself, with the measured figures as
 * the reason, recorded in the model's history under the actor {@code slo-monitor}.
 */
public final class CanaryMonitor implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CanaryMonitor.class);
    public static final String ACTOR = "slo-monitor";

    public record Slo(boolean autoRollback, Duration window, int minRequests, double maxErrorRate, Duration maxP99Latency) {
        public static Slo from(Config c) {
            return new Slo(c.getBoolean("troupe.canary.auto-rollback"), c.getDuration("troupe.canary.window"),
                    c.getInt("troupe.canary.min-requests"), c.getDouble("troupe.canary.max-error-rate"),
                    c.getDuration("troupe.canary.max-p99-latency"));
        }
    }

    private final ModelDeployments deployments;
    private final Slo slo;
    private final Map<String, SloWindow> windows = new ConcurrentHashMap<>();
    private final ScheduledExecutorService ticker;
    private volatile List<String> canaries = List.of();
    private volatile boolean rollingBack;

    public CanaryMonitor(ModelDeployments deployments, Slo slo) {
        this.deployments = deployments;
        this.slo = slo;
        this.ticker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "troupe-canary-" + deployments.model());
            t.setDaemon(true);
            return t;
        });
        deployments.onChange(this::onState);
    }

    public CanaryMonitor start() {
        if (slo.autoRollback()) ticker.scheduleWithFixedDelay(this::check, 1, 1, TimeUnit.SECONDS);
        return this;
    }

    /** One request of {@code version} ended (called by the HTTP API, any thread). */
    public void record(String version, long latencyNanos, boolean serverError) {
        windows.computeIfAbsent(version, v -> new SloWindow(8192)).record(System.nanoTime(), latencyNanos, serverError);
    }

    /** A version that just became a canary is judged on its own requests as a canary, not on older ones. */
    private void onState(ModelRegistry.State s) {
        List<String> now = s.canaries();
        for (String v : now) {
            if (!canaries.contains(v)) {
                SloWindow w = windows.get(v);
                if (w != null) w.clear();
            }
        }
        canaries = List.copyOf(now);
    }

    private void check() {
        if (rollingBack) return;
        long now = System.nanoTime();
        for (String v : canaries) {
            SloWindow w = windows.get(v);
            if (w == null) continue;
            SloWindow.Summary s = w.summary(now, slo.window().toNanos());
            if (s.requests() < slo.minRequests()) continue;
            String breach = null;
            if (s.errorRate() > slo.maxErrorRate()) {
                breach = String.format(Locale.ROOT, "error rate %.1f%% > %.1f%%", 100 * s.errorRate(), 100 * slo.maxErrorRate());
            } else if (s.p99Nanos() > slo.maxP99Latency().toNanos()) {
                breach = String.format(Locale.ROOT, "p99 latency %d ms > %d ms", s.p99Nanos() / 1_000_000, slo.maxP99Latency().toMillis());
            }
            if (breach == null) continue;
            String reason = "canary " + v + " breached its SLO: " + breach + " over the last " + slo.window().toSeconds()
                    + " s (" + s.requests() + " requests, " + s.errors() + " failed)";
            log.warn("model '{}': {}; rolling back", deployments.model(), reason);
            rollingBack = true;
            deployments.command(to -> new ModelRegistry.Rollback(ACTOR, null, reason, to)).whenComplete((r, t) -> {
                rollingBack = false;
                if (t != null) log.warn("model '{}': the automatic rollback failed: {}", deployments.model(), t.toString());
                else if (r instanceof ModelRegistry.Reply.Rejected rej) log.warn("model '{}': the automatic rollback was refused: {}",
                        deployments.model(), rej.message());
            });
            return;
        }
    }

    @Override
    public void close() {
        ticker.shutdownNow();
    }
}
