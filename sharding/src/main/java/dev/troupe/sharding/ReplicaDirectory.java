package dev.troupe.sharding;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * This node's view of every replica in the cluster, from their nodes' announcements: which replicas serve
 * a model version, and how loaded each last said it was. An announcement older than the expiry (a node
 * that stopped announcing) no longer counts; a lost node's replicas are dropped at once. Thread-safe.
 */
public final class ReplicaDirectory {
    private record Entry(ReplicaStatus status, long heardNanos) {}

    private final ConcurrentHashMap<String, Entry> byId = new ConcurrentHashMap<>();
    private final long expiryNanos;

    public ReplicaDirectory(java.time.Duration expiry) {
        this.expiryNanos = expiry.toNanos();
    }

    void file(ReplicaStatus s, long nowNanos) {
        byId.put(s.id(), new Entry(s, nowNanos));
    }

    void dropNode(String node) {
        byId.values().removeIf(e -> e.status().node().equals(node));
    }

    /** The ready replicas of a model version with fresh announcements, in id order. */
    public List<ReplicaStatus> ready(String model, String version) {
        long now = System.nanoTime();
        List<ReplicaStatus> out = new ArrayList<>();
        for (Entry e : byId.values()) {
            ReplicaStatus s = e.status();
            if (s.ready() && now - e.heardNanos() <= expiryNanos && s.model().equals(model) && s.version().equals(version)) out.add(s);
        }
        out.sort(java.util.Comparator.comparing(ReplicaStatus::id));
        return out;
    }

    /** Every replica with a fresh announcement (ready or not), in id order: the cluster's replicas as seen here. */
    public List<ReplicaStatus> all() {
        long now = System.nanoTime();
        List<ReplicaStatus> out = new ArrayList<>();
        for (Entry e : byId.values()) if (now - e.heardNanos() <= expiryNanos) out.add(e.status());
        out.sort(java.util.Comparator.comparing(ReplicaStatus::id));
        return out;
    }
}
