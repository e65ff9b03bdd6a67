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
        extends EventSourcedBehaviorWithEnforcedReplies<UsageLedger.Command, UsageLedger.Event, UsageLedger.State> {

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

    /** Totals by day then model; {@code seen} maps recent request keys to the day they were recorded. */
    public record State(Map<LocalDate, Map<String, Totals>> byDay, Map<String, LocalDate> seen) implements JsonSerializable {
        public static final State EMPTY = new State(Map.of(), Map.of());

        public State {
            byDay = byDay == null ? Map.of() : byDay;
            seen = seen == null ? Map.of() : seen;
        }

        State apply(UsageRecorded e, int dedupeDays) {
            Map<LocalDate, Map<String, Totals>> days = new TreeMap<>(byDay);
            Map<String, Totals> models = new TreeMap<>(days.getOrDefault(e.day(), Map.of()));
            models.put(e.model(), models.getOrDefault(e.model(), Totals.ZERO).plus(e.promptTokens(), e.completionTokens()));
            days.put(e.day(), Collections.unmodifiableMap(models));
            LocalDate newest = e.day();
            for (LocalDate d : seen.values()) if (d.isAfter(newest)) newest = d;
            LocalDate oldestKept = newest.minusDays(dedupeDays - 1L);
            Map<String, LocalDate> keys = new HashMap<>(seen.size() + 1);
            for (Map.Entry<String, LocalDate> k : seen.entrySet()) {
                if (!k.getValue().isBefore(oldestKept)) keys.put(k.getKey(), k.getValue());
            }
            if (!e.day().isBefore(oldestKept)) keys.put(e.requestKey(), e.day());
            return new State(Collections.unmodifiableMap(days), Collections.unmodifiableMap(keys));
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
    public State emptyState() {
        return State.EMPTY;
    }

    @Override
    public RetentionCriteria retentionCriteria() {
        return JournalConfig.snapshots(snapshotEvery);
    }

    @Override
    public CommandHandlerWithReply<Command, Event, State> commandHandler() {
        return newCommandHandlerWithReplyBuilder().forAnyState()
                .onCommand(Record.class, this::onRecord)
                .onCommand(GetUsage.class, (s, c) -> Effect().reply(c.replyTo(), new Reply.Usage(tenant, s.byDay())))
                .build();
    }

    @Override
    public EventHandler<State, Event> eventHandler() {
        return newEventHandlerBuilder().forAnyState()
                .onEvent(UsageRecorded.class, (s, e) -> s.apply(e, dedupeDays)).build();
    }

    private ReplyEffect<Event, State> reply(ActorRef<Reply> replyTo, Reply reply) {
        return replyTo == null ? Effect().noReply() : Effect().reply(replyTo, reply);
    }

    private ReplyEffect<Event, State> onRecord(State s, Record c) {
        if (c.requestKey() == null || c.requestKey().isBlank()) return reply(c.replyTo(), new Reply.Rejected("requestKey is required"));
        if (c.model() == null || c.model().isBlank()) return reply(c.replyTo(), new Reply.Rejected("model is required"));
        if (c.day() == null) return reply(c.replyTo(), new Reply.Rejected("day is required"));
        if (c.promptTokens() < 0 || c.completionTokens() < 0) {
            return reply(c.replyTo(), new Reply.Rejected("token counts must not be negative"));
        }
        if (s.seen().containsKey(c.requestKey())) return reply(c.replyTo(), new Reply.Recorded(false));
        UsageRecorded e = new UsageRecorded(clock.instant(), tenant, c.requestKey(), c.model(), c.day(),
                c.promptTokens(), c.completionTokens());
        if (c.replyTo() == null) return Effect().persist(e).thenNoReply();
        return Effect().persist(e).thenReply(c.replyTo(), x -> new Reply.Recorded(true));
    }
}
