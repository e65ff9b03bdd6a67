package dev.troupe.node.cluster;

import com.typesafe.config.Config;
import dev.troupe.scheduler.ReplicaRouter;
import dev.troupe.sharding.Failover;

import java.time.Duration;

/**
 * How gateways route to replicas, how often nodes announce theirs, and what a gateway does when a
 * request's replica is lost ({@code troupe.routing}).
 */
public record RoutingSettings(ReplicaRouter.Config router, Duration announceInterval, Duration announceExpiry,
                              Duration liveness, Failover failover) {
    public RoutingSettings {
        if (liveness.compareTo(Duration.ofMillis(100)) < 0) throw new IllegalArgumentException("troupe.routing.liveness-timeout must be >= 100ms");
        if (announceInterval.isNegative() || announceInterval.isZero()) throw new IllegalArgumentException("troupe.routing.announce-interval must be > 0");
        if (announceExpiry.compareTo(announceInterval.multipliedBy(2)) < 0) {
            throw new IllegalArgumentException("troupe.routing.announce-expiry must be at least twice announce-interval, so one lost announcement drops nothing");
        }
    }

    public static RoutingSettings from(Config c) {
        Config r = c.getConfig("troupe.routing");
        return new RoutingSettings(new ReplicaRouter.Config(r.getInt("prefix-tokens"), r.getInt("min-prefix-tokens"),
                r.getDuration("affinity-ttl").toNanos(), r.getInt("affinity-slack"), r.getInt("affinity-entries"),
                r.getInt("kv-pressure-penalty")), r.getDuration("announce-interval"), r.getDuration("announce-expiry"),
                r.getDuration("liveness-timeout"), new Failover(r.getBoolean("continuation"), r.getInt("max-attempts")));
    }
}
