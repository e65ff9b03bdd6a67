package dev.troupe.actors.placement;

import dev.troupe.actors.registry.JournalConfig;
import dev.troupe.actors.registry.JsonSerializable;
import dev.troupe.actors.wire.CrossNode;
import dev.troupe.scheduler.PlacementPlanner;
import dev.troupe.scheduler.PlacementPlanner.Assignment;
import dev.troupe.scheduler.PlacementPlanner.ReplicaKey;
import dev.troupe.scheduler.PlacementPlanner.Want;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.persistence.typed.javadsl.CommandHandlerWithReply;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehaviorWithEnforcedReplies;
import org.apache.pekko.persistence.typed.javadsl.ReplyEffect;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Supplier;

/**
 * Where every replica of the cluster runs: one event-sourced entity for the whole cluster (a cluster
 * singleton). The nodes that serve a model tell it which replicas the model wants ({@link Demand}: each
 * deployed version with traffic or still warm, its replica count, the memory one replica needs); every
 * tick it asks {@link PlacementPlanner} what to change against the slices the workers announce and the
 * members of the cluster, persists each decision ({@link ReplicaPlaced}, {@link ReplicaReleased}) and
 * publishes the result on {@link #TOPIC}; workers load and unload to match it. Decisions wait for
 * {@code settle} after start, so that every member's slices have been announced.
 */
public final class Placement extends EventSourcedBehaviorWithEnforcedReplies<Placement.Command, Placement.Event, Placement.State> {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(Placement.class);
    public static final String TOPIC = "troupe-placement";
    public static final PersistenceId PERSISTENCE_ID = PersistenceId.ofUniqueId("placement");

    // ---------------------------------------------------------------- protocol

    public interface Command extends CrossNode {}

    /** The replicas a model wants now (all of its versions'), from a node serving it; replaces the previous demand. */
    public record Demand(String model, List<Want> wants) implements Command {}

    public record GetPlacement(ActorRef<Current> replyTo) implements Command {}

    /** Time to plan (the entity's own timer). */
    public record Tick() implements Command {}

    /** Where the replicas run, and why the others run nowhere (key text to reason). Published after every change and now and then. */
    public record Current(List<Placed> assignments, Map<String, String> unplaceable) implements CrossNode {}

    public record Placed(ReplicaKey key, Assignment assignment) {}

    /** What the planner sees of the cluster now. */
    public record Cluster(List<PlacementPlanner.Slice> slices, Set<String> members) {}

    // ---------------------------------------------------------------- events and state

    public interface Event extends JsonSerializable {}

    public record ReplicaPlaced(Instant at, ReplicaKey key, Assignment assignment) implements Event {}

    public record ReplicaReleased(Instant at, ReplicaKey key, String reason) implements Event {}

    public record State(List<Placed> placed) implements JsonSerializable {
        public static final State EMPTY = new State(List.of());

        public Map<ReplicaKey, Assignment> asMap() {
            Map<ReplicaKey, Assignment> m = new TreeMap<>();
            for (Placed p : placed) m.put(p.key(), p.assignment());
            return m;
        }

        State apply(Event e) {
            Map<ReplicaKey, Assignment> m = asMap();
            if (e instanceof ReplicaPlaced p) m.put(p.key(), p.assignment());
            else if (e instanceof ReplicaReleased r) m.remove(r.key());
            List<Placed> out = new ArrayList<>();
            m.forEach((k, a) -> out.add(new Placed(k, a)));
            return new State(List.copyOf(out));
        }
    }

    /** Text of a replica key for messages and the admin API. */
    public static String text(ReplicaKey k) {
        return k.model() + "@" + k.version() + "#" + k.index();
    }

    // ---------------------------------------------------------------- behavior

    private final Supplier<Cluster> cluster;
    private final ActorRef<Topic.Command<Current>> topic;
    private final Clock clock;
    private final long settleNanos;
    private final long startedNanos = System.nanoTime();
    private final Map<String, List<Want>> demand = new TreeMap<>();
    private Map<String, String> unplaceable = Map.of();
    private long ticks;

