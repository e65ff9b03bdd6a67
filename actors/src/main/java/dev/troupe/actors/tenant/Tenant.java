package dev.troupe.actors.tenant;

import dev.troupe.actors.registry.JournalConfig;

import dev.troupe.actors.registry.JsonSerializable;
import dev.troupe.actors.registry.ModelRegistry.HistoryEntry;
import dev.troupe.actors.wire.CrossNode;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Pattern;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.persistence.typed.javadsl.CommandHandlerWithReply;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehaviorWithEnforcedReplies;
import org.apache.pekko.persistence.typed.javadsl.ReplyEffect;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;

/**
 * One tenant of the serving cluster, event sourced under {@code tenant|<id>}: its scheduling weight, quotas,
 * model allow-list, API keys (salted hashes only, see {@link ApiKeys}) and whether it is suspended.
 *
 * <p>Design choices:
 * <ul>
 *   <li>The entity never sees a key: the caller issues it with {@link ApiKeys#issue()}, sends only keyId,
 *       salt and hash, and shows the key to its client once.</li>
 *   <li>An empty model allow-list means every model: a tenant is created useful, and restricting it is
 *       an explicit act.</li>
 *   <li>Revoked keys stay in the state (with who revoked them and when) for the audit trail; they never
 *       authenticate again.</li>
 *   <li>After every persisted change the new state is published on the {@link #TOPIC} pub-sub topic, so the
 *       {@link TenantDirectory} of every node sees revocations and quota changes at once.</li>
 *   <li>Validation failures reply {@link Reply.Rejected} and persist nothing; a change to the value already
 *       in place persists nothing and replies Accepted.</li>
 * </ul>
 */
public final class Tenant extends EventSourcedBehaviorWithEnforcedReplies<Tenant.Command, Tenant.Event, Tenant.State> {

    public static final String PERSISTENCE_PREFIX = "tenant|";
    /** The pub-sub topic every change is published on. */
    public static final String TOPIC = "troupe-tenants";
    /** Tenant ids appear in URLs and persistence ids: lowercase letters, digits, '-' and '_'. */
    public static final Pattern ID = Pattern.compile("[a-z0-9][a-z0-9_-]{0,62}");
    public static final int MAX_WEIGHT = 1000;

    // ---------------------------------------------------------------- commands

    /** Crosses nodes: a request on one node reaches the entity wherever sharding placed it. */
    public interface Command extends CrossNode {}

    public record Create(String actor, int weight, Quotas quotas, List<String> models, ActorRef<Reply> replyTo)
            implements Command {}

    /** The key itself never reaches the entity: only its id, salt and hash. */
    public record IssueKey(String actor, String keyId, String salt, String hash, ActorRef<Reply> replyTo)
            implements Command {}

    public record RevokeKey(String actor, String keyId, ActorRef<Reply> replyTo) implements Command {}

    /** Null fields stay as they are. */
    public record Update(String actor, Integer weight, Quotas quotas, List<String> models, ActorRef<Reply> replyTo)
            implements Command {}

    public record Suspend(String actor, String reason, ActorRef<Reply> replyTo) implements Command {}

    public record Resume(String actor, ActorRef<Reply> replyTo) implements Command {}

    public record GetState(ActorRef<Reply> replyTo) implements Command {}

    // ---------------------------------------------------------------- replies

    public interface Reply extends CrossNode {
        record Accepted(State state) implements Reply {}

        record Rejected(Why why, String message) implements Reply {}

        record Current(State state) implements Reply {}
    }

    /** Why a command was rejected, so the HTTP layer can answer 400, 404 or 409. */
    public enum Why { INVALID, NOT_FOUND, CONFLICT }

    /** Published on {@link #TOPIC} after every persisted change. */
    public record Changed(State state) implements CrossNode {}

    // ---------------------------------------------------------------- events

    public interface Event extends JsonSerializable {
        Instant at();

        String actor();
    }

    public record TenantCreated(Instant at, String actor, int weight, Quotas quotas, List<String> models) implements Event {
        public TenantCreated {
            models = models == null ? List.of() : List.copyOf(models);
        }
    }

    public record KeyIssued(Instant at, String actor, String keyId, String salt, String hash) implements Event {
        @Override
        public String toString() {
            return "KeyIssued[at=" + at + ", actor=" + actor + ", keyId=" + keyId + "]";
        }
    }

    public record KeyRevoked(Instant at, String actor, String keyId) implements Event {}

