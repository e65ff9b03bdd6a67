package dev.troupe.actors.slice;

import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.*;

/** A slice grants its memory to replicas until it is full, refuses with the numbers, and frees on release. */
class GpuSliceTest {
    private static final long GB = 1L << 30;
    private static final ActorTestKit kit = ActorTestKit.create();

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
    }

    private final List<GpuSlice.Status> changes = new CopyOnWriteArrayList<>();

    private ActorRef<GpuSlice.Command> slice(Map<String, Long> held) {
        return kit.spawn(GpuSlice.create("n:1/0", "n:1", 8 * GB, 3, held, changes::add));
    }

    private static GpuSlice.ReserveReply reserve(ActorRef<GpuSlice.Command> s, String replica, long bytes) {
        TestProbe<GpuSlice.ReserveReply> p = kit.createTestProbe();
        s.tell(new GpuSlice.Reserve(replica, bytes, p.ref()));
        return p.receiveMessage();
    }

    private static GpuSlice.Status status(ActorRef<GpuSlice.Command> s) {
        TestProbe<GpuSlice.Status> p = kit.createTestProbe();
        s.tell(new GpuSlice.GetStatus(p.ref()));
        return p.receiveMessage();
    }

    @Test
    void grantsUntilFullThenRefusesWithTheNumbers() {
        ActorRef<GpuSlice.Command> s = slice(Map.of());
        assertEquals(new GpuSlice.Granted("n:1/0", "a@v1", 3), reserve(s, "a@v1", 5 * GB));
        GpuSlice.ReserveReply second = reserve(s, "b@v1", 4 * GB);
        GpuSlice.Refused refused = assertInstanceOf(GpuSlice.Refused.class, second);
        assertEquals(4 * GB, refused.needBytes());
        assertEquals(3 * GB, refused.freeBytes());
        assertEquals(8 * GB, refused.totalBytes());
        assertTrue(refused.reason().contains("b@v1"), refused.reason());
        // Exactly what is left fits.
        assertInstanceOf(GpuSlice.Granted.class, reserve(s, "c@v1", 3 * GB));
        GpuSlice.Status st = status(s);
        assertEquals(8 * GB, st.reservedBytes());
        assertEquals(0, st.freeBytes());
        assertEquals(Map.of("a@v1", 5 * GB, "c@v1", 3 * GB), st.reservations());
    }

    @Test
    void releaseFreesTheBytesAndAReserveAgainReplacesTheOldAmount() {
        ActorRef<GpuSlice.Command> s = slice(Map.of());
        reserve(s, "a@v1", 6 * GB);
        assertInstanceOf(GpuSlice.Refused.class, reserve(s, "b@v1", 3 * GB));
        s.tell(new GpuSlice.Release("a@v1"));
        s.tell(new GpuSlice.Release("never-held"));
        assertInstanceOf(GpuSlice.Granted.class, reserve(s, "b@v1", 3 * GB));
        // The same replica asking again (a reload) is not counted twice.
        assertInstanceOf(GpuSlice.Granted.class, reserve(s, "b@v1", 8 * GB));
        assertEquals(Map.of("b@v1", 8 * GB), status(s).reservations());
        assertInstanceOf(GpuSlice.Refused.class, reserve(s, "c@v1", 1));
        assertInstanceOf(GpuSlice.Refused.class, reserve(s, "d@v1", -1));
    }

    @Test
    void startsAgainWithWhatItHeldAndReportsEveryChange() {
        ActorRef<GpuSlice.Command> s = slice(Map.of("a@v1", 7 * GB));
        assertInstanceOf(GpuSlice.Refused.class, reserve(s, "b@v1", 2 * GB));
        reserve(s, "b@v1", GB);
        s.tell(new GpuSlice.Release("a@v1"));
        status(s);
        // The first state, the grant of b, the release of a; a refusal changes nothing.
        assertEquals(List.of(Map.of("a@v1", 7 * GB), Map.of("a@v1", 7 * GB, "b@v1", GB), Map.of("b@v1", GB)),
                changes.stream().map(GpuSlice.Status::reservations).toList());
    }

    @Test
    void refusesANonsensicalSlice() {
        assertThrows(IllegalArgumentException.class, () -> GpuSlice.create("x/0", "x", 0, 1, st -> {}));
        assertThrows(IllegalArgumentException.class, () -> GpuSlice.create("x/0", "x", GB, 0, st -> {}));
    }
}
