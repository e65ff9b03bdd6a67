package dev.troupe.actors.tenant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.troupe.actors.registry.ModelRegistry.HistoryEntry;
import dev.troupe.actors.registry.TestJournal;
import dev.troupe.actors.tenant.Tenant.Command;
import dev.troupe.actors.tenant.Tenant.Reply;
import dev.troupe.actors.tenant.Tenant.State;
import dev.troupe.actors.tenant.Tenant.Why;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.function.Function;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Tenant entity on the real journal (H2 file, or PostgreSQL under -Ppostgres). */
class TenantTest {
    static final Quotas Q = new Quotas(60, 10_000, 4);

    @TempDir Path dir;
    TestJournal journal;
    ActorSystem<Void> system;
    String id;
    String pid;

    @BeforeEach
    void setUp() throws Exception {
        journal = new TestJournal(dir);
        id = "t-" + UUID.randomUUID().toString().substring(0, 8);
        pid = Tenant.persistenceId(id).id();
        system = journal.start("tenant-test");
    }

    @AfterEach
    void tearDown() throws Exception {
        try {
            TestJournal.stop(system);
        } finally {
            journal.delete(pid);
        }
    }

    ActorRef<Command> spawn(int snapshotEvery, ActorRef<Topic.Command<Tenant.Changed>> topic) {
        return system.systemActorOf(Tenant.create(id, topic, snapshotEvery), "tenant-" + UUID.randomUUID(), Props.empty());
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
        return ((Reply.Current) ask(ref, Tenant.GetState::new)).state();
    }

    /** Rejected for this reason with exactly this message, and nothing written. */
    void rejected(ActorRef<Command> ref, Why why, String message, Function<ActorRef<Reply>, Command> command) throws Exception {
        long before = journal.count("event_journal", pid);
        State stateBefore = state(ref);
        assertEquals(new Reply.Rejected(why, message), ask(ref, command));
        assertEquals(before, journal.count("event_journal", pid));
        assertEquals(stateBefore, state(ref));
    }

    @Test
    void createValidatesAndRefusesDuplicates() throws Exception {
        ActorRef<Command> t = spawn(0, null);
        rejected(t, Why.NOT_FOUND, "no tenant '" + id + "'", r -> new Tenant.Suspend("admin", "x", r));
        rejected(t, Why.NOT_FOUND, "no tenant '" + id + "'", r -> new Tenant.RevokeKey("admin", "abc", r));
        rejected(t, Why.INVALID, "actor is required", r -> new Tenant.Create(" ", 1, Q, List.of(), r));
        rejected(t, Why.INVALID, "weight must be between 1 and 1000, got 0", r -> new Tenant.Create("admin", 0, Q, List.of(), r));
        rejected(t, Why.INVALID, "quotas.requests_per_minute must be 0 (unlimited) or more, got -1",
                r -> new Tenant.Create("admin", 1, new Quotas(-1, 0, 0), List.of(), r));
        rejected(t, Why.INVALID, "quotas.tokens_per_minute must be 0 (unlimited) or more, got -5",
                r -> new Tenant.Create("admin", 1, new Quotas(0, -5, 0), List.of(), r));
        rejected(t, Why.INVALID, "quotas.max_concurrent must be 0 (unlimited) or more, got -2",
                r -> new Tenant.Create("admin", 1, new Quotas(0, 0, -2), List.of(), r));
        rejected(t, Why.INVALID, "models must not repeat a name", r -> new Tenant.Create("admin", 1, Q, List.of("a", "a"), r));
        rejected(t, Why.INVALID, "models must not contain an empty name", r -> new Tenant.Create("admin", 1, Q, List.of(""), r));

        State s = accepted(t, r -> new Tenant.Create("admin", 3, Q, List.of("b", "a"), r));
        assertTrue(s.exists());
        assertEquals(3, s.weight());
        assertEquals(Q, s.quotas());
        assertEquals(List.of("a", "b"), s.models());
        assertTrue(s.allows("a"));
        assertFalse(s.allows("c"));
        rejected(t, Why.CONFLICT, "tenant '" + id + "' already exists", r -> new Tenant.Create("admin", 1, Q, List.of(), r));
    }

