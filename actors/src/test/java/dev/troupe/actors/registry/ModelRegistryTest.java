package dev.troupe.actors.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.troupe.actors.registry.ModelRegistry.Command;
import dev.troupe.actors.registry.ModelRegistry.Deployment;
import dev.troupe.actors.registry.ModelRegistry.HistoryEntry;
import dev.troupe.actors.registry.ModelRegistry.Reply;
import dev.troupe.actors.registry.ModelRegistry.State;
import dev.troupe.actors.registry.ModelRegistry.VersionInfo;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ModelRegistryTest {
    static final String SHA1 = "a".repeat(64);
    static final String SHA2 = "b".repeat(64);
    static final Map<String, String> PARAMS = Map.of("context", "2048", "quant", "q8_0");

    @TempDir Path dir;
    TestJournal journal;
    ActorSystem<Void> system;
    String model;
    String pid;

    @BeforeEach
    void setUp() throws Exception {
        journal = new TestJournal(dir);
        model = "m-" + UUID.randomUUID();
        pid = ModelRegistry.persistenceId(model).id();
        system = journal.start("registry-test");
    }

    @AfterEach
    void tearDown() throws Exception {
        try {
            TestJournal.stop(system);
        } finally {
            journal.delete(pid);
        }
    }

    /** A clock the test sets before each command. */
    static final class SetClock extends Clock {
        volatile Instant now = Instant.parse("2026-01-01T00:00:00Z");

        @Override public ZoneId getZone() { return ZoneOffset.UTC; }
        @Override public Clock withZone(ZoneId zone) { return this; }
        @Override public Instant instant() { return now; }
    }

    static Instant t(int minute) {
        return Instant.parse("2026-01-01T00:00:00Z").plusSeconds(60L * minute);
    }

    ActorRef<Command> spawn(int snapshotEvery, Clock clock) {
        return system.systemActorOf(ModelRegistry.create(model, snapshotEvery, clock), "reg-" + UUID.randomUUID(), Props.empty());
    }

    Reply ask(ActorRef<Command> ref, Function<ActorRef<Reply>, Command> command) {
        TestProbe<Reply> probe = TestProbe.create(system);
        ref.tell(command.apply(probe.getRef()));
        return probe.receiveMessage(Duration.ofSeconds(10));
    }

    State accepted(ActorRef<Command> ref, Function<ActorRef<Reply>, Command> command) {
        Reply r = ask(ref, command);
        return assertInstanceOf(Reply.Accepted.class, r, () -> "expected Accepted, got " + r).state();
    }

    State state(ActorRef<Command> ref) {
        return ((Reply.Current) ask(ref, ModelRegistry.GetState::new)).state();
    }

    List<HistoryEntry> history(ActorRef<Command> ref) {
        return ((Reply.History) ask(ref, ModelRegistry.GetHistory::new)).entries();
    }

    /** Rejected with exactly this message, and nothing written (journal rows and history unchanged). */
    void rejected(ActorRef<Command> ref, String message, Function<ActorRef<Reply>, Command> command) throws Exception {
        long before = journal.count("event_journal", pid);
        State stateBefore = state(ref);
        assertEquals(new Reply.Rejected(message), ask(ref, command));
        assertEquals(before, journal.count("event_journal", pid));
        assertEquals(stateBefore, state(ref));
    }

    static Map<String, Integer> weights(Object... kv) {
        Map<String, Integer> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], (Integer) kv[i + 1]);
        return m;
    }

    /** register v1, v2 → deploy both → promote v1 → 90/10 → promote v2 → rollback → retire v2 (9 events). */
    void script(ActorRef<Command> ref, SetClock clock) {
        if (clock != null) clock.now = t(1);
        accepted(ref, r -> new ModelRegistry.RegisterVersion("alice", "v1", "/m/v1.gguf", SHA1, "llama", PARAMS, r));
        if (clock != null) clock.now = t(2);
        accepted(ref, r -> new ModelRegistry.RegisterVersion("alice", "v2", "/m/v2.gguf", SHA2, "llama", PARAMS, r));
        if (clock != null) clock.now = t(3);
        accepted(ref, r -> new ModelRegistry.Deploy("bob", "v1", 2, 1, r));
        if (clock != null) clock.now = t(4);
        accepted(ref, r -> new ModelRegistry.Deploy("bob", "v2", 1, 2, r));
        if (clock != null) clock.now = t(5);
        accepted(ref, r -> new ModelRegistry.Promote("bob", "v1", r));
        if (clock != null) clock.now = t(6);
        accepted(ref, r -> new ModelRegistry.SetTraffic("carol", weights("v1", 90, "v2", 10), r));
        if (clock != null) clock.now = t(7);
        accepted(ref, r -> new ModelRegistry.Promote("carol", "v2", r));
        if (clock != null) clock.now = t(8);
        accepted(ref, r -> new ModelRegistry.Rollback("carol", null, "latency regression", r));
        if (clock != null) clock.now = t(9);
        accepted(ref, r -> new ModelRegistry.Retire("alice", "v2", r));
    }

    @Test
    void lifecycleRepliesAndStateAreExact() {
        SetClock clock = new SetClock();
        ActorRef<Command> ref = spawn(0, clock);
        VersionInfo v1 = new VersionInfo("v1", "/m/v1.gguf", SHA1, "llama", PARAMS, t(1), "alice", false);
        VersionInfo v2 = new VersionInfo("v2", "/m/v2.gguf", SHA2, "llama", PARAMS, t(2), "alice", false);
        Deployment d1 = new Deployment("v1", 2, 1);
        Deployment d2 = new Deployment("v2", 1, 2);

        clock.now = t(1);
        State s = accepted(ref, r -> new ModelRegistry.RegisterVersion("alice", "v1", "/m/v1.gguf", SHA1, "llama", PARAMS, r));
        assertEquals(Map.of("v1", v1), s.versions());
        assertNull(s.live());
        clock.now = t(2);
        s = accepted(ref, r -> new ModelRegistry.RegisterVersion("alice", "v2", "/m/v2.gguf", SHA2, "llama", PARAMS, r));
        assertEquals(Map.of("v1", v1, "v2", v2), s.versions());
        clock.now = t(3);
        s = accepted(ref, r -> new ModelRegistry.Deploy("bob", "v1", 2, 1, r));
        assertEquals(Map.of("v1", d1), s.deployments());
        clock.now = t(4);
        s = accepted(ref, r -> new ModelRegistry.Deploy("bob", "v2", 1, 2, r));
        assertEquals(Map.of("v1", d1, "v2", d2), s.deployments());
        assertEquals(Map.of(), s.traffic());
        clock.now = t(5);
        s = accepted(ref, r -> new ModelRegistry.Promote("bob", "v1", r));
        assertEquals("v1", s.live());
        assertEquals(Map.of("v1", 100), s.traffic());
        clock.now = t(6);
        s = accepted(ref, r -> new ModelRegistry.SetTraffic("carol", weights("v1", 90, "v2", 10), r));
        assertEquals(Map.of("v1", 90, "v2", 10), s.traffic());
        assertEquals("v1", s.live());
        clock.now = t(7);
        s = accepted(ref, r -> new ModelRegistry.Promote("carol", "v2", r));
        assertEquals("v2", s.live());
        assertEquals(List.of("v1", "v2"), s.liveStack());
        assertEquals(Map.of("v2", 100), s.traffic());
        clock.now = t(8);
        s = accepted(ref, r -> new ModelRegistry.Rollback("carol", null, "latency regression", r));
        assertEquals("v1", s.live());
        assertEquals(Map.of("v1", 100), s.traffic());
        clock.now = t(9);
        s = accepted(ref, r -> new ModelRegistry.Retire("alice", "v2", r));

        VersionInfo v2Retired = new VersionInfo("v2", "/m/v2.gguf", SHA2, "llama", PARAMS, t(2), "alice", true);
        List<HistoryEntry> expectedHistory = List.of(
                new HistoryEntry(1, t(1), "alice", "VersionRegistered", Map.of("version", "v1", "path", "/m/v1.gguf",
                        "sha256", SHA1, "architecture", "llama", "parameters.context", "2048", "parameters.quant", "q8_0")),
                new HistoryEntry(2, t(2), "alice", "VersionRegistered", Map.of("version", "v2", "path", "/m/v2.gguf",
                        "sha256", SHA2, "architecture", "llama", "parameters.context", "2048", "parameters.quant", "q8_0")),
                new HistoryEntry(3, t(3), "bob", "DeploymentRolledOut", Map.of("version", "v1", "replicas", "2", "tensorParallel", "1")),
                new HistoryEntry(4, t(4), "bob", "DeploymentRolledOut", Map.of("version", "v2", "replicas", "1", "tensorParallel", "2")),
                new HistoryEntry(5, t(5), "bob", "Promoted", Map.of("version", "v1")),
                new HistoryEntry(6, t(6), "carol", "TrafficSet", Map.of("weight.v1", "90", "weight.v2", "10")),
                new HistoryEntry(7, t(7), "carol", "Promoted", Map.of("version", "v2", "previous", "v1")),
                new HistoryEntry(8, t(8), "carol", "RolledBack", Map.of("from", "v2", "to", "v1", "reason", "latency regression")),
                new HistoryEntry(9, t(9), "alice", "Retired", Map.of("version", "v2")));
        State expected = new State(Map.of("v1", v1, "v2", v2Retired), Map.of("v1", d1), Map.of("v1", 100),
                List.of("v1"), expectedHistory);
        assertEquals(expected, s);
        assertEquals(expected, state(ref));
        assertEquals(expectedHistory, history(ref));
    }

    @Test
    void everyRejectionHasAPreciseMessageAndPersistsNothing() throws Exception {
        ActorRef<Command> ref = spawn(0, Clock.systemUTC());
        accepted(ref, r -> new ModelRegistry.RegisterVersion("alice", "v1", "/m/v1.gguf", SHA1, "llama", PARAMS, r));
        accepted(ref, r -> new ModelRegistry.RegisterVersion("alice", "v2", "/m/v2.gguf", SHA2, "llama", PARAMS, r));
        assertEquals(2, journal.count("event_journal", pid));

        rejected(ref, "nothing to roll back: no version is live", r -> new ModelRegistry.Rollback("bob", null, "x", r));
        rejected(ref, "version 'v1' is not deployed", r -> new ModelRegistry.Promote("bob", "v1", r));
        rejected(ref, "version 'v1' is already registered with path /m/v1.gguf and sha256 " + SHA1,
                r -> new ModelRegistry.RegisterVersion("alice", "v1", "/m/v1.gguf", SHA2, "llama", PARAMS, r));
        rejected(ref, "version 'v1' is already registered with path /m/v1.gguf and sha256 " + SHA1,
                r -> new ModelRegistry.RegisterVersion("alice", "v1", "/m/other.gguf", SHA1, "llama", PARAMS, r));
        rejected(ref, "sha256 must be 64 lowercase hex digits",
                r -> new ModelRegistry.RegisterVersion("alice", "v3", "/m/v3.gguf", "xyz", "llama", PARAMS, r));
        rejected(ref, "path is required",
                r -> new ModelRegistry.RegisterVersion("alice", "v3", " ", SHA1, "llama", PARAMS, r));
        rejected(ref, "actor is required", r -> new ModelRegistry.Deploy("", "v1", 1, 1, r));
        rejected(ref, "unknown version 'v9'", r -> new ModelRegistry.Deploy("bob", "v9", 1, 1, r));
        rejected(ref, "replicas must be at least 1, got 0", r -> new ModelRegistry.Deploy("bob", "v1", 0, 1, r));
        rejected(ref, "tensorParallel must be 0 (the fewest slices that fit) or more, got -1", r -> new ModelRegistry.Deploy("bob", "v1", 1, -1, r));

        // the same registration again is idempotent: Accepted, no event
        State s = accepted(ref, r -> new ModelRegistry.RegisterVersion("alice", "v1", "/m/v1.gguf", SHA1, "llama", PARAMS, r));
        assertEquals(2, s.history().size());
        assertEquals(2, journal.count("event_journal", pid));

        accepted(ref, r -> new ModelRegistry.Deploy("bob", "v1", 2, 1, r));
        accepted(ref, r -> new ModelRegistry.Deploy("bob", "v1", 2, 1, r)); // same deployment: no event
        // The deployment's own continuation switch is part of it: setting it is a change, kept in the state.
        State off = accepted(ref, r -> new ModelRegistry.Deploy("bob", "v1", 2, 1, false, r));
        assertEquals(new Deployment("v1", 2, 1, false), off.deployments().get("v1"));
        accepted(ref, r -> new ModelRegistry.Deploy("bob", "v1", 2, 1, false, r)); // same again: no event
        assertEquals(4, journal.count("event_journal", pid));
        accepted(ref, r -> new ModelRegistry.Promote("bob", "v1", r));

        rejected(ref, "version 'v2' is not deployed", r -> new ModelRegistry.SetTraffic("bob", weights("v1", 90, "v2", 10), r));
        rejected(ref, "weights must sum to 100, got 90", r -> new ModelRegistry.SetTraffic("bob", weights("v1", 90), r));
        rejected(ref, "weights are required", r -> new ModelRegistry.SetTraffic("bob", Map.of(), r));
        rejected(ref, "weight of 'v1' must be between 0 and 100", r -> new ModelRegistry.SetTraffic("bob", weights("v1", -10), r));
        rejected(ref, "version 'v1' is already live", r -> new ModelRegistry.Promote("bob", "v1", r));
        rejected(ref, "unknown version 'v9'", r -> new ModelRegistry.Promote("bob", "v9", r));
        rejected(ref, "nothing to roll back to: 'v1' is the only version that was live",
                r -> new ModelRegistry.Rollback("bob", null, "x", r));
        rejected(ref, "version 'v2' was never live before 'v1'", r -> new ModelRegistry.Rollback("bob", "v2", "x", r));
        rejected(ref, "unknown version 'v9'", r -> new ModelRegistry.Rollback("bob", "v9", "x", r));
        rejected(ref, "cannot retire the live version 'v1'", r -> new ModelRegistry.Retire("bob", "v1", r));
        rejected(ref, "unknown version 'v9'", r -> new ModelRegistry.Retire("bob", "v9", r));

        accepted(ref, r -> new ModelRegistry.Deploy("bob", "v2", 1, 1, r));
        accepted(ref, r -> new ModelRegistry.SetTraffic("bob", weights("v1", 90, "v2", 10), r));
        rejected(ref, "version 'v2' still receives 10% of the traffic", r -> new ModelRegistry.Retire("bob", "v2", r));
        accepted(ref, r -> new ModelRegistry.SetTraffic("bob", weights("v1", 100), r));
        accepted(ref, r -> new ModelRegistry.Retire("bob", "v2", r));
        rejected(ref, "version 'v2' is retired", r -> new ModelRegistry.Deploy("bob", "v2", 1, 1, r));
        rejected(ref, "version 'v2' is retired", r -> new ModelRegistry.Retire("bob", "v2", r));
        rejected(ref, "version 'v2' is retired", r -> new ModelRegistry.Promote("bob", "v2", r));
        rejected(ref, "version 'v2' is retired", r -> new ModelRegistry.Rollback("bob", "v2", "x", r));
        assertEquals(9, journal.count("event_journal", pid));
        assertEquals(9, history(ref).size());
        assertTrue(history(ref).stream().anyMatch(h -> "false".equals(h.fields().get("continuation"))), "the switch is in the history");
    }

    @Test
    void rollingBackDuringACanaryEndsTheCanary() {
        ActorRef<Command> ref = spawn(0, Clock.systemUTC());
        accepted(ref, r -> new ModelRegistry.RegisterVersion("alice", "v1", "/m/v1.gguf", SHA1, "llama", PARAMS, r));
        accepted(ref, r -> new ModelRegistry.RegisterVersion("alice", "v2", "/m/v2.gguf", SHA2, "llama", PARAMS, r));
        accepted(ref, r -> new ModelRegistry.Deploy("bob", "v1", 1, 1, r));
        accepted(ref, r -> new ModelRegistry.Deploy("bob", "v2", 1, 1, r));
        accepted(ref, r -> new ModelRegistry.Promote("bob", "v1", r));
        State s = accepted(ref, r -> new ModelRegistry.SetTraffic("bob", weights("v1", 80, "v2", 20), r));
        assertEquals(List.of("v2"), s.canaries());

        s = accepted(ref, r -> new ModelRegistry.Rollback("slo-monitor", null, "error rate 50% > 5%", r));
        assertEquals("v1", s.live());
        assertEquals(Map.of("v1", 100), s.traffic());
        assertEquals(List.of(), s.canaries());
        HistoryEntry last = s.history().get(s.history().size() - 1);
        assertEquals("RolledBack", last.type());
        assertEquals("slo-monitor", last.actor());
        assertEquals(Map.of("from", "v2", "to", "v1", "reason", "error rate 50% > 5%"), last.fields());

        // naming the live version ends a canary too; without a canary it is refused as before
        accepted(ref, r -> new ModelRegistry.SetTraffic("bob", weights("v1", 50, "v2", 50), r));
        s = accepted(ref, r -> new ModelRegistry.Rollback("bob", "v1", null, r));
        assertEquals(Map.of("v1", 100), s.traffic());
        assertEquals(new Reply.Rejected("version 'v1' is already live"), ask(ref, r -> new ModelRegistry.Rollback("bob", "v1", null, r)));
    }

    @ParameterizedTest(name = "snapshotEvery={0}")
    @ValueSource(ints = {0, 3})
    void restartRecoversIdenticalStateAndHistory(int snapshotEvery) throws Exception {
        // the journal really is the one the build selected (-Ppostgres sets troupe.test.journal=postgres)
        assertEquals(TestJournal.postgres() ? "slick.jdbc.PostgresProfile$" : "slick.jdbc.H2Profile$",
                system.settings().config().getString("pekko-persistence-jdbc.shared-databases.slick.profile"));
        ActorRef<Command> ref = spawn(snapshotEvery, Clock.systemUTC());
        script(ref, null);
        State before = state(ref);
        List<HistoryEntry> historyBefore = history(ref);
        assertEquals(9, historyBefore.size());
        assertEquals(9, journal.count("event_journal", pid));
        if (snapshotEvery > 0) {
            assertTrue(journal.count("snapshot", pid) > 0, "snapshots were written");
        } else {
            assertEquals(0, journal.count("snapshot", pid));
        }
        // the journal holds JSON, readable without the classes
        List<String[]> payloads = journal.payloads(pid);
        assertTrue(payloads.get(0)[0].contains("\"sha256\":\"" + SHA1 + "\""), payloads.get(0)[0]);
        assertTrue(payloads.get(0)[1].contains("VersionRegistered"), payloads.get(0)[1]);

        TestJournal.stop(system);
        if (snapshotEvery > 0) {
            // snapshots at 6 and 9 are kept: drop events 1..6 so recovery must read the JSON snapshot
            assertEquals(6, journal.deleteEventsUpTo(pid, 6));
        }
        system = journal.start("registry-test-2");
        ActorRef<Command> again = spawn(snapshotEvery, Clock.systemUTC());
        assertEquals(before, state(again));
        assertEquals(historyBefore, history(again));

        // and it goes on from there
        State next = accepted(again, r -> new ModelRegistry.Deploy("bob", "v1", 3, 1, r));
        assertEquals(10, next.history().get(9).seq());
        assertEquals(snapshotEvery > 0 ? 4 : 10, journal.count("event_journal", pid));
    }

    @Test
    void stateAtTimeShowsTheDeploymentBetweenTwoCommands() throws Exception {
        SetClock clock = new SetClock();
        ActorRef<Command> ref = spawn(3, clock);
        script(ref, clock); // t(1)..t(9)
        clock.now = t(20);
        accepted(ref, r -> new ModelRegistry.Deploy("bob", "v1", 4, 2, r));

        State between = ModelRegistry.stateAt(system, model, t(6).plusSeconds(30)).toCompletableFuture().get(10, TimeUnit.SECONDS);
        assertEquals(Map.of("v1", new Deployment("v1", 2, 1), "v2", new Deployment("v2", 1, 2)), between.deployments());
        assertEquals(Map.of("v1", 90, "v2", 10), between.traffic());
        assertEquals("v1", between.live());
        assertEquals(6, between.history().size());

        State beforeRedeploy = ModelRegistry.stateAt(system, model, t(19)).toCompletableFuture().get(10, TimeUnit.SECONDS);
        assertEquals(Map.of("v1", new Deployment("v1", 2, 1)), beforeRedeploy.deployments());
        State exactlyAt = ModelRegistry.stateAt(system, model, t(20)).toCompletableFuture().get(10, TimeUnit.SECONDS);
        assertEquals(state(ref), exactlyAt);
        assertEquals(State.EMPTY, ModelRegistry.stateAt(system, model, t(0)).toCompletableFuture().get(10, TimeUnit.SECONDS));
    }
}
