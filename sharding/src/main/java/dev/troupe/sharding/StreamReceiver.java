package dev.troupe.sharding;

import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.actors.replica.GenerationSink;
import dev.troupe.actors.replica.Replica;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * This node's end of the streams from replicas on other nodes (one actor per node, not per request): it
 * hands each batch's events to the request's sink and acknowledges the batch, which lets the replica send
 * the next. It knows each request's replica is alive by hearing of the request: a batch, or the replica's
 * {@link Replica.Alive} answer to the {@link Replica.StillWaiting} this receiver sends every quarter of the
 * liveness timeout. A request not heard of for the timeout (its node killed, paused or cut off; four
 * timeouts before the replica's first word of it) ends with {@code REPLICA_LOST}, and is cancelled there
 * in case the replica comes back.
 * It also watches the replicas it hears from: one that stops ends its requests at once.
 */
final class StreamReceiver extends AbstractBehavior<Replica.ToGateway> {

    /** A request open on a replica of another node. */
    static final class Open {
        final GenerationSink sink;
        final RecipientRef<Replica.Command> replica;
        final String node;
        /** When the replica was last heard of this request (receiver thread, after the submit). */
        volatile long heardNanos = System.nanoTime();
        /** Whether the replica has spoken of it at all: until then its entity may still be being located. */
        volatile boolean heard;

        Open(GenerationSink sink, RecipientRef<Replica.Command> replica, String node) {
            this.sink = sink;
            this.replica = replica;
            this.node = node;
        }
    }

    /** The open requests of this node on remote replicas, by request id: added on submit, removed at the terminal event. */
    static final class Sinks {
        private final ConcurrentHashMap<String, Open> byId = new ConcurrentHashMap<>();

        boolean add(String requestId, GenerationSink sink, RecipientRef<Replica.Command> replica, String node) {
            return byId.putIfAbsent(requestId, new Open(sink, replica, node)) == null;
        }

        Open get(String requestId) {
            return byId.get(requestId);
        }

        Open remove(String requestId) {
            return byId.remove(requestId);
        }
    }

    /** How many liveness timeouts a request waits for its replica's first word. */
    static final int FIRST_WORD_FACTOR = 4;

    private final Sinks sinks;
    private final long livenessNanos;
    private final String self;
    /** Requests in flight per replica entity that has sent batches. */
    private final Map<ActorRef<?>, Set<String>> byReplica = new HashMap<>();

    /** self: this node as {@code host:port} */
    static Behavior<Replica.ToGateway> create(Sinks sinks, Duration liveness, String self) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            timers.startTimerWithFixedDelay(new Replica.Sweep(), liveness.dividedBy(4));
            return new StreamReceiver(ctx, sinks, liveness, self);
        }));
    }

    private StreamReceiver(ActorContext<Replica.ToGateway> ctx, Sinks sinks, Duration liveness, String self) {
        super(ctx);
        this.sinks = sinks;
        this.livenessNanos = liveness.toNanos();
        this.self = self;
    }

    /** The node of a replica entity's actor. */
    private String nodeOf(ActorRef<?> entity) {
        org.apache.pekko.actor.Address a = entity.path().address();
        return a.hasLocalScope() ? self : PinnedToNode.shardOf(a);
    }

    @Override
    public Receive<Replica.ToGateway> createReceive() {
        return newReceiveBuilder()
                .onMessage(Replica.EventBatch.class, this::onBatch)
                .onMessage(Replica.Alive.class, this::onAlive)
                .onMessage(Replica.Sweep.class, this::onSweep)
                .onSignal(Terminated.class, this::onReplicaGone)
                .build();
    }

    private Behavior<Replica.ToGateway> onBatch(Replica.EventBatch b) {
        String id = b.requestId();
        boolean terminal = !(b.events().get(b.events().size() - 1) instanceof GenerationEvent.Tokens);
        Open open = sinks.get(id);
        // A replica given up as lost that comes back speaks of a request that now runs elsewhere: not to be told.
        if (open != null && !open.node.equals(nodeOf(b.ackTo()))) open = null;
        // Removed before the terminal event is told: its sink may submit the request again at once (a retry).
        if (open != null && terminal) sinks.byId.remove(id, open);
        if (open == null) {
            // The request already ended here (given up as lost, or its backstop timed out): stop it there too.
            if (!terminal) b.ackTo().tell(new Replica.Cancel(id));
        } else {
            open.heardNanos = System.nanoTime();
            open.heard = true;
            for (GenerationEvent e : b.events()) open.sink.onEvent(e);
        }
        Set<String> ids = byReplica.get(b.ackTo());
        if (terminal) {
            if (ids != null && ids.remove(id) && ids.isEmpty()) {
                byReplica.remove(b.ackTo());
                getContext().unwatch(b.ackTo());
            }
        } else if (open != null) {
            if (ids == null) {
                ids = new HashSet<>();
                byReplica.put(b.ackTo(), ids);
                getContext().watch(b.ackTo());
            }
            ids.add(id);
            b.ackTo().tell(new Replica.Ack(id, b.seq()));
        }
        return this;
    }

    private Behavior<Replica.ToGateway> onAlive(Replica.Alive a) {
        long now = System.nanoTime();
        for (String id : a.requestIds()) {
            Open open = sinks.get(id);
            if (open != null) {
                open.heardNanos = now;
                open.heard = true;
            }
        }
        return this;
    }

    private Behavior<Replica.ToGateway> onSweep(Replica.Sweep s) {
        long now = System.nanoTime();
        Map<RecipientRef<Replica.Command>, List<String>> waiting = new HashMap<>();
        for (Map.Entry<String, Open> e : sinks.byId.entrySet()) {
            Open open = e.getValue();
            // Before the replica's first word the request waits longer: the first message to a replica entity
            // waits for its shard's home, which can take seconds on a busy machine or just after a node joined.
            long limit = open.heard ? livenessNanos : livenessNanos * FIRST_WORD_FACTOR;
            if (now - open.heardNanos <= limit) {
                waiting.computeIfAbsent(open.replica, r -> new ArrayList<>()).add(e.getKey());
            } else if (sinks.byId.remove(e.getKey(), open)) {
                open.replica.tell(new Replica.Cancel(e.getKey()));
                open.sink.onEvent(new GenerationEvent.Failed(e.getKey(), GenerationEvent.FailureKind.REPLICA_LOST,
                        "no word from the replica on node " + open.node + " for " + (now - open.heardNanos) / 1_000_000 + " ms", 0, 0));
            }
        }
        waiting.forEach((replica, ids) -> replica.tell(new Replica.StillWaiting(ids, getContext().getSelf())));
        return this;
    }

    private Behavior<Replica.ToGateway> onReplicaGone(Terminated t) {
        Set<String> ids = byReplica.remove(t.getRef());
        if (ids == null) return this;
        String node = nodeOf(t.getRef());
        for (String id : ids) {
            Open open = sinks.get(id);
            // Only where the request still runs on that replica (not continued elsewhere since).
            if (open != null && open.node.equals(node) && sinks.byId.remove(id, open)) {
                open.sink.onEvent(new GenerationEvent.Failed(id, GenerationEvent.FailureKind.REPLICA_LOST,
                        "the replica serving this request on node " + open.node + " stopped or its node was lost", 0, 0));
            }
        }
        return this;
    }
}
