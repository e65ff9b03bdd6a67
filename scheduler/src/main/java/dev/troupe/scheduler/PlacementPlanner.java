package dev.troupe.scheduler;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Which slice hosts which replica. Pure: slices, the replicas wanted and the current assignments in; the
 * changes out. The caller persists and carries them out.
 *
 * <p>Rules, in order:
 * <ol>
 * <li>An assignment stays while its replica is wanted and its slice exists, or its slice's node is still a
 *     member (a member whose slices were not heard of yet keeps what it hosts: no churn after a restart).</li>
 * <li>Assignments of replicas no longer wanted, or on slices of nodes that left, are released.</li>
 * <li>Each wanted replica without a slice (in key order) goes to a slice with room for it on a node that runs
 *     no replica of the same model version yet (a node runs one replica of a version: it would only split the
 *     node's cores), the most free memory first, then the slice id. A replica that fits nowhere is
 *     unplaceable, with the numbers.</li>
 * </ol>
 */
public final class PlacementPlanner {
    private PlacementPlanner() {}

    /** One device share: a memory budget on a node (and its threads, which placement does not divide). */
    public record Slice(String id, String node, long memoryBytes) {}

    /** Replica {@code index} of a model version. */
    public record ReplicaKey(String model, String version, int index) implements Comparable<ReplicaKey> {
        private static final Comparator<ReplicaKey> ORDER = Comparator.comparing(ReplicaKey::model)
                .thenComparing(ReplicaKey::version).thenComparingInt(ReplicaKey::index);

        @Override
        public int compareTo(ReplicaKey o) {
            return ORDER.compare(this, o);
        }
    }

    /** A replica wanted, and the memory it needs (weights + KV pool). */
    public record Want(ReplicaKey key, long memoryBytes) {}

    /** Where a replica runs. */
    public record Assignment(String slice, String node, long memoryBytes) {}

    /** The changes: replicas to place (key to slice), to release (key to why), and those that fit nowhere (key to why). */
    public record Plan(Map<ReplicaKey, Assignment> place, Map<ReplicaKey, String> release, Map<ReplicaKey, String> unplaceable) {
        public boolean isEmpty() {
            return place.isEmpty() && release.isEmpty();
        }
    }

    /**
     * @param slices  the slices known now
     * @param members the nodes that are cluster members now (their assignments stay even if their slices are unknown)
     * @param wanted  every replica wanted
     * @param current the assignments in force
     */
    public static Plan plan(List<Slice> slices, Set<String> members, List<Want> wanted, Map<ReplicaKey, Assignment> current) {
        Map<String, Slice> byId = new HashMap<>();
        for (Slice s : slices) byId.put(s.id(), s);
        Map<ReplicaKey, Want> wants = new TreeMap<>();
        for (Want w : wanted) wants.put(w.key(), w);

        Map<ReplicaKey, String> release = new TreeMap<>();
        Map<ReplicaKey, Assignment> kept = new TreeMap<>();
        for (Map.Entry<ReplicaKey, Assignment> e : current.entrySet()) {
            Assignment a = e.getValue();
            if (!wants.containsKey(e.getKey())) release.put(e.getKey(), "no longer wanted");
            else if (!byId.containsKey(a.slice()) && !members.contains(a.node())) release.put(e.getKey(), "node " + a.node() + " left the cluster");
            else kept.put(e.getKey(), a);
        }

        Map<String, Long> used = new HashMap<>();
        Map<String, Integer> perNodeVersion = new HashMap<>(); // node + model@version -> replicas
        for (Map.Entry<ReplicaKey, Assignment> e : kept.entrySet()) {
            used.merge(e.getValue().slice(), e.getValue().memoryBytes(), Long::sum);
            perNodeVersion.merge(e.getValue().node() + "|" + e.getKey().model() + "@" + e.getKey().version(), 1, Integer::sum);
        }

        Map<ReplicaKey, Assignment> place = new LinkedHashMap<>();
        Map<ReplicaKey, String> unplaceable = new TreeMap<>();
        List<Slice> ordered = new ArrayList<>(slices);
        ordered.sort(Comparator.comparing(Slice::id));
        for (Want w : wants.values()) {
            if (kept.containsKey(w.key())) continue;
            String version = w.key().model() + "@" + w.key().version();
            Slice best = null;
            long bestFree = -1;
            long largestFree = 0;
            boolean roomOnlyWhereRunning = false;
            for (Slice s : ordered) {
                long free = s.memoryBytes() - used.getOrDefault(s.id(), 0L);
                boolean running = perNodeVersion.getOrDefault(s.node() + "|" + version, 0) > 0;
                if (!running) largestFree = Math.max(largestFree, free);
                if (free < w.memoryBytes()) continue;
                if (running) {
                    roomOnlyWhereRunning = true;
                    continue;
                }
                if (free > bestFree) {
                    best = s;
                    bestFree = free;
                }
            }
            if (best == null) {
                unplaceable.put(w.key(), slices.isEmpty() ? "no worker slice in the cluster"
                        : "needs " + mib(w.memoryBytes()) + " MiB; the largest free slice on a node without " + version + " has "
                        + mib(largestFree) + " MiB" + (roomOnlyWhereRunning ? " (the nodes with room run one already: one per node)" : ""));
                continue;
            }
            Assignment a = new Assignment(best.id(), best.node(), w.memoryBytes());
            place.put(w.key(), a);
            used.merge(best.id(), w.memoryBytes(), Long::sum);
            perNodeVersion.merge(best.node() + "|" + version, 1, Integer::sum);
        }
        return new Plan(place, release, unplaceable);
    }

    private static long mib(long bytes) {
        return (bytes + (1 << 20) - 1) >> 20;
    }
}
