package dev.troupe.scheduler;

import dev.troupe.scheduler.PlacementPlanner.Assignment;
import dev.troupe.scheduler.PlacementPlanner.Plan;
import dev.troupe.scheduler.PlacementPlanner.ReplicaKey;
import dev.troupe.scheduler.PlacementPlanner.Slice;
import dev.troupe.scheduler.PlacementPlanner.Want;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class PlacementPlannerTest {
    private static final long GB = 1L << 30;

    private static List<Want> replicas(String model, String version, int n, long bytes) {
        List<Want> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(new Want(new ReplicaKey(model, version, i), bytes));
        return out;
    }

    private static Map<ReplicaKey, Assignment> apply(Map<ReplicaKey, Assignment> current, Plan p) {
        Map<ReplicaKey, Assignment> next = new HashMap<>(current);
        next.keySet().removeAll(p.release().keySet());
        next.putAll(p.place());
        return next;
    }

    private static final List<Slice> THREE = List.of(new Slice("a/0", "a", 8 * GB), new Slice("b/0", "b", 8 * GB), new Slice("c/0", "c", 8 * GB));
    private static final Set<String> ABC = Set.of("a", "b", "c");

    @Test
    void oneModelsReplicasSpreadOverNodes() {
        Plan p = PlacementPlanner.plan(THREE, ABC, replicas("m", "v1", 3, 2 * GB), Map.of());
        Set<String> nodes = new HashSet<>();
        for (Assignment a : p.place().values()) nodes.add(a.node());
        assertEquals(Set.of("a", "b", "c"), nodes);
        assertTrue(p.release().isEmpty() && p.unplaceable().isEmpty());
    }

    @Test
    void aStablePlacementChangesNothingAndScalingAddsOnlyTheNewReplica() {
        Map<ReplicaKey, Assignment> current = apply(Map.of(), PlacementPlanner.plan(THREE, ABC, replicas("m", "v1", 3, 2 * GB), Map.of()));
        assertTrue(PlacementPlanner.plan(THREE, ABC, replicas("m", "v1", 3, 2 * GB), current).isEmpty());
        List<Slice> four = new ArrayList<>(THREE);
        four.add(new Slice("d/0", "d", 8 * GB));
        Plan scaled = PlacementPlanner.plan(four, Set.of("a", "b", "c", "d"), replicas("m", "v1", 4, 2 * GB), current);
        assertEquals(Map.of(new ReplicaKey("m", "v1", 3), new Assignment("d/0", "d", 2 * GB)), scaled.place(), "the new replica on the new node");
        assertTrue(scaled.release().isEmpty());
        Plan down = PlacementPlanner.plan(four, Set.of("a", "b", "c", "d"), replicas("m", "v1", 2, 2 * GB), apply(current, scaled));
        assertEquals(Set.of(new ReplicaKey("m", "v1", 2), new ReplicaKey("m", "v1", 3)), down.release().keySet());
    }

    @Test
    void aNodeThatLeavesHasItsReplicasPlacedAgainOnTheOthers() {
        Map<ReplicaKey, Assignment> current = apply(Map.of(), PlacementPlanner.plan(THREE, ABC, replicas("m", "v1", 2, 2 * GB), Map.of()));
        String gone = current.get(new ReplicaKey("m", "v1", 0)).node();
        List<Slice> left = THREE.stream().filter(s -> !s.node().equals(gone)).toList();
        Set<String> members = new HashSet<>(ABC);
        members.remove(gone);
        Plan p = PlacementPlanner.plan(left, members, replicas("m", "v1", 2, 2 * GB), current);
        assertEquals(Set.of(new ReplicaKey("m", "v1", 0)), p.release().keySet());
        assertTrue(p.release().get(new ReplicaKey("m", "v1", 0)).contains("left"));
        Assignment again = p.place().get(new ReplicaKey("m", "v1", 0));
        assertNotNull(again);
        assertNotEquals(gone, again.node());
        assertNotEquals(current.get(new ReplicaKey("m", "v1", 1)).node(), again.node(), "still spread over two nodes");
    }

    @Test
    void aMemberWhoseSlicesAreNotKnownYetKeepsItsReplicas() {
        Map<ReplicaKey, Assignment> current = apply(Map.of(), PlacementPlanner.plan(THREE, ABC, replicas("m", "v1", 3, 2 * GB), Map.of()));
        Plan p = PlacementPlanner.plan(List.of(), ABC, replicas("m", "v1", 3, 2 * GB), current);
        assertTrue(p.isEmpty(), "nothing moves while the slices are being announced: " + p);
    }

    @Test
    void memoryLimitsWhatFitsAndWhatFitsNowhereSaysWhy() {
        List<Slice> small = List.of(new Slice("a/0", "a", 5 * GB), new Slice("b/0", "b", GB));
        Plan p = PlacementPlanner.plan(small, Set.of("a", "b"), replicas("m", "v1", 2, 2 * GB), Map.of());
        assertEquals(Map.of(new ReplicaKey("m", "v1", 0), new Assignment("a/0", "a", 2 * GB)), p.place());
        assertEquals("needs 2048 MiB; the largest free slice on a node without m@v1 has 1024 MiB (the nodes with room run one already: one per node)",
                p.unplaceable().get(new ReplicaKey("m", "v1", 1)));
        Plan tooBig = PlacementPlanner.plan(small, Set.of("a", "b"), replicas("m", "v1", 1, 6 * GB), Map.of());
        assertEquals("needs 6144 MiB; the largest free slice on a node without m@v1 has 5120 MiB", tooBig.unplaceable().get(new ReplicaKey("m", "v1", 0)));
        Plan crowded = PlacementPlanner.plan(List.of(new Slice("a/0", "a", 8 * GB)), Set.of("a"), replicas("m", "v1", 2, 2 * GB), Map.of());
        assertEquals(1, crowded.place().size());
        assertTrue(crowded.unplaceable().get(new ReplicaKey("m", "v1", 1)).endsWith("has 0 MiB (the nodes with room run one already: one per node)"));
        Plan none = PlacementPlanner.plan(List.of(), Set.of(), replicas("m", "v1", 1, GB), Map.of());
        assertEquals("no worker slice in the cluster", none.unplaceable().values().iterator().next());
    }

    @Test
    void twoVersionsShareSlicesByMemory() {
        List<Want> wants = new ArrayList<>(replicas("m", "v1", 2, 3 * GB));
        wants.addAll(replicas("m", "v2", 2, 3 * GB));
        List<Slice> two = List.of(new Slice("a/0", "a", 8 * GB), new Slice("b/0", "b", 8 * GB));
        Plan p = PlacementPlanner.plan(two, Set.of("a", "b"), wants, Map.of());
        assertEquals(4, p.place().size());
        for (String v : List.of("v1", "v2")) {
            assertNotEquals(p.place().get(new ReplicaKey("m", v, 0)).node(), p.place().get(new ReplicaKey("m", v, 1)).node(), v + " spread");
        }
    }

    // ---------------------------------------------------------------- tensor-parallel groups

    private static Want split(String version, int index, Map<Integer, Long> bytesBySlices) {
        return new Want(new ReplicaKey("m", version, index), bytesBySlices);
    }

    @Test
    void aGroupPrefersSlicesOfOneNodeAndLeadsFromTheFirst() {
        List<Slice> slices = List.of(new Slice("a/0", "a", 4 * GB), new Slice("b/0", "b", 4 * GB), new Slice("b/1", "b", 4 * GB),
                new Slice("c/0", "c", 4 * GB));
        Plan p = PlacementPlanner.plan(slices, ABC, List.of(split("v1", 0, Map.of(2, 3 * GB))), Map.of());
        Assignment a = p.place().get(new ReplicaKey("m", "v1", 0));
        assertEquals("b", a.node());
        assertEquals(2, a.slices());
        assertEquals(List.of(new PlacementPlanner.GroupSlice("b/1", "b")), a.followers());
        assertEquals(3 * GB, a.memoryBytes(), "the share each slice holds");
    }

    @Test
    void withoutRoomOnOneNodeAGroupSpansTheFewestNodes() {
        Plan p = PlacementPlanner.plan(THREE, ABC, List.of(split("v1", 0, Map.of(2, 5 * GB))), Map.of());
        Assignment a = p.place().get(new ReplicaKey("m", "v1", 0));
        assertEquals(2, a.slices());
        assertNotEquals(a.node(), a.followers().get(0).node(), "two nodes, one slice each");
        // A second group of the same version takes the third node and... finds no fourth slice: unplaceable, with the numbers.
        Plan second = PlacementPlanner.plan(THREE, ABC, List.of(split("v1", 0, Map.of(2, 5 * GB)), split("v1", 1, Map.of(2, 5 * GB))),
                apply(Map.of(), p));
        assertEquals("needs 5120 MiB on each of 2 slices (1 have it); the largest free slice on a node without m@v1 has 8192 MiB",
                second.unplaceable().get(new ReplicaKey("m", "v1", 1)));
    }

    @Test
    void automaticSplitTakesTheFewestSlicesThatFit() {
        Map<Integer, Long> options = Map.of(1, 12 * GB, 2, 6 * GB, 4, 3 * GB);
        Plan p = PlacementPlanner.plan(THREE, ABC, List.of(split("v1", 0, options)), Map.of());
        assertEquals(2, p.place().get(new ReplicaKey("m", "v1", 0)).slices(), "whole does not fit 8 GB slices; halves do");
        Plan roomy = PlacementPlanner.plan(List.of(new Slice("a/0", "a", 16 * GB)), ABC, List.of(split("v1", 0, options)), Map.of());
        assertEquals(1, roomy.place().get(new ReplicaKey("m", "v1", 0)).slices());
        Plan nowhere = PlacementPlanner.plan(THREE, ABC, List.of(split("v1", 0, Map.of(1, 40 * GB, 2, 20 * GB))), Map.of());
        assertEquals("needs 40960 MiB on one slice, or 20480 MiB on each of 2 slices (0 have it); the largest free slice on a node without m@v1 has 8192 MiB",
                nowhere.unplaceable().get(new ReplicaKey("m", "v1", 0)));
    }

    @Test
    void aGroupLosingAnyNodeIsReleasedAndPlacedAgainOnTheSurvivors() {
        List<Slice> slices = List.of(new Slice("a/0", "a", 8 * GB), new Slice("b/0", "b", 8 * GB), new Slice("c/0", "c", 8 * GB),
                new Slice("c/1", "c", 8 * GB));
        Map<ReplicaKey, Assignment> current = Map.of(new ReplicaKey("m", "v1", 0),
                new Assignment("a/0", "a", 5 * GB, List.of(new PlacementPlanner.GroupSlice("b/0", "b"))));
        List<Slice> withoutB = List.of(slices.get(0), slices.get(2), slices.get(3));
        Plan p = PlacementPlanner.plan(withoutB, Set.of("a", "c"), List.of(split("v1", 0, Map.of(2, 5 * GB))), current);
        assertEquals("node b left the cluster", p.release().get(new ReplicaKey("m", "v1", 0)));
        Assignment again = p.place().get(new ReplicaKey("m", "v1", 0));
        assertEquals("c", again.node());
        assertEquals("c", again.followers().get(0).node());
        // Kept while every node of the group is there; a new split asked for releases it.
        Map<ReplicaKey, Assignment> now = apply(current, p);
        assertTrue(PlacementPlanner.plan(withoutB, Set.of("a", "c"), List.of(split("v1", 0, Map.of(2, 5 * GB))), now).isEmpty());
        Plan resplit = PlacementPlanner.plan(withoutB, Set.of("a", "c"), List.of(split("v1", 0, Map.of(1, 7 * GB))), now);
        assertEquals("its deployment wants another split than 2 slices", resplit.release().get(new ReplicaKey("m", "v1", 0)));
        assertEquals(1, resplit.place().get(new ReplicaKey("m", "v1", 0)).slices());
    }
}
