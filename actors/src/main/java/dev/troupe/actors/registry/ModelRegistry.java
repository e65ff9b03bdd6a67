package dev.troupe.actors.registry;

import dev.troupe.actors.wire.CrossNode;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.persistence.jdbc.query.javadsl.JdbcReadJournal;
import org.apache.pekko.persistence.query.EventEnvelope;
import org.apache.pekko.persistence.query.PersistenceQuery;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.persistence.typed.javadsl.CommandHandlerWithReply;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehaviorWithEnforcedReplies;
import org.apache.pekko.persistence.typed.javadsl.ReplyEffect;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;

/**
 * The versions, deployments, traffic split and live version of one model, event sourced.
 *
 * <p>Design choices:
 * <ul>
 *   <li>History: kept in {@link State#history()} (one {@link HistoryEntry} per event, {@code seq} equal to
 *       the event's sequence number), so it survives snapshots even if old events are ever deleted, and
 *       {@link GetHistory} needs no query. The journal remains the full source of truth.</li>
 *   <li>State at a time: {@link #stateAt} replays the journal through the JDBC read journal's
 *       {@code currentEventsByPersistenceId} with the same pure {@link State#apply(Event)} the entity uses,
 *       stopping at the first event later than the instant.</li>
 *   <li>Promote and roll back put 100% of the traffic on the new live version. The live version is the
 *       top of {@link State#liveStack()}: promote pushes, rollback pops back to the target (by default
 *       the version live before the current one), retire removes the version from the stack.</li>
 *   <li>Validation failures reply {@link Reply.Rejected} and persist nothing; a command that changes
 *       nothing (same registration again, same deployment again) replies Accepted and persists nothing.</li>
 * </ul>
 */
