package dev.troupe.actors.tenant;

import dev.troupe.actors.registry.JournalConfig;

import dev.troupe.actors.registry.JsonSerializable;
import dev.troupe.actors.wire.CrossNode;
import java.time.Clock;
import java.time.Instant;
import java.time.LocalDate;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.persistence.typed.javadsl.CommandHandlerWithReply;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehaviorWithEnforcedReplies;
import org.apache.pekko.persistence.typed.javadsl.ReplyEffect;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;

/**
 * A tenant's token usage, event sourced under {@code usage|<tenant>}: prompt and completion tokens and
 * request counts by UTC day and model.
 *
 * <p>Each request is recorded at most once, by its request key (the client's {@code Idempotency-Key}
 * header when it sent one, else the request id). The dedupe window: keys are remembered for the day
 * they were recorded and the {@code dedupeDays - 1} days before the newest recorded day; a key re-sent
 * later than that counts again. Bounding the keys by days keeps the state (and snapshots) proportional
 * to recent traffic rather than to all time. Keys are per tenant, so tenants cannot collide.
 */
public final class UsageLedger
        extends EventSourcedBehaviorWithEnforcedReplies<UsageLedger.Command, UsageLedger.Event, UsageLedger.Ledger> {

    public static final String PERSISTENCE_PREFIX = "usage|";
    public static final int DEFAULT_DEDUPE_DAYS = 2;

    // ---------------------------------------------------------------- protocol

    /** Crosses nodes: a request on one node reaches the entity wherever sharding placed it. */
    public interface Command extends CrossNode {}

    /** {@code replyTo} may be null (fire and forget from the request path). */
    public record Record(String requestKey, String model, LocalDate day, int promptTokens, int completionTokens,
                         ActorRef<Reply> replyTo) implements Command {}

    public record GetUsage(ActorRef<Reply> replyTo) implements Command {}

    public interface Reply extends CrossNode {
        /** {@code counted} false: the key was seen before, nothing was added. */
        record Recorded(boolean counted) implements Reply {}

        record Rejected(String message) implements Reply {}

        record Usage(String tenant, Map<LocalDate, Map<String, Totals>> byDay) implements Reply {}
    }

    public interface Event extends JsonSerializable {
        Instant at();

        String actor();
    }

    /** {@code actor} is the tenant whose request used the tokens. */
    public record UsageRecorded(Instant at, String actor, String requestKey, String model, LocalDate day,
                                int promptTokens, int completionTokens) implements Event {}

    // ---------------------------------------------------------------- state

    public record Totals(long requests, long promptTokens, long completionTokens) implements JsonSerializable {
        public static final Totals ZERO = new Totals(0, 0, 0);

        Totals plus(int prompt, int completion) {
            return new Totals(requests + 1, promptTokens + prompt, completionTokens + completion);
        }
    }

    /**
     * The snapshot form: totals by day then model; {@code seen} maps recent request keys to the day they were
     * recorded. Immutable; the entity works on a {@link Ledger} and converts at snapshot time only.
     */
    public record State(Map<LocalDate, Map<String, Totals>> byDay, Map<String, LocalDate> seen) implements JsonSerializable {
        public static final State EMPTY = new State(Map.of(), Map.of());

        public State {
            byDay = byDay == null ? Map.of() : byDay;
            seen = seen == null ? Map.of() : seen;
        }
    }

    /**
     * The entity's working state, changed in place by each event in constant time (amortised): the previous
     * immutable state copied its whole key set per request, so a busy tenant's ledger cost grew with the day's
     * traffic. Only the entity's actor touches it; snapshots and replies get copies ({@link #snapshot},
     * {@link #totals}).
     */
    public static final class Ledger {
        private final TreeMap<LocalDate, Map<String, Totals>> byDay = new TreeMap<>();
        private final HashMap<String, LocalDate> seen = new HashMap<>();
        /** The keys recorded on each day, so that a day's keys are forgotten together. */
        private final TreeMap<LocalDate, java.util.List<String>> keysByDay = new TreeMap<>();

        static Ledger of(State s) {
            Ledger l = new Ledger();
            s.byDay().forEach((d, m) -> l.byDay.put(d, new TreeMap<>(m)));
            s.seen().forEach((k, d) -> {
                l.seen.put(k, d);
                l.keysByDay.computeIfAbsent(d, x -> new java.util.ArrayList<>()).add(k);
            });
            return l;
        }

        boolean seen(String key) {
            return seen.containsKey(key);
        }

        int keysRemembered() {
            return seen.size();
        }

        Ledger apply(UsageRecorded e, int dedupeDays) {
            byDay.computeIfAbsent(e.day(), d -> new TreeMap<>())
                    .merge(e.model(), Totals.ZERO.plus(e.promptTokens(), e.completionTokens()),
                            (a, b) -> new Totals(a.requests() + b.requests(), a.promptTokens() + b.promptTokens(),
                                    a.completionTokens() + b.completionTokens()));
            LocalDate newest = keysByDay.isEmpty() || e.day().isAfter(keysByDay.lastKey()) ? e.day() : keysByDay.lastKey();
            LocalDate oldestKept = newest.minusDays(dedupeDays - 1L);
            if (!e.day().isBefore(oldestKept)) {
                LocalDate before = seen.put(e.requestKey(), e.day());
                if (before == null || !before.equals(e.day())) keysByDay.computeIfAbsent(e.day(), d -> new java.util.ArrayList<>()).add(e.requestKey());
            }
            // Whole days fall out of the window together: each key is removed once, so the cost stays constant per event.
            while (!keysByDay.isEmpty() && keysByDay.firstKey().isBefore(oldestKept)) {
                Map.Entry<LocalDate, java.util.List<String>> old = keysByDay.pollFirstEntry();
                for (String k : old.getValue()) seen.remove(k, old.getKey());
            }
            return this;
        }

        /** An immutable copy of the totals (for replies, which may be serialized on another thread). */
        Map<LocalDate, Map<String, Totals>> totals() {
            Map<LocalDate, Map<String, Totals>> out = new TreeMap<>();
            byDay.forEach((d, m) -> out.put(d, Collections.unmodifiableMap(new TreeMap<>(m))));
            return Collections.unmodifiableMap(out);
        }

        /** The snapshot: an immutable copy (taken every snapshot-every events, so its cost is amortised). */
        State snapshot() {
            return new State(totals(), Collections.unmodifiableMap(new HashMap<>(seen)));
        }
    }

    // ---------------------------------------------------------------- behavior

    private final String tenant;
    private final int snapshotEvery;
    private final int dedupeDays;
    private final Clock clock;

    public static Behavior<Command> create(String tenant, int snapshotEvery) {
        return create(tenant, snapshotEvery, DEFAULT_DEDUPE_DAYS, Clock.systemUTC());
    }

    /**
     * @param snapshotEvery snapshot after every N events (keeping 2), or 0 for none
     * @param dedupeDays    how many days (the newest recorded and those before) request keys are remembered
     */
    public static Behavior<Command> create(String tenant, int snapshotEvery, int dedupeDays, Clock clock) {
        if (dedupeDays < 1) throw new IllegalArgumentException("dedupeDays must be at least 1");
        return new UsageLedger(tenant, snapshotEvery, dedupeDays, clock);
    }

    public static PersistenceId persistenceId(String tenant) {
        return PersistenceId.ofUniqueId(PERSISTENCE_PREFIX + tenant);
    }

    private UsageLedger(String tenant, int snapshotEvery, int dedupeDays, Clock clock) {
        super(persistenceId(tenant));
        this.tenant = tenant;
        this.snapshotEvery = snapshotEvery;
        this.dedupeDays = dedupeDays;
        this.clock = clock;
    }

    @Override
    public Ledger emptyState() {
        return new Ledger();
    }

    /** Snapshots are the immutable {@link State} (the format journals already hold); the entity works on a Ledger. */
    @Override
    public org.apache.pekko.persistence.typed.SnapshotAdapter<Ledger> snapshotAdapter() {
        return new org.apache.pekko.persistence.typed.SnapshotAdapter<>() {
            @Override
            public Object toJournal(Ledger ledger) {
                return ledger.snapshot();
            }

            @Override
            public Ledger fromJournal(Object from) {
                return Ledger.of((State) from);
            }
        };
    }

    @Override
    public RetentionCriteria retentionCriteria() {
        return JournalConfig.snapshots(snapshotEvery);
    }

    @Override
    public CommandHandlerWithReply<Command, Event, Ledger> commandHandler() {
        return newCommandHandlerWithReplyBuilder().forAnyState()
                .onCommand(Record.class, this::onRecord)
                .onCommand(GetUsage.class, (s, c) -> Effect().reply(c.replyTo(), new Reply.Usage(tenant, s.totals())))
                .build();
    }

    @Override
    public EventHandler<Ledger, Event> eventHandler() {
        return newEventHandlerBuilder().forAnyState()
                .onEvent(UsageRecorded.class, (s, e) -> s.apply(e, dedupeDays)).build();
    }

    private ReplyEffect<Event, Ledger> reply(ActorRef<Reply> replyTo, Reply reply) {
        return replyTo == null ? Effect().noReply() : Effect().reply(replyTo, reply);
    }

    private ReplyEffect<Event, Ledger> onRecord(Ledger s, Record c) {
        if (c.requestKey() == null || c.requestKey().isBlank()) return reply(c.replyTo(), new Reply.Rejected("requestKey is required"));
        if (c.model() == null || c.model().isBlank()) return reply(c.replyTo(), new Reply.Rejected("model is required"));
        if (c.day() == null) return reply(c.replyTo(), new Reply.Rejected("day is required"));
        if (c.promptTokens() < 0 || c.completionTokens() < 0) {
            return reply(c.replyTo(), new Reply.Rejected("token counts must not be negative"));
        }
        if (s.seen(c.requestKey())) return reply(c.replyTo(), new Reply.Recorded(false));
        UsageRecorded e = new UsageRecorded(clock.instant(), tenant, c.requestKey(), c.model(), c.day(),
                c.promptTokens(), c.completionTokens());
        if (c.replyTo() == null) return Effect().persist(e).thenNoReply();
        return Effect().persist(e).thenReply(c.replyTo(), x -> new Reply.Recorded(true));
    }
}