    public record QuotasSet(Instant at, String actor, Quotas quotas) implements Event {}

    public record ModelsAllowed(Instant at, String actor, List<String> models) implements Event {
        public ModelsAllowed {
            models = models == null ? List.of() : List.copyOf(models);
        }
    }

    public record WeightSet(Instant at, String actor, int weight) implements Event {}

    public record Suspended(Instant at, String actor, String reason) implements Event {}

    public record Resumed(Instant at, String actor) implements Event {}

    // ---------------------------------------------------------------- state

    /** A key as stored: salt and hash of the secret, never the secret. {@code revokedAt} null while valid. */
    public record KeyInfo(String keyId, String salt, String hash, Instant issuedAt, String issuedBy,
                          Instant revokedAt, String revokedBy) implements JsonSerializable {
        public boolean revoked() {
            return revokedAt != null;
        }

        @Override
        public String toString() {
            return "KeyInfo[keyId=" + keyId + ", issuedAt=" + issuedAt + ", revokedAt=" + revokedAt + "]";
        }
    }

    public record State(String id, boolean exists, int weight, Quotas quotas, List<String> models,
                        Map<String, KeyInfo> keys, boolean suspended, String suspendReason, Instant createdAt,
                        List<HistoryEntry> history) implements JsonSerializable {

        public State {
            quotas = quotas == null ? Quotas.UNLIMITED : quotas;
            models = models == null ? List.of() : List.copyOf(models);
            keys = keys == null ? Map.of() : Collections.unmodifiableMap(new TreeMap<>(keys));
            history = history == null ? List.of() : List.copyOf(history);
        }

        public static State empty(String id) {
            return new State(id, false, 0, Quotas.UNLIMITED, List.of(), Map.of(), false, null, null, List.of());
        }

        /** Whether the tenant may use this model (an empty allow-list allows every model). */
        public boolean allows(String model) {
            return models.isEmpty() || models.contains(model);
        }

        /** The pure transition the entity applies, also usable to replay the journal. */
        public State apply(Event event) {
            int w = weight;
            Quotas q = quotas;
            List<String> m = models;
            Map<String, KeyInfo> k = new TreeMap<>(keys);
            boolean susp = suspended;
            String reason = suspendReason;
            Instant created = createdAt;
            boolean ex = exists;
            if (event instanceof TenantCreated e) {
                ex = true;
                w = e.weight();
                q = e.quotas();
                m = e.models();
                created = e.at();
            } else if (event instanceof KeyIssued e) {
                k.put(e.keyId(), new KeyInfo(e.keyId(), e.salt(), e.hash(), e.at(), e.actor(), null, null));
            } else if (event instanceof KeyRevoked e) {
                KeyInfo old = k.get(e.keyId());
                k.put(e.keyId(), new KeyInfo(old.keyId(), old.salt(), old.hash(), old.issuedAt(), old.issuedBy(), e.at(), e.actor()));
            } else if (event instanceof QuotasSet e) {
                q = e.quotas();
            } else if (event instanceof ModelsAllowed e) {
                m = e.models();
            } else if (event instanceof WeightSet e) {
                w = e.weight();
            } else if (event instanceof Suspended e) {
                susp = true;
                reason = e.reason();
            } else if (event instanceof Resumed) {
                susp = false;
                reason = null;
            } else {
                throw new IllegalArgumentException("unknown event " + event);
            }
            List<HistoryEntry> h = new ArrayList<>(history.size() + 1);
            h.addAll(history);
            h.add(historyEntry(history.size() + 1L, event));
            return new State(id, ex, w, q, m, k, susp, reason, created, h);
        }
    }

    /** The audit line of an event: never salt, hash or key. */
    static HistoryEntry historyEntry(long seq, Event event) {
        Map<String, String> f = new LinkedHashMap<>();
        String type = event.getClass().getSimpleName();
        if (event instanceof TenantCreated e) {
            f.put("weight", Integer.toString(e.weight()));
            putQuotas(f, e.quotas());
            f.put("models", String.join(",", e.models()));
        } else if (event instanceof KeyIssued e) {
            f.put("keyId", e.keyId());
        } else if (event instanceof KeyRevoked e) {
            f.put("keyId", e.keyId());
        } else if (event instanceof QuotasSet e) {
            putQuotas(f, e.quotas());
        } else if (event instanceof ModelsAllowed e) {
            f.put("models", String.join(",", e.models()));
        } else if (event instanceof WeightSet e) {
            f.put("weight", Integer.toString(e.weight()));
        } else if (event instanceof Suspended e) {
            if (e.reason() != null) f.put("reason", e.reason());
        } else if (!(event instanceof Resumed)) {
            throw new IllegalArgumentException("unknown event " + event);
        }
        return new HistoryEntry(seq, event.at(), event.actor(), type, f);
    }