    @Test
    void invalidIdIsRefused() throws Exception {
        id = "Bad Id";
        pid = Tenant.persistenceId(id).id();
        ActorRef<Command> t = spawn(0, null);
        rejected(t, Why.INVALID, "id must be 1 to 63 of a-z, 0-9, '-', '_' (starting with a letter or digit), got 'Bad Id'",
                r -> new Tenant.Create("admin", 1, Q, List.of(), r));
    }

    @Test
    void keysAreStoredAsSaltedHashesOnly() throws Exception {
        ActorRef<Command> t = spawn(0, null);
        accepted(t, r -> new Tenant.Create("admin", 1, Quotas.UNLIMITED, List.of(), r));
        ApiKeys.Issued key = ApiKeys.issue();
        State s = accepted(t, r -> new Tenant.IssueKey("admin", key.keyId(), key.salt(), key.hash(), r));
        Tenant.KeyInfo info = s.keys().get(key.keyId());
        assertEquals(key.hash(), info.hash());
        assertFalse(info.revoked());
        assertEquals("admin", info.issuedBy());
        rejected(t, Why.CONFLICT, "key '" + key.keyId() + "' already exists",
                r -> new Tenant.IssueKey("admin", key.keyId(), key.salt(), key.hash(), r));
        rejected(t, Why.NOT_FOUND, "tenant '" + id + "' has no key 'nope'", r -> new Tenant.RevokeKey("admin", "nope", r));

        String secret = ApiKeys.parse(key.key()).secret();
        for (String[] row : journal.payloads(pid)) {
            assertFalse(row[0].contains(key.key()), "the journal must never hold the key");
            assertFalse(row[0].contains(secret), "the journal must never hold the secret");
        }
        assertTrue(journal.payloads(pid).get(1)[0].contains(key.hash()), "the salted hash is what is stored");
        HistoryEntry issued = s.history().get(1);
        assertEquals("KeyIssued", issued.type());
        assertEquals(java.util.Map.of("keyId", key.keyId()), issued.fields(), "history names the key, nothing else");

        State revoked = accepted(t, r -> new Tenant.RevokeKey("ops", key.keyId(), r));
        assertTrue(revoked.keys().get(key.keyId()).revoked());
        assertEquals("ops", revoked.keys().get(key.keyId()).revokedBy());
        long rows = journal.count("event_journal", pid);
        assertEquals(revoked, accepted(t, r -> new Tenant.RevokeKey("ops", key.keyId(), r)), "revoking twice changes nothing");
        assertEquals(rows, journal.count("event_journal", pid));
    }

    @Test
    void updateWritesOnlyWhatChangesAndHistoryRecordsWho() throws Exception {
        ActorRef<Command> t = spawn(0, null);
        accepted(t, r -> new Tenant.Create("admin", 1, Q, List.of(), r));
        State same = accepted(t, r -> new Tenant.Update("admin", 1, Q, List.of(), r));
        assertEquals(1, same.history().size(), "no change, no event");
        State s = accepted(t, r -> new Tenant.Update("alice", 5, null, List.of("m"), r));
        assertEquals(5, s.weight());
        assertEquals(Q, s.quotas());
        assertEquals(List.of("m"), s.models());
        assertEquals(List.of("TenantCreated", "WeightSet", "ModelsAllowed"), s.history().stream().map(HistoryEntry::type).toList());
        assertEquals("alice", s.history().get(2).actor());
        rejected(t, Why.INVALID, "weight must be between 1 and 1000, got 1001", r -> new Tenant.Update("admin", 1001, null, null, r));

        s = accepted(t, r -> new Tenant.Suspend("admin", "unpaid", r));
        assertTrue(s.suspended());
        assertEquals("unpaid", s.suspendReason());
        s = accepted(t, r -> new Tenant.Resume("admin", r));
        assertFalse(s.suspended());
        assertNull(s.suspendReason());
        assertEquals(5, s.history().size());
        for (int i = 0; i < s.history().size(); i++) assertEquals(i + 1, s.history().get(i).seq());
    }

