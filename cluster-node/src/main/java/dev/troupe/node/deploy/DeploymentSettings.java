package dev.troupe.node.deploy;

import com.typesafe.config.Config;
import dev.troupe.actors.replica.StepLoop;
import dev.troupe.engine.EngineOptions;

import java.time.Duration;

/**
 * How this node loads and keeps versions ({@code troupe.engine}, {@code troupe.scheduler},
 * {@code troupe.deployments}, {@code troupe.shutdown.grace}).
 */
public record DeploymentSettings(EngineOptions engine, Duration warmUp, StepLoop.Config loop, Duration keepWarm,
                                 Duration drainGrace, Duration maxHeartbeatAge) {
    public static DeploymentSettings from(Config c) {
        EngineOptions engine = EngineOptions.defaults()
                .withThreads(c.getInt("troupe.engine.threads"))
                .withBackend(c.getString("troupe.engine.backend"))
                .withKvCacheTokens(c.getInt("troupe.engine.kv-cache-tokens"))
                .withKvCacheType(dev.troupe.engine.kv.PagedKvCache.Type.parse(c.getString("troupe.engine.kv-cache-type")))
                .withKvCacheBytes(c.getBytes("troupe.engine.kv-cache-bytes"))
                .withKvBlockSize(c.getInt("troupe.engine.kv-block-size"))
                .withMaxBatchTokens(c.getInt("troupe.scheduler.max-batched-tokens"))
                .withMaxSequences(c.getInt("troupe.scheduler.max-num-seqs") + 1);
        StepLoop.Config loop = new StepLoop.Config(c.getInt("troupe.scheduler.max-num-seqs"),
                c.getInt("troupe.scheduler.max-batched-tokens"), c.getInt("troupe.scheduler.max-queued"), Duration.ofMillis(50),
                c.getBoolean("troupe.engine.prefix-caching"));
        return new DeploymentSettings(engine, c.getDuration("troupe.engine.warm-up"), loop,
                c.getDuration("troupe.deployments.keep-warm"), c.getDuration("troupe.shutdown.grace"),
                c.getDuration("troupe.health.max-heartbeat-age"));
    }
}
