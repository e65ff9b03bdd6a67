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
 * <li>An assignment stays while its replica is wanted with the same split and each of its slices exists, or
 *     the slice's node is still a member (a member whose slices were not heard of yet keeps what it hosts: no
 *     churn after a restart).</li>
 * <li>Assignments of replicas no longer wanted, wanted with another split, or with any slice on a node that
 *     left, are released (a tensor-parallel group without one of its slices cannot run).</li>
 * <li>Each wanted replica without slices (in key order) takes the fewest slices it may be split over that
 *     fit, on nodes that run no replica of the same model version yet (a node runs one replica of a version:
 *     it would only split the node's cores). Whole: the slice with the most free memory, then the slice id.
 *     Split over N: N slices of one node if a node has them (the most free memory in all), else N slices from
 *     the fewest nodes; the leader is the first. A replica that fits nowhere is unplaceable, with the numbers.</li>
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

    /**
     * A replica wanted, and the memory each of its slices needs (its share of the weights + KV pool) by the
     * number of slices it may be split over: one entry when its split is fixed, {1: whole} when it never is.
     */
    public record Want(ReplicaKey key, Map<Integer, Long> bytesBySlices) {
        public Want {
            if (bytesBySlices.isEmpty()) throw new IllegalArgumentException("a want needs at least one split");
            bytesBySlices = Map.copyOf(bytesBySlices);
        }

        /** A replica that runs whole on one slice. */
        public Want(ReplicaKey key, long memoryBytes) {
            this(key, Map.of(1, memoryBytes));
        }

        /** The splits it may take, fewest slices first. */
        public List<Integer> splits() {
            List<Integer> out = new ArrayList<>(bytesBySlices.keySet());
            out.sort(null);
            return out;
        }
    }

    /** One more slice of a tensor-parallel group. */
    public record GroupSlice(String slice, String node) {}

    /**
     * Where a replica runs: its (leader) slice and node, the memory it holds on each of its slices, and the
     * other slices of its tensor-parallel group in rank order (none when it runs whole).
     */
    public record Assignment(String slice, String node, long memoryBytes, List<GroupSlice> followers) {
        public Assignment {
            followers = followers == null ? List.of() : List.copyOf(followers);   // events from before groups have none
        }

        public Assignment(String slice, String node, long memoryBytes) {
            this(slice, node, memoryBytes, List.of());
        }

        /** Slices the replica runs on. */
        public int slices() {
            return 1 + followers.size();
        }

        /** Every slice of the group, leader first. */
        public List<GroupSlice> group() {
            List<GroupSlice> out = new ArrayList<>();
            out.add(new GroupSlice(slice, node));
            out.addAll(followers);
            return out;
        }
    }

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
            Want w = wants.get(e.getKey());
            String gone = null;
            for (GroupSlice g : a.group()) if (!byId.containsKey(g.slice()) && !members.contains(g.node())) gone = g.node();
            if (w == null) release.put(e.getKey(), "no longer wanted");
            else if (gone != null) release.put(e.getKey(), "node " + gone + " left the cluster");
            else if (!w.bytesBySlices().containsKey(a.slices())) release.put(e.getKey(), "its deployment wants another split than " + a.slices() + " slices");
            else kept.put(e.getKey(), a);
        }

        Map<String, Long> used = new HashMap<>();
        Map<String, Integer> perNodeVersion = new HashMap<>(); // node + model@version -> replicas
        for (Map.Entry<ReplicaKey, Assignment> e : kept.entrySet()) {
            for (GroupSlice g : e.getValue().group()) {
                used.merge(g.slice(), e.getValue().memoryBytes(), Long::sum);
                perNodeVersion.merge(g.node() + "|" + e.getKey().model() + "@" + e.getKey().version(), 1, Integer::sum);
            }
        }

        Map<ReplicaKey, Assignment> place = new LinkedHashMap<>();
        Map<ReplicaKey, String> unplaceable = new TreeMap<>();
        List<Slice> ordered = new ArrayList<>(slices);
        ordered.sort(Comparator.comparing(Slice::id));
        for (Want w : wants.values()) {
            if (kept.containsKey(w.key())) continue;
            String version = w.key().model() + "@" + w.key().version();
            Assignment a = null;
            for (int n : w.splits()) {
                a = n == 1 ? whole(ordered, used, perNodeVersion, version, w.bytesBySlices().get(1))
                        : group(ordered, used, perNodeVersion, version, n, w.bytesBySlices().get(n));
                if (a != null) break;
            }
            if (a == null) {
                unplaceable.put(w.key(), slices.isEmpty() ? "no worker slice in the cluster" : why(w, ordered, used, perNodeVersion, version));
                continue;
            }
            place.put(w.key(), a);
            for (GroupSlice g : a.group()) {
                used.merge(g.slice(), a.memoryBytes(), Long::sum);
                perNodeVersion.merge(g.node() + "|" + version, 1, Integer::sum);
            }
        }
        return new Plan(place, release, unplaceable);
    }

    private static long free(Slice s, Map<String, Long> used) {
        return s.memoryBytes() - used.getOrDefault(s.id(), 0L);
    }

    private static boolean running(Slice s, Map<String, Integer> perNodeVersion, String version) {
        return perNodeVersion.getOrDefault(s.node() + "|" + version, 0) > 0;
    }

    /** The slice with the most free memory (then the lowest id) that fits, on a node without the version; null if none. */
    private static Assignment whole(List<Slice> ordered, Map<String, Long> used, Map<String, Integer> perNodeVersion, String version, long bytes) {
        Slice best = null;
        for (Slice s : ordered) {
            if (free(s, used) < bytes || running(s, perNodeVersion, version)) continue;
            if (best == null || free(s, used) > free(best, used)) best = s;
        }
        return best == null ? null : new Assignment(best.id(), best.node(), bytes);
    }

    /**
     * n slices that each fit a share, on nodes without the version: all on one node when a node has n (the one
     * with the most free memory in them), else from the fewest nodes, the nodes with most fitting slices
     * first. Within a node, the slices with most free memory first. Null when there are not n.
     */
    private static Assignment group(List<Slice> ordered, Map<String, Long> used, Map<String, Integer> perNodeVersion, String version,
                                    int n, long share) {
        Map<String, List<Slice>> byNode = new TreeMap<>();
        for (Slice s : ordered) {
            if (free(s, used) >= share && !running(s, perNodeVersion, version)) byNode.computeIfAbsent(s.node(), k -> new ArrayList<>()).add(s);
        }
        Comparator<Slice> roomiest = Comparator.comparingLong((Slice s) -> -free(s, used)).thenComparing(Slice::id);
        byNode.values().forEach(l -> l.sort(roomiest));
        List<Slice> chosen = null;
        long bestFree = -1;
        for (List<Slice> onNode : byNode.values()) {
            if (onNode.size() < n) continue;
            long total = 0;
            for (int i = 0; i < n; i++) total += free(onNode.get(i), used);
            if (total > bestFree) {
                bestFree = total;
                chosen = onNode.subList(0, n);
            }
        }
        if (chosen == null) {
            List<List<Slice>> nodes = new ArrayList<>(byNode.values());
            nodes.sort(Comparator.comparingInt((List<Slice> l) -> -l.size()).thenComparing(l -> l.get(0).node()));
            List<Slice> spread = new ArrayList<>();
            for (List<Slice> onNode : nodes) {
                for (Slice s : onNode) if (spread.size() < n) spread.add(s);
            }
            if (spread.size() < n) return null;
            chosen = spread;
        }
        List<GroupSlice> followers = new ArrayList<>();
        for (int i = 1; i < n; i++) followers.add(new GroupSlice(chosen.get(i).id(), chosen.get(i).node()));
        return new Assignment(chosen.get(0).id(), chosen.get(0).node(), share, followers);
    }

    /** Why a replica fits nowhere: each split's need against what the slices have free. */
    private static String why(Want w, List<Slice> ordered, Map<String, Long> used, Map<String, Integer> perNodeVersion, String version) {
        long largestFree = 0;
        boolean roomOnlyWhereRunning = false;
        long smallestNeed = Long.MAX_VALUE;
        for (long b : w.bytesBySlices().values()) smallestNeed = Math.min(smallestNeed, b);
        for (Slice s : ordered) {
            if (!running(s, perNodeVersion, version)) largestFree = Math.max(largestFree, free(s, used));
            else if (free(s, used) >= smallestNeed) roomOnlyWhereRunning = true;
        }
        StringBuilder need = new StringBuilder("needs ");
        for (int n : w.splits()) {
            if (need.length() > 6) need.append(", or ");
            long b = w.bytesBySlices().get(n);
            if (n == 1) need.append(mib(b)).append(w.bytesBySlices().size() == 1 ? " MiB" : " MiB on one slice");
            else {
                int fit = 0;
                for (Slice s : ordered) if (!running(s, perNodeVersion, version) && free(s, used) >= b) fit++;
                need.append(mib(b)).append(" MiB on each of ").append(n).append(" slices (").append(fit).append(" have it)");
            }
        }
        return need + "; the largest free slice on a node without " + version + " has " + mib(largestFree) + " MiB"
                + (roomOnlyWhereRunning ? " (the nodes with room run one already: one per node)" : "");
    }

    private static long mib(long bytes) {
        return (bytes + (1 << 20) - 1) >> 20;
    }
}