    /**
     * @param cluster   the slices and members as this node sees them now
     * @param topic     where the placement is published
     * @param tick      how often to plan
     * @param settle    how long after start to wait before the first decision
     */
    public static Behavior<Command> create(Supplier<Cluster> cluster, ActorRef<Topic.Command<Current>> topic, Duration tick, Duration settle,
                                           Clock clock) {
        return Behaviors.withTimers(timers -> {
            timers.startTimerWithFixedDelay(new Tick(), tick);
            return new Placement(cluster, topic, settle, clock);
        });
    }

    private Placement(Supplier<Cluster> cluster, ActorRef<Topic.Command<Current>> topic, Duration settle, Clock clock) {
        super(PERSISTENCE_ID);
        this.cluster = cluster;
        this.topic = topic;
        this.clock = clock;
        this.settleNanos = settle.toNanos();
    }

    @Override
    public State emptyState() {
        return State.EMPTY;
    }

    @Override
    public RetentionCriteria retentionCriteria() {
        return JournalConfig.snapshots(100);
    }

    @Override
    public CommandHandlerWithReply<Command, Event, State> commandHandler() {
        return newCommandHandlerWithReplyBuilder().forAnyState()
                .onCommand(Demand.class, (s, d) -> {
                    demand.put(d.model(), List.copyOf(d.wants()));
                    return Effect().none().thenNoReply();
                })
                .onCommand(GetPlacement.class, (s, g) -> Effect().reply(g.replyTo(), current(s)))
                .onCommand(Tick.class, this::onTick)
                .build();
    }

    @Override
    public EventHandler<State, Event> eventHandler() {
        return newEventHandlerBuilder().forAnyState().onAnyEvent(State::apply);
    }

    private Current current(State s) {
        return new Current(s.placed(), unplaceable);
    }

    private ReplyEffect<Event, State> onTick(State s, Tick t) {
        ticks++;
        if (System.nanoTime() - startedNanos < settleNanos) return Effect().none().thenNoReply();
        List<Want> wants = new ArrayList<>();
        for (List<Want> w : demand.values()) wants.addAll(w);
        // A model not heard from since this incarnation started keeps what it has (after a restart its
        // nodes report again within seconds; releasing meanwhile would unload every replica).
        for (Placed p : s.placed()) {
            if (!demand.containsKey(p.key().model())) wants.add(new Want(p.key(), Map.of(p.assignment().slices(), p.assignment().memoryBytes())));
        }
        Cluster c = cluster.get();
        PlacementPlanner.Plan plan = PlacementPlanner.plan(c.slices(), c.members(), wants, s.asMap());
        Map<String, String> why = new TreeMap<>();
        plan.unplaceable().forEach((k, reason) -> why.put(text(k), reason));
        boolean whyChanged = !why.equals(unplaceable);
        unplaceable = Map.copyOf(why);
        if (plan.isEmpty()) {
            // Now and then (and when the unplaceable set changes), so that a node that missed a publication catches up.
            if (whyChanged || ticks % 8 == 0) topic.tell(Topic.publish(current(s)));
            return Effect().none().thenNoReply();
        }
        Instant now = clock.instant();
        List<Event> events = new ArrayList<>();
        plan.release().forEach((k, reason) -> events.add(new ReplicaReleased(now, k, reason)));
        plan.place().forEach((k, a) -> events.add(new ReplicaPlaced(now, k, a)));
        return Effect().persist(events).thenRun(after -> {
            plan.release().forEach((k, reason) -> log.info("placement: released {} from {} ({})", text(k), s.asMap().get(k).slice(), reason));
            plan.place().forEach((k, a) -> log.info("placement: {} on slice {}{}", text(k), a.slice(),
                    a.followers().isEmpty() ? "" : " leading a group with " + a.followers()));
            topic.tell(Topic.publish(current(after)));
        }).thenNoReply();
    }
}
