package dev.troupe.sharding;

import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.actors.replica.Replica;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The gateway's side of request liveness: a request whose replica answers "alive" stays open; one whose
 * replica goes silent ends with REPLICA_LOST within the liveness timeout (plus one sweep) and is cancelled
 * there; a replica given up that speaks again is not heard for a request that now runs elsewhere.
 */
class StreamReceiverTest {
    private static final ActorTestKit kit = ActorTestKit.create();
    private static final Duration LIVENESS = Duration.ofMillis(400);

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
    }

    private record Recorded(List<GenerationEvent> events, CompletableFuture<GenerationEvent> terminal) {
        static Recorded create() {
            return new Recorded(new CopyOnWriteArrayList<>(), new CompletableFuture<>());
        }

        void add(GenerationEvent e) {
            events.add(e);
            if (!(e instanceof GenerationEvent.Tokens)) terminal.complete(e);
        }
    }

    private static GenerationEvent.Tokens tokens(String id, int token) {
        return new GenerationEvent.Tokens(id, "t" + token, new int[]{token}, List.of());
    }

    @Test
    void aReplicaThatAnswersKeepsItsRequestAndASilentOneLosesIt() throws Exception {
        StreamReceiver.Sinks sinks = new StreamReceiver.Sinks();
        ActorRef<Replica.ToGateway> receiver = kit.spawn(StreamReceiver.create(sinks, LIVENESS, "gw:1"));
        TestProbe<Replica.Command> replica = kit.createTestProbe();
        Recorded got = Recorded.create();
        assertTrue(sinks.add("r1", got::add, replica.ref(), "w:2"));

        // For three liveness periods the replica says it still runs r1: nothing ends.
        long until = System.nanoTime() + 3 * LIVENESS.toNanos();
        while (System.nanoTime() < until) {
            Replica.StillWaiting w = replica.expectMessageClass(Replica.StillWaiting.class, Duration.ofSeconds(2));
            assertEquals(List.of("r1"), w.requestIds());
            w.replyTo().tell(new Replica.Alive(w.requestIds(), replica.ref().unsafeUpcast()));
        }
        assertFalse(got.terminal().isDone(), "still open while its replica answers: " + got.events());

        // Then it goes silent: the request ends as lost, and is cancelled at the replica.
        long silentFrom = System.nanoTime();
        GenerationEvent end = got.terminal().get(5, TimeUnit.SECONDS);
        long tookMillis = (System.nanoTime() - silentFrom) / 1_000_000;
        GenerationEvent.Failed f = assertInstanceOf(GenerationEvent.Failed.class, end);
        assertEquals(GenerationEvent.FailureKind.REPLICA_LOST, f.kind());
        assertTrue(f.message().contains("w:2"), f.message());
        assertTrue(tookMillis <= LIVENESS.toMillis() * 2 + 300, "noticed in " + tookMillis + " ms");
        Replica.Command c = replica.fishForMessage(Duration.ofSeconds(2), m -> m instanceof Replica.Cancel
                ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0);
        assertEquals(new Replica.Cancel("r1"), c);
        assertNull(sinks.get("r1"));
    }

    @Test
    void aRequestItsReplicaNeverSpokeOfWaitsFourTimeoutsBeforeItIsLost() throws Exception {
        StreamReceiver.Sinks sinks = new StreamReceiver.Sinks();
        kit.spawn(StreamReceiver.create(sinks, LIVENESS, "gw:1"));
        TestProbe<Replica.Command> replica = kit.createTestProbe();
        Recorded got = Recorded.create();
        long submitted = System.nanoTime();
        assertTrue(sinks.add("r3", got::add, replica.ref(), "w:4"));
        // Silent from the start (its entity still being located): not lost after one timeout...
        Thread.sleep(LIVENESS.toMillis() * 2);
        assertFalse(got.terminal().isDone(), "lost before the replica could be located");
        // ...but lost after four.
        GenerationEvent.Failed f = assertInstanceOf(GenerationEvent.Failed.class, got.terminal().get(5, TimeUnit.SECONDS));
        assertEquals(GenerationEvent.FailureKind.REPLICA_LOST, f.kind());
        long tookMillis = (System.nanoTime() - submitted) / 1_000_000;
        assertTrue(tookMillis >= LIVENESS.toMillis() * StreamReceiver.FIRST_WORD_FACTOR, "lost after " + tookMillis + " ms");
    }

    @Test
    void aLostReplicaThatComesBackIsNotHeardForARequestContinuedElsewhere() throws Exception {
        StreamReceiver.Sinks sinks = new StreamReceiver.Sinks();
        ActorRef<Replica.ToGateway> receiver = kit.spawn(StreamReceiver.create(sinks, Duration.ofSeconds(30), "gw:1"));
        TestProbe<Replica.Command> old = kit.createTestProbe();
        Recorded got = Recorded.create();
        // r2 runs now on a replica of node w:3 (it was continued there); the probe's actor is on this node ("gw:1").
        assertTrue(sinks.add("r2", got::add, old.ref(), "w:3"));
        receiver.tell(new Replica.EventBatch("r2", 7, List.of(tokens("r2", 5)), old.ref()));
        receiver.tell(new Replica.EventBatch("r2", 8, List.of(new GenerationEvent.Finished("r2", GenerationEvent.FinishReason.STOP, 3, 9)), old.ref()));
        // The stale replica is told to stop, never acknowledged; the request is untouched.
        assertEquals(new Replica.Cancel("r2"), old.expectMessageClass(Replica.Cancel.class));
        old.expectNoMessage(Duration.ofMillis(200));
        assertEquals(List.of(), got.events());
        assertNotNull(sinks.get("r2"));
    }
}
