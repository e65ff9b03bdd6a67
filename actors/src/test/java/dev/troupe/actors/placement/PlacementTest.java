package dev.troupe.actors.placement;

import dev.troupe.actors.registry.TestJournal;
import dev.troupe.scheduler.PlacementPlanner.ReplicaKey;
import dev.troupe.scheduler.PlacementPlanner.Slice;
import dev.troupe.scheduler.PlacementPlanner.Want;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The placement entity on a real journal (H2, or PostgreSQL under -Ppostgres): demands become persisted
 * decisions published on the topic, a restart recovers them unchanged, a node that leaves has its replicas
 * placed again, and what fits nowhere is published with the reason.
 */
class PlacementTest {
    private static final long GB = 1L << 30;
    @TempDir Path dir;
    private TestJournal journal;
    private ActorSystem<Void> system;
    private final AtomicReference<Placement.Cluster> cluster = new AtomicReference<>();

    @BeforeEach
    void start() throws Exception {
        journal = new TestJournal(dir);
        system = journal.start("placement-test");
        journal.delete(Placement.PERSISTENCE_ID.id());
    }

    @AfterEach
    void stop() throws Exception {
        TestJournal.stop(system);
        journal.delete(Placement.PERSISTENCE_ID.id());
    }

    private static List<Slice> slices(String... nodes) {
        List<Slice> out = new ArrayList<>();
        for (String n : nodes) out.add(new Slice(n + "/0", n, 8 * GB));
        return out;
    }

    private record Running(ActorRef<Placement.Command> ref, TestProbe<Placement.Current> published) {}

    private Running spawn() {
        ActorRef<Topic.Command<Placement.Current>> topic = system.systemActorOf(Topic.create(Placement.Current.class, "placement-" + UUID.randomUUID()),
                "topic-" + UUID.randomUUID(), Props.empty());
        TestProbe<Placement.Current> published = TestProbe.create(system);
        topic.tell(Topic.subscribe(published.getRef()));
        ActorRef<Placement.Command> ref = system.systemActorOf(Placement.create(cluster::get, topic, Duration.ofMillis(50),
                Duration.ofMillis(100), Clock.systemUTC()), "placement-" + UUID.randomUUID(), Props.empty());
        return new Running(ref, published);
    }

    /** The first publication that satisfies the check (publications also repeat now and then). */
    private static Placement.Current awaitPublished(TestProbe<Placement.Current> p, java.util.function.Predicate<Placement.Current> ok) {
        long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (System.nanoTime() < until) {
            Placement.Current c = p.receiveMessage(Duration.ofSeconds(10));
            if (ok.test(c)) return c;
        }
        throw new AssertionError("no such placement published in 10 s");
    }

    private static Map<String, String> nodes(Placement.Current c) {
        Map<String, String> out = new TreeMap<>();
        for (Placement.Placed p : c.assignments()) out.put(Placement.text(p.key()), p.assignment().node());
        return out;
    }

    private static List<Want> replicas(int n) {
        List<Want> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(new Want(new ReplicaKey("m", "v1", i), 2 * GB));
        return out;
    }

    @Test
    void demandsArePlacedPersistedAndRecoveredUnchanged() throws Exception {
        cluster.set(new Placement.Cluster(slices("a", "b", "c"), Set.of("a", "b", "c")));
        Running first = spawn();
        first.ref().tell(new Placement.Demand("m", replicas(3)));
        Placement.Current placed = awaitPublished(first.published(), c -> c.assignments().size() == 3);
        assertEquals(Set.of("a", "b", "c"), Set.copyOf(nodes(placed).values()), "one per node");
        assertEquals(3, journal.count("event_journal", Placement.PERSISTENCE_ID.id()), "each decision is an event");

        // A new incarnation (the cluster restarted, or the singleton moved) recovers the same decisions,
        // even before any demand or slice is known again.
        TestJournal.stop(system);
        system = journal.start("placement-test");
        cluster.set(new Placement.Cluster(List.of(), Set.of("a", "b", "c")));
        Running second = spawn();
        TestProbe<Placement.Current> reply = TestProbe.create(system);
        second.ref().tell(new Placement.GetPlacement(reply.getRef()));
        assertEquals(nodes(placed), nodes(reply.receiveMessage(Duration.ofSeconds(10))));
        second.ref().tell(new Placement.Demand("m", replicas(3)));
        Thread.sleep(500);
        second.ref().tell(new Placement.GetPlacement(reply.getRef()));
        assertEquals(nodes(placed), nodes(reply.receiveMessage(Duration.ofSeconds(10))), "nothing moves while the slices are announced again");
    }

    @Test
    void aNodeThatLeavesHasItsReplicaPlacedOnAJoiningNodeAndWhatFitsNowhereSaysWhy() {
        cluster.set(new Placement.Cluster(slices("a", "b"), Set.of("a", "b")));
        Running p = spawn();
        p.ref().tell(new Placement.Demand("m", replicas(2)));
        awaitPublished(p.published(), c -> c.assignments().size() == 2);
        // b leaves: its replica has nowhere to go (a runs one already) and says so.
        cluster.set(new Placement.Cluster(slices("a"), Set.of("a")));
        Placement.Current alone = awaitPublished(p.published(), c -> c.assignments().size() == 1 && !c.unplaceable().isEmpty());
        assertTrue(alone.unplaceable().get("m@v1#1").contains("one per node"), alone.unplaceable().toString());
        // c joins: the replica goes there.
        cluster.set(new Placement.Cluster(slices("a", "c"), Set.of("a", "c")));
        Placement.Current again = awaitPublished(p.published(), c -> c.assignments().size() == 2);
        assertEquals(Set.of("a", "c"), Set.copyOf(nodes(again).values()));
        assertTrue(again.unplaceable().isEmpty());
    }
}
