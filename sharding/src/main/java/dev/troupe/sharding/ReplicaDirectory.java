package dev.troupe.sharding;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * This node's view of every node's slices and replicas, from their announcements: which replicas serve a
 * model version and how loaded each last said it was, and which slices the cluster has. A node's newest
 * announcement replaces its previous one; one older than the expiry (a node that stopped announcing) no
 * longer counts, and a lost node is dropped at once. Thread-safe.
 */
public final class ReplicaDirectory {
    private record Heard(NodeAnnouncement announcement, long atNanos) {}

    private final ConcurrentHashMap<String, Heard> byNode = new ConcurrentHashMap<>();
    private final long expiryNanos;

    public ReplicaDirectory(java.time.Duration expiry) {
        this.expiryNanos = expiry.toNanos();
    }

    void file(NodeAnnouncement a, long nowNanos) {
        byNode.put(a.node(), new Heard(a, nowNanos));
    }

    void dropNode(String node) {
        byNode.remove(node);
    }

    private List<NodeAnnouncement> fresh() {
        long now = System.nanoTime();
        List<NodeAnnouncement> out = new ArrayList<>();
        for (Heard h : byNode.values()) if (now - h.atNanos() <= expiryNanos) out.add(h.announcement());
        return out;
    }

    /** The ready replicas of a model version, in id order. */
    public List<ReplicaStatus> ready(String model, String version) {
        List<ReplicaStatus> out = new ArrayList<>();
        for (NodeAnnouncement a : fresh()) {
            for (ReplicaStatus s : a.replicas()) {
                if (s.ready() && s.model().equals(model) && s.version().equals(version)) out.add(s);
            }
        }
        out.sort(Comparator.comparing(ReplicaStatus::id));
        return out;
    }

    /** Every announced replica (ready or draining), in id order. */
    public List<ReplicaStatus> all() {
        List<ReplicaStatus> out = new ArrayList<>();
        for (NodeAnnouncement a : fresh()) out.addAll(a.replicas());
        out.sort(Comparator.comparing(ReplicaStatus::id));
        return out;
    }

    /** The other nodes that announce a file with this sha256: (node, HTTP base URL) pairs. */
    public List<String[]> peersWith(String sha256, String self) {
        List<String[]> out = new ArrayList<>();
        for (NodeAnnouncement a : fresh()) {
            if (!a.node().equals(self) && !a.httpBase().isEmpty() && a.files().contains(sha256)) out.add(new String[]{a.node(), a.httpBase()});
        }
        return out;
    }

    /** The tensor-parallel UDP endpoint a node announces, or null when it announces none (or is not heard of). */
    public String tensorEndpoint(String node) {
        Heard h = byNode.get(node);
        return h == null || h.announcement().tensorEndpoint().isEmpty() ? null : h.announcement().tensorEndpoint();
    }

    /** Every announced slice, in id order. */
    public List<SliceInfo> slices() {
        List<SliceInfo> out = new ArrayList<>();
        for (NodeAnnouncement a : fresh()) out.addAll(a.slices());
        out.sort(Comparator.comparing(SliceInfo::id));
        return out;
    }
}