    private static void putQuotas(Map<String, String> f, Quotas q) {
        f.put("quotas.requestsPerMinute", Integer.toString(q.requestsPerMinute()));
        f.put("quotas.tokensPerMinute", Long.toString(q.tokensPerMinute()));
        f.put("quotas.maxConcurrent", Integer.toString(q.maxConcurrent()));
    }

    // ---------------------------------------------------------------- behavior

    private final String id;
    private final ActorRef<Topic.Command<Changed>> topic;
    private final int snapshotEvery;
    private final Clock clock;

    /**
     * @param topic         where changes are published (null: nowhere)
     * @param snapshotEvery snapshot after every N events (keeping 2), or 0 for none
     */
    public static Behavior<Command> create(String id, ActorRef<Topic.Command<Changed>> topic, int snapshotEvery) {
        return create(id, topic, snapshotEvery, Clock.systemUTC());
    }

    public static Behavior<Command> create(String id, ActorRef<Topic.Command<Changed>> topic, int snapshotEvery, Clock clock) {
        return new Tenant(id, topic, snapshotEvery, clock);
    }

    public static PersistenceId persistenceId(String id) {
        return PersistenceId.ofUniqueId(PERSISTENCE_PREFIX + id);
    }

    private Tenant(String id, ActorRef<Topic.Command<Changed>> topic, int snapshotEvery, Clock clock) {
        super(persistenceId(id));
        this.id = id;
        this.topic = topic;
        this.snapshotEvery = snapshotEvery;
        this.clock = clock;
    }

    @Override
    public State emptyState() {
        return State.empty(id);
    }

    @Override
    public RetentionCriteria retentionCriteria() {
        return JournalConfig.snapshots(snapshotEvery);
    }

    @Override
    public CommandHandlerWithReply<Command, Event, State> commandHandler() {
        return newCommandHandlerWithReplyBuilder().forAnyState()
                .onCommand(Create.class, this::onCreate)
                .onCommand(IssueKey.class, this::onIssueKey)
                .onCommand(RevokeKey.class, this::onRevokeKey)
                .onCommand(Update.class, this::onUpdate)
                .onCommand(Suspend.class, this::onSuspend)
                .onCommand(Resume.class, this::onResume)
                .onCommand(GetState.class, (s, c) -> Effect().reply(c.replyTo(), new Reply.Current(s)))
                .build();
    }

    @Override
    public EventHandler<State, Event> eventHandler() {
        return newEventHandlerBuilder().forAnyState().onAnyEvent(State::apply);
    }

    private ReplyEffect<Event, State> reject(ActorRef<Reply> replyTo, Why why, String message) {
        return Effect().reply(replyTo, new Reply.Rejected(why, message));
    }

    private ReplyEffect<Event, State> persist(List<Event> events, ActorRef<Reply> replyTo) {
        return Effect().persist(events)
                .thenRun(this::publish)
                .thenReply(replyTo, Reply.Accepted::new);
    }

    private void publish(State s) {
        if (topic != null) topic.tell(Topic.publish(new Changed(s)));
    }

    private static boolean blank(String s) {
        return s == null || s.isBlank();
    }

    /** Null when the tenant exists; otherwise the rejection. */
    private ReplyEffect<Event, State> missing(State s, String actor, ActorRef<Reply> replyTo) {
        if (blank(actor)) return reject(replyTo, Why.INVALID, "actor is required");
        if (!s.exists()) return reject(replyTo, Why.NOT_FOUND, "no tenant '" + id + "'");
        return null;
    }

    private static String invalidWeight(int weight) {
        return weight < 1 || weight > MAX_WEIGHT ? "weight must be between 1 and " + MAX_WEIGHT + ", got " + weight : null;
    }

    private static String invalidModels(List<String> models) {
        if (models == null) return "models must be a list (empty = every model)";
        for (String m : models) {
            if (blank(m)) return "models must not contain an empty name";
        }
        if (new TreeSet<>(models).size() != models.size()) return "models must not repeat a name";
        return null;
    }

