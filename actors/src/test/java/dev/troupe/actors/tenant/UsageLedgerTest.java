package dev.troupe.actors.tenant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.troupe.actors.registry.TestJournal;
import dev.troupe.actors.tenant.UsageLedger.Command;
import dev.troupe.actors.tenant.UsageLedger.Reply;
import dev.troupe.actors.tenant.UsageLedger.Totals;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.LocalDate;
import java.util.Map;
import java.util.UUID;
import java.util.function.Function;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The usage ledger on the real journal (H2 file, or PostgreSQL under -Ppostgres). */
class UsageLedgerTest {
    static final LocalDate D1 = LocalDate.parse("2026-03-01");

    @TempDir Path dir;
    TestJournal journal;
    ActorSystem<Void> system;
    String tenant;
    String pid;

    @BeforeEach
    void setUp() throws Exception {
        journal = new TestJournal(dir);
        tenant = "u-" + UUID.randomUUID().toString().substring(0, 8);
        pid = UsageLedger.persistenceId(tenant).id();
        system = journal.start("usage-test");
    }

    @AfterEach
    void tearDown() throws Exception {
        try {
            TestJournal.stop(system);
        } finally {
            journal.delete(pid);
        }
    }

    ActorRef<Command> spawn(int snapshotEvery, int dedupeDays) {
        return system.systemActorOf(UsageLedger.create(tenant, snapshotEvery, dedupeDays, Clock.systemUTC()),
                "usage-" + UUID.randomUUID(), Props.empty());
    }

    Reply ask(ActorRef<Command> ref, Function<ActorRef<Reply>, Command> command) {
        TestProbe<Reply> probe = TestProbe.create(system);
        ref.tell(command.apply(probe.getRef()));
        return probe.receiveMessage(Duration.ofSeconds(10));
    }

    Reply record(ActorRef<Command> ref, String key, String model, LocalDate day, int prompt, int completion) {
        return ask(ref, r -> new UsageLedger.Record(key, model, day, prompt, completion, r));
    }

    Map<LocalDate, Map<String, Totals>> usage(ActorRef<Command> ref) {
        return ((Reply.Usage) ask(ref, UsageLedger.GetUsage::new)).byDay();
    }

    @Test
    void eachRequestKeyCountsOnceAndTotalsSurviveRestarts() throws Exception {
        ActorRef<Command> u = spawn(3, 2);
        assertEquals(new Reply.Recorded(true), record(u, "k1", "m", D1, 10, 5));
        assertEquals(new Reply.Recorded(false), record(u, "k1", "m", D1, 10, 5), "the same key again is not counted");
        assertEquals(new Reply.Recorded(true), record(u, "k2", "m", D1, 1, 2));
        assertEquals(new Reply.Recorded(true), record(u, "k3", "other", D1, 7, 0));
        assertEquals(new Reply.Recorded(true), record(u, "k4", "m", D1.plusDays(1), 3, 3));
        assertEquals(new Reply.Rejected("requestKey is required"), record(u, " ", "m", D1, 1, 1));
        assertEquals(new Reply.Rejected("token counts must not be negative"), record(u, "k9", "m", D1, -1, 1));
        assertEquals(4, journal.count("event_journal", pid), "one event per counted request, none for repeats or rejections");
        Map<LocalDate, Map<String, Totals>> before = usage(u);
        assertEquals(Map.of(
                D1, Map.of("m", new Totals(2, 11, 7), "other", new Totals(1, 7, 0)),
                D1.plusDays(1), Map.of("m", new Totals(1, 3, 3))), before);
        TestJournal.stop(system);

        system = journal.start("usage-test-2");
        assertTrue(journal.count("snapshot", pid) > 0);
        ActorRef<Command> again = spawn(3, 2);
        assertEquals(before, usage(again));
        assertEquals(new Reply.Recorded(false), record(again, "k2", "m", D1, 1, 2), "seen keys survive the restart");
    }

    @Test
    void keysAreForgottenAfterTheDedupeWindow() {
        ActorRef<Command> u = spawn(0, 2);
        assertEquals(new Reply.Recorded(true), record(u, "k", "m", D1, 1, 1));
        assertEquals(new Reply.Recorded(true), record(u, "other", "m", D1.plusDays(1), 1, 1));
        assertEquals(new Reply.Recorded(false), record(u, "k", "m", D1.plusDays(1), 1, 1), "still inside 2 days");
        assertEquals(new Reply.Recorded(true), record(u, "later", "m", D1.plusDays(2), 1, 1));
        assertEquals(new Reply.Recorded(true), record(u, "k", "m", D1.plusDays(2), 1, 1), "outside the window it counts again");
    }
}