    @Test
    void stateAndHistorySurviveRestartsWithSnapshots() throws Exception {
        ActorRef<Command> t = spawn(2, null);
        accepted(t, r -> new Tenant.Create("admin", 2, Q, List.of("x"), r));
        ApiKeys.Issued key = ApiKeys.issue();
        accepted(t, r -> new Tenant.IssueKey("admin", key.keyId(), key.salt(), key.hash(), r));
        accepted(t, r -> new Tenant.Update("admin", null, new Quotas(1, 2, 3), null, r));
        State before = accepted(t, r -> new Tenant.Suspend("admin", "audit", r));
        TestJournal.stop(system);

        system = journal.start("tenant-test-2");
        assertTrue(journal.count("snapshot", pid) > 0, "snapshots were taken");
        State after = state(spawn(2, null));
        assertEquals(before, after);
        TenantDirectory d = new TenantDirectory();
        d.update(after);
        assertEquals(TenantDirectory.Denial.SUSPENDED, d.authenticate(key.key()).denial());
    }

    @Test
    void directoryAuthenticates() throws Exception {
        ActorRef<Command> t = spawn(0, null);
        accepted(t, r -> new Tenant.Create("admin", 7, Q, List.of("m"), r));
        ApiKeys.Issued key = ApiKeys.issue();
        State s = accepted(t, r -> new Tenant.IssueKey("admin", key.keyId(), key.salt(), key.hash(), r));
        TenantDirectory d = new TenantDirectory();
        assertTrue(d.isEmpty());
        d.update(s);
        assertFalse(d.isEmpty());
        TenantDirectory.Result ok = d.authenticate(key.key());
        assertTrue(ok.ok());
        assertEquals(new TenantDirectory.Principal(id, key.keyId(), 7, Q, List.of("m")), ok.principal());
        assertEquals(TenantDirectory.Denial.MALFORMED, d.authenticate(null).denial());
        assertEquals(TenantDirectory.Denial.MALFORMED, d.authenticate("sk-whatever").denial());
        ApiKeys.Issued other = ApiKeys.issue();
        assertEquals(TenantDirectory.Denial.UNKNOWN, d.authenticate(other.key()).denial());
        String forged = ApiKeys.PREFIX + key.keyId() + "-" + ApiKeys.parse(other.key()).secret();
        assertEquals(TenantDirectory.Denial.UNKNOWN, d.authenticate(forged).denial(), "right key id, wrong secret");
        d.update(State.empty(id).apply(new Tenant.TenantCreated(s.createdAt(), "admin", 1, Q, List.of())));
        assertTrue(d.authenticate(key.key()).ok(), "an older state does not replace a newer one");
    }

    @Test
    void revocationReachesTheDirectoryWithinASecond() throws Exception {
        ActorRef<Topic.Command<Tenant.Changed>> topic = system.systemActorOf(
                Topic.create(Tenant.Changed.class, Tenant.TOPIC), "topic-" + UUID.randomUUID(), Props.empty());
        TenantDirectory d = new TenantDirectory();
        system.systemActorOf(TenantFeed.create(topic, d), "feed-" + UUID.randomUUID(), Props.empty());
        ActorRef<Command> t = spawn(0, topic);
        // The feed subscribes asynchronously: wait until a published change arrives.
        accepted(t, r -> new Tenant.Create("admin", 1, Q, List.of(), r));
        ApiKeys.Issued key = ApiKeys.issue();
        accepted(t, r -> new Tenant.IssueKey("admin", key.keyId(), key.salt(), key.hash(), r));
        long until = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (!d.authenticate(key.key()).ok() && System.nanoTime() < until) Thread.sleep(5);
        assertTrue(d.authenticate(key.key()).ok(), "the issued key reached the directory");

        long start = System.nanoTime();
        accepted(t, r -> new Tenant.RevokeKey("admin", key.keyId(), r));
        while (d.authenticate(key.key()).ok() && System.nanoTime() - start < Duration.ofSeconds(5).toNanos()) Thread.sleep(1);
        long tookMs = (System.nanoTime() - start) / 1_000_000;
        assertEquals(TenantDirectory.Denial.REVOKED, d.authenticate(key.key()).denial());
        assertTrue(tookMs < 1000, "revocation took " + tookMs + " ms");
    }
}