    private static List<String> sortedModels(List<String> models) {
        return List.copyOf(new TreeSet<>(models));
    }

    private ReplyEffect<Event, State> onCreate(State s, Create c) {
        if (blank(c.actor())) return reject(c.replyTo(), Why.INVALID, "actor is required");
        if (!ID.matcher(id).matches()) {
            return reject(c.replyTo(), Why.INVALID, "id must be 1 to 63 of a-z, 0-9, '-', '_' (starting with a letter or digit), got '" + id + "'");
        }
        if (s.exists()) return reject(c.replyTo(), Why.CONFLICT, "tenant '" + id + "' already exists");
        String why = invalidWeight(c.weight());
        if (why == null) why = c.quotas() == null ? "quotas are required" : c.quotas().invalid();
        if (why == null) why = invalidModels(c.models());
        if (why != null) return reject(c.replyTo(), Why.INVALID, why);
        return persist(List.of(new TenantCreated(clock.instant(), c.actor(), c.weight(), c.quotas(), sortedModels(c.models()))),
                c.replyTo());
    }

    private ReplyEffect<Event, State> onIssueKey(State s, IssueKey c) {
        ReplyEffect<Event, State> no = missing(s, c.actor(), c.replyTo());
        if (no != null) return no;
        if (blank(c.keyId()) || blank(c.salt()) || blank(c.hash())) {
            return reject(c.replyTo(), Why.INVALID, "keyId, salt and hash are required");
        }
        if (s.keys().containsKey(c.keyId())) return reject(c.replyTo(), Why.CONFLICT, "key '" + c.keyId() + "' already exists");
        return persist(List.of(new KeyIssued(clock.instant(), c.actor(), c.keyId(), c.salt(), c.hash())), c.replyTo());
    }

    private ReplyEffect<Event, State> onRevokeKey(State s, RevokeKey c) {
        ReplyEffect<Event, State> no = missing(s, c.actor(), c.replyTo());
        if (no != null) return no;
        KeyInfo key = s.keys().get(c.keyId());
        if (key == null) return reject(c.replyTo(), Why.NOT_FOUND, "tenant '" + id + "' has no key '" + c.keyId() + "'");
        if (key.revoked()) return Effect().reply(c.replyTo(), new Reply.Accepted(s));
        return persist(List.of(new KeyRevoked(clock.instant(), c.actor(), c.keyId())), c.replyTo());
    }

    private ReplyEffect<Event, State> onUpdate(State s, Update c) {
        ReplyEffect<Event, State> no = missing(s, c.actor(), c.replyTo());
        if (no != null) return no;
        String why = c.weight() == null ? null : invalidWeight(c.weight());
        if (why == null && c.quotas() != null) why = c.quotas().invalid();
        if (why == null && c.models() != null) why = invalidModels(c.models());
        if (why != null) return reject(c.replyTo(), Why.INVALID, why);
        Instant now = clock.instant();
        List<Event> events = new ArrayList<>(3);
        if (c.weight() != null && c.weight() != s.weight()) events.add(new WeightSet(now, c.actor(), c.weight()));
        if (c.quotas() != null && !c.quotas().equals(s.quotas())) events.add(new QuotasSet(now, c.actor(), c.quotas()));
        if (c.models() != null && !sortedModels(c.models()).equals(s.models())) {
            events.add(new ModelsAllowed(now, c.actor(), sortedModels(c.models())));
        }
        if (events.isEmpty()) return Effect().reply(c.replyTo(), new Reply.Accepted(s));
        return persist(events, c.replyTo());
    }

    private ReplyEffect<Event, State> onSuspend(State s, Suspend c) {
        ReplyEffect<Event, State> no = missing(s, c.actor(), c.replyTo());
        if (no != null) return no;
        if (s.suspended()) return Effect().reply(c.replyTo(), new Reply.Accepted(s));
        return persist(List.of(new Suspended(clock.instant(), c.actor(), c.reason())), c.replyTo());
    }

    private ReplyEffect<Event, State> onResume(State s, Resume c) {
        ReplyEffect<Event, State> no = missing(s, c.actor(), c.replyTo());
        if (no != null) return no;
        if (!s.suspended()) return Effect().reply(c.replyTo(), new Reply.Accepted(s));
        return persist(List.of(new Resumed(clock.instant(), c.actor())), c.replyTo());
    }
}