public final class ModelRegistry
        extends EventSourcedBehaviorWithEnforcedReplies<ModelRegistry.Command, ModelRegistry.Event, ModelRegistry.State> {

    public static final String PERSISTENCE_PREFIX = "model-registry|";

    // ---------------------------------------------------------------- commands

    /** Crosses nodes: the registry is one entity in the cluster, commanded from every node. */
    public interface Command extends CrossNode {}

    public record RegisterVersion(String actor, String version, String path, String sha256, String architecture,
                                  Map<String, String> parameters, ActorRef<Reply> replyTo) implements Command {}

    /** continuation: whether its requests move on when a replica is lost mid-request; null = the node's setting. */
    public record Deploy(String actor, String version, int replicas, int tensorParallel, Boolean continuation,
                         ActorRef<Reply> replyTo) implements Command {
        public Deploy(String actor, String version, int replicas, int tensorParallel, ActorRef<Reply> replyTo) {
            this(actor, version, replicas, tensorParallel, null, replyTo);
        }
    }

    public record SetTraffic(String actor, Map<String, Integer> weights, ActorRef<Reply> replyTo) implements Command {}

    public record Promote(String actor, String version, ActorRef<Reply> replyTo) implements Command {}

    /**
     * {@code to} may be null: back to the version live before the current one. While a canary takes traffic
     * (see {@link State#canaries()}), a rollback with no {@code to} (or {@code to} = the live version) ends the
     * canary instead: all traffic back on the live version, recorded as RolledBack from the canary.
     */
    public record Rollback(String actor, String to, String reason, ActorRef<Reply> replyTo) implements Command {}

    public record Retire(String actor, String version, ActorRef<Reply> replyTo) implements Command {}

    /** Reads need no audit, so they carry no actor. */
    public record GetState(ActorRef<Reply> replyTo) implements Command {}

    public record GetHistory(ActorRef<Reply> replyTo) implements Command {}

    // ---------------------------------------------------------------- replies

    /** The pub-sub topic every accepted change is published on, so every node follows every registry. */
    public static final String TOPIC = "troupe-model-registry";

    /** Published on {@link #TOPIC} after every persisted change. */
    public record Changed(String model, State state) implements CrossNode {}

    public interface Reply extends CrossNode {
        record Accepted(State state) implements Reply {}

        record Rejected(String message) implements Reply {}

        record Current(State state) implements Reply {}

        record History(List<HistoryEntry> entries) implements Reply {}
    }

    // ---------------------------------------------------------------- events

    public interface Event extends JsonSerializable {
        Instant at();

        String actor();
    }

    public record VersionRegistered(Instant at, String actor, String version, String path, String sha256,
                                    String architecture, Map<String, String> parameters) implements Event {
        public VersionRegistered {
            parameters = sorted(parameters);
        }
    }

    /** continuation is null in events written before it existed (and when not set): the node's setting. */
    public record DeploymentRolledOut(Instant at, String actor, String version, int replicas, int tensorParallel,
                                      Boolean continuation) implements Event {
        public DeploymentRolledOut(Instant at, String actor, String version, int replicas, int tensorParallel) {
            this(at, actor, version, replicas, tensorParallel, null);
        }
    }

    public record TrafficSet(Instant at, String actor, Map<String, Integer> weights) implements Event {
        public TrafficSet {
            weights = sorted(weights);
        }
    }

    /** {@code previous} is the version that was live before (null for the first promotion). */
    public record Promoted(Instant at, String actor, String version, String previous) implements Event {}

    public record RolledBack(Instant at, String actor, String from, String to, String reason) implements Event {}

    public record Retired(Instant at, String actor, String version) implements Event {}

    // ---------------------------------------------------------------- state

    public record VersionInfo(String version, String path, String sha256, String architecture,
                              Map<String, String> parameters, Instant registeredAt, String registeredBy,
                              boolean retired) implements JsonSerializable {
        public VersionInfo {
            parameters = sorted(parameters);
        }
    }

    /** continuation: null = the node's setting (troupe.routing.continuation). */
    public record Deployment(String version, int replicas, int tensorParallel, Boolean continuation) implements JsonSerializable {
        public Deployment(String version, int replicas, int tensorParallel) {
            this(version, replicas, tensorParallel, null);
        }
    }

    /** One audit line: the event's sequence number, when, who, the event type and its fields as text. */
    public record HistoryEntry(long seq, Instant at, String actor, String type, Map<String, String> fields)
            implements JsonSerializable {
        public HistoryEntry {
            fields = sorted(fields);
        }
    }

    public record State(Map<String, VersionInfo> versions, Map<String, Deployment> deployments,
                        Map<String, Integer> traffic, List<String> liveStack, List<HistoryEntry> history)
            implements JsonSerializable {

        public static final State EMPTY = new State(Map.of(), Map.of(), Map.of(), List.of(), List.of());

        public State {
            versions = sorted(versions);
            deployments = sorted(deployments);
            traffic = sorted(traffic);
            liveStack = liveStack == null ? List.of() : List.copyOf(liveStack);
            history = history == null ? List.of() : List.copyOf(history);
        }

        /** The live version, or null before the first promotion. */
        public String live() {
            return liveStack.isEmpty() ? null : liveStack.get(liveStack.size() - 1);
        }

        /** The version live before the current one, or null. */
        public String previousLive() {
            return liveStack.size() < 2 ? null : liveStack.get(liveStack.size() - 2);
        }

        /** Versions other than the live one that receive traffic (a canary), in name order. */
        public List<String> canaries() {
            List<String> out = new ArrayList<>();
            traffic.forEach((v, w) -> {
                if (w > 0 && !v.equals(live())) out.add(v);
            });
            return out;
        }

        /** The pure transition used both by the entity and by {@link #stateAt}. */
        public State apply(Event event) {
            Map<String, VersionInfo> v = new TreeMap<>(versions);
            Map<String, Deployment> d = new TreeMap<>(deployments);
            Map<String, Integer> t = new TreeMap<>(traffic);
            List<String> live = new ArrayList<>(liveStack);
            if (event instanceof VersionRegistered e) {
                v.put(e.version(), new VersionInfo(e.version(), e.path(), e.sha256(), e.architecture(),
                        e.parameters(), e.at(), e.actor(), false));
            } else if (event instanceof DeploymentRolledOut e) {
                d.put(e.version(), new Deployment(e.version(), e.replicas(), e.tensorParallel(), e.continuation()));
            } else if (event instanceof TrafficSet e) {
                t = new TreeMap<>(e.weights());
            } else if (event instanceof Promoted e) {
                live.remove(e.version());
                live.add(e.version());
                t = new TreeMap<>(Map.of(e.version(), 100));
            } else if (event instanceof RolledBack e) {
                int idx = live.lastIndexOf(e.to());
                if (idx >= 0) {
                    live.subList(idx + 1, live.size()).clear();
                } else {
                    live.add(e.to());
                }
                t = new TreeMap<>(Map.of(e.to(), 100));
            } else if (event instanceof Retired e) {
                VersionInfo old = v.get(e.version());
                v.put(e.version(), new VersionInfo(old.version(), old.path(), old.sha256(), old.architecture(),
                        old.parameters(), old.registeredAt(), old.registeredBy(), true));
                d.remove(e.version());
                t.remove(e.version());
                live.remove(e.version());
            } else {
                throw new IllegalArgumentException("unknown event " + event);
            }
            List<HistoryEntry> h = new ArrayList<>(history.size() + 1);
            h.addAll(history);
            h.add(historyEntry(history.size() + 1L, event));
            return new State(v, d, t, live, h);
        }
    }

    static HistoryEntry historyEntry(long seq, Event event) {
        Map<String, String> f = new LinkedHashMap<>();
        String type;
        if (event instanceof VersionRegistered e) {
            type = "VersionRegistered";
            f.put("version", e.version());
            f.put("path", e.path());
            f.put("sha256", e.sha256());
            f.put("architecture", e.architecture());
            e.parameters().forEach((k, val) -> f.put("parameters." + k, val));
        } else if (event instanceof DeploymentRolledOut e) {
            type = "DeploymentRolledOut";
            f.put("version", e.version());
            f.put("replicas", Integer.toString(e.replicas()));
            f.put("tensorParallel", Integer.toString(e.tensorParallel()));
            if (e.continuation() != null) f.put("continuation", e.continuation().toString());
        } else if (event instanceof TrafficSet e) {
            type = "TrafficSet";
            e.weights().forEach((k, val) -> f.put("weight." + k, Integer.toString(val)));
        } else if (event instanceof Promoted e) {
            type = "Promoted";
            f.put("version", e.version());
            if (e.previous() != null) f.put("previous", e.previous());
        } else if (event instanceof RolledBack e) {
            type = "RolledBack";
            f.put("from", e.from());
            f.put("to", e.to());
            if (e.reason() != null) f.put("reason", e.reason());
        } else if (event instanceof Retired e) {
            type = "Retired";
            f.put("version", e.version());
        } else {
            throw new IllegalArgumentException("unknown event " + event);
        }
        return new HistoryEntry(seq, event.at(), event.actor(), type, f);
    }

    private static <K extends Comparable<K>, V> Map<K, V> sorted(Map<K, V> m) {
        return m == null ? Map.of() : Collections.unmodifiableMap(new TreeMap<>(m));
    }

    // ---------------------------------------------------------------- behavior

    private final String model;
    private final Clock clock;
    private final int snapshotEvery;
    private final ActorRef<org.apache.pekko.actor.typed.pubsub.Topic.Command<Changed>> topic;

    /** @param snapshotEvery snapshot after every N events (keeping 2), or 0 for none */
    public static Behavior<Command> create(String model, int snapshotEvery) {
        return create(model, null, snapshotEvery, Clock.systemUTC());
    }

    public static Behavior<Command> create(String model, int snapshotEvery, Clock clock) {
        return create(model, null, snapshotEvery, clock);
    }

    /** @param topic where accepted changes are published (null: nowhere) */
    public static Behavior<Command> create(String model, ActorRef<org.apache.pekko.actor.typed.pubsub.Topic.Command<Changed>> topic,
                                           int snapshotEvery, Clock clock) {
        return new ModelRegistry(model, topic, snapshotEvery, clock);
    }

    public static PersistenceId persistenceId(String model) {
        return PersistenceId.ofUniqueId(PERSISTENCE_PREFIX + model);
    }

    private ModelRegistry(String model, ActorRef<org.apache.pekko.actor.typed.pubsub.Topic.Command<Changed>> topic, int snapshotEvery,
                          Clock clock) {
        super(persistenceId(model));
        this.model = model;
        this.topic = topic;
        this.clock = clock;
        this.snapshotEvery = snapshotEvery;
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
                .onCommand(RegisterVersion.class, this::onRegisterVersion)
                .onCommand(Deploy.class, this::onDeploy)
                .onCommand(SetTraffic.class, this::onSetTraffic)
                .onCommand(Promote.class, this::onPromote)
                .onCommand(Rollback.class, this::onRollback)
                .onCommand(Retire.class, this::onRetire)
                .onCommand(GetState.class, (s, c) -> Effect().reply(c.replyTo(), new Reply.Current(s)))
                .onCommand(GetHistory.class, (s, c) -> Effect().reply(c.replyTo(), new Reply.History(s.history())))
                .build();
    }

    @Override
    public EventHandler<State, Event> eventHandler() {
        return newEventHandlerBuilder().forAnyState().onAnyEvent(State::apply);
    }

    private ReplyEffect<Event, State> reject(ActorRef<Reply> replyTo, String message) {
        return Effect().reply(replyTo, new Reply.Rejected(message));
    }

    private ReplyEffect<Event, State> persist(Event e, ActorRef<Reply> replyTo) {
        return Effect().persist(e).thenRun(this::publish).thenReply(replyTo, Reply.Accepted::new);
    }

    private void publish(State s) {
        if (topic != null) topic.tell(org.apache.pekko.actor.typed.pubsub.Topic.publish(new Changed(model, s)));
    }

    private static boolean blank(String s) {
        return s == null || s.isBlank();
    }

    /** Null when the version exists and is not retired; otherwise why not. */
    private static String usable(State s, String version) {
        VersionInfo v = s.versions().get(version);
        if (v == null) return "unknown version '" + version + "'";
        if (v.retired()) return "version '" + version + "' is retired";
        return null;
    }

    private ReplyEffect<Event, State> onRegisterVersion(State s, RegisterVersion c) {
        if (blank(c.actor())) return reject(c.replyTo(), "actor is required");
        if (blank(c.version())) return reject(c.replyTo(), "version is required");
        if (blank(c.path())) return reject(c.replyTo(), "path is required");
        if (c.sha256() == null || !c.sha256().matches("[0-9a-f]{64}")) {
            return reject(c.replyTo(), "sha256 must be 64 lowercase hex digits");
        }
        VersionInfo old = s.versions().get(c.version());
        if (old != null) {
            if (old.sha256().equals(c.sha256()) && old.path().equals(c.path())) {
                return Effect().reply(c.replyTo(), new Reply.Accepted(s));
            }
            return reject(c.replyTo(), "version '" + c.version() + "' is already registered with path "
                    + old.path() + " and sha256 " + old.sha256());
        }
        return persist(new VersionRegistered(clock.instant(), c.actor(), c.version(), c.path(), c.sha256(),
                c.architecture(), c.parameters()), c.replyTo());
    }

    private ReplyEffect<Event, State> onDeploy(State s, Deploy c) {
        if (blank(c.actor())) return reject(c.replyTo(), "actor is required");
        String why = usable(s, c.version());
        if (why != null) return reject(c.replyTo(), why);
        if (c.replicas() < 1) return reject(c.replyTo(), "replicas must be at least 1, got " + c.replicas());
        if (c.tensorParallel() < 0) {
            return reject(c.replyTo(), "tensorParallel must be 0 (the fewest slices that fit) or more, got " + c.tensorParallel());
        }
        Deployment wanted = new Deployment(c.version(), c.replicas(), c.tensorParallel(), c.continuation());
        if (wanted.equals(s.deployments().get(c.version()))) {
            return Effect().reply(c.replyTo(), new Reply.Accepted(s));
        }
        return persist(new DeploymentRolledOut(clock.instant(), c.actor(), c.version(), c.replicas(),
                c.tensorParallel(), c.continuation()), c.replyTo());
    }

    private ReplyEffect<Event, State> onSetTraffic(State s, SetTraffic c) {
        if (blank(c.actor())) return reject(c.replyTo(), "actor is required");
        if (c.weights() == null || c.weights().isEmpty()) return reject(c.replyTo(), "weights are required");
        int sum = 0;
        for (Map.Entry<String, Integer> w : new TreeMap<>(c.weights()).entrySet()) {
            if (w.getValue() == null || w.getValue() < 0) {
                return reject(c.replyTo(), "weight of '" + w.getKey() + "' must be between 0 and 100");
            }
            if (!s.deployments().containsKey(w.getKey())) {
                return reject(c.replyTo(), "version '" + w.getKey() + "' is not deployed");
            }
            sum += w.getValue();
        }
        if (sum != 100) return reject(c.replyTo(), "weights must sum to 100, got " + sum);
        return persist(new TrafficSet(clock.instant(), c.actor(), c.weights()), c.replyTo());
    }

    private ReplyEffect<Event, State> onPromote(State s, Promote c) {
        if (blank(c.actor())) return reject(c.replyTo(), "actor is required");
        String why = usable(s, c.version());
        if (why != null) return reject(c.replyTo(), why);
        if (!s.deployments().containsKey(c.version())) {
            return reject(c.replyTo(), "version '" + c.version() + "' is not deployed");
        }
        if (c.version().equals(s.live())) return reject(c.replyTo(), "version '" + c.version() + "' is already live");
        return persist(new Promoted(clock.instant(), c.actor(), c.version(), s.live()), c.replyTo());
    }

    private ReplyEffect<Event, State> onRollback(State s, Rollback c) {
        if (blank(c.actor())) return reject(c.replyTo(), "actor is required");
        String from = s.live();
        if (from == null) return reject(c.replyTo(), "nothing to roll back: no version is live");
        String to = c.to();
        String canaries = String.join(",", s.canaries());
        if (!canaries.isEmpty() && (to == null || to.equals(from))) {
            // A canary is taking traffic: rolling back ends it and puts all traffic back on the live version.
            return persist(new RolledBack(clock.instant(), c.actor(), canaries, from, c.reason()), c.replyTo());
        }
        if (to == null) {
            to = s.previousLive();
            if (to == null) return reject(c.replyTo(), "nothing to roll back to: '" + from + "' is the only version that was live");
        } else {
            if (to.equals(from)) return reject(c.replyTo(), "version '" + to + "' is already live");
            String why = usable(s, to);
            if (why != null) return reject(c.replyTo(), why);
            if (!s.liveStack().contains(to)) {
                return reject(c.replyTo(), "version '" + to + "' was never live before '" + from + "'");
            }
        }
        if (!s.deployments().containsKey(to)) return reject(c.replyTo(), "version '" + to + "' is not deployed");
        return persist(new RolledBack(clock.instant(), c.actor(), from, to, c.reason()), c.replyTo());
    }

    private ReplyEffect<Event, State> onRetire(State s, Retire c) {
        if (blank(c.actor())) return reject(c.replyTo(), "actor is required");
        String why = usable(s, c.version());
        if (why != null) return reject(c.replyTo(), why);
        if (c.version().equals(s.live())) return reject(c.replyTo(), "cannot retire the live version '" + c.version() + "'");
        Integer w = s.traffic().get(c.version());
        if (w != null && w > 0) {
            return reject(c.replyTo(), "version '" + c.version() + "' still receives " + w + "% of the traffic");
        }
        return persist(new Retired(clock.instant(), c.actor(), c.version()), c.replyTo());
    }

    // ---------------------------------------------------------------- state at a time

    /**
     * The state of {@code model} as of {@code at} (events with {@code at <= at} applied), rebuilt from the
     * journal through the JDBC read journal; needs the jdbc-read-journal configured (see {@link JournalConfig}).
     */
    public static CompletionStage<State> stateAt(ActorSystem<?> system, String model, Instant at) {
        JdbcReadJournal journal = PersistenceQuery.get(system)
                .getReadJournalFor(JdbcReadJournal.class, JdbcReadJournal.Identifier());
        return journal.currentEventsByPersistenceId(persistenceId(model).id(), 0L, Long.MAX_VALUE)
                .map(EventEnvelope::event)
                .map(e -> (Event) e)
                .takeWhile(e -> !e.at().isAfter(at))
                .runFold(State.EMPTY, State::apply, system);
    }

}
