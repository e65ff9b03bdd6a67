package dev.troupe.sharding;

import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.actors.replica.GenerationSink;
import dev.troupe.actors.replica.Replica;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * This node's end of the streams from replicas on other nodes (one actor per node, not per request): it
 * hands each batch's events to the request's sink and acknowledges the batch, which lets the replica send
 * the next. It watches the replicas it hears from: when one stops or its node is gone, each of its
 * requests still open here ends with a failure instead of waiting for its timeout.
 */
final class StreamReceiver extends AbstractBehavior<Replica.EventBatch> {

    /** The sinks of this node's remote requests, by request id: added on submit, removed at the terminal event. */
    static final class Sinks {
        private final ConcurrentHashMap<String, GenerationSink> byId = new ConcurrentHashMap<>();

        boolean add(String requestId, GenerationSink sink) {
            return byId.putIfAbsent(requestId, sink) == null;
        }

        GenerationSink get(String requestId) {
            return byId.get(requestId);
        }

        GenerationSink remove(String requestId) {
            return byId.remove(requestId);
        }
    }

    private final Sinks sinks;
    /** Requests in flight per replica entity that has sent batches. */
    private final Map<ActorRef<?>, Set<String>> byReplica = new HashMap<>();

    static Behavior<Replica.EventBatch> create(Sinks sinks) {
        return Behaviors.setup(ctx -> new StreamReceiver(ctx, sinks));
    }

    private StreamReceiver(ActorContext<Replica.EventBatch> ctx, Sinks sinks) {
        super(ctx);
        this.sinks = sinks;
    }

    @Override
    public Receive<Replica.EventBatch> createReceive() {
        return newReceiveBuilder()
                .onMessage(Replica.EventBatch.class, this::onBatch)
                .onSignal(Terminated.class, this::onReplicaGone)
                .build();
    }

    private Behavior<Replica.EventBatch> onBatch(Replica.EventBatch b) {
        String id = b.requestId();
        boolean terminal = !(b.events().get(b.events().size() - 1) instanceof GenerationEvent.Tokens);
        // Removed before the terminal event is told: its sink may submit the request again at once (a retry).
        GenerationSink sink = terminal ? sinks.remove(id) : sinks.get(id);
        if (sink == null) {
            // The request already ended here (its backstop timed out): stop the generation there too.
            if (!terminal) b.ackTo().tell(new Replica.Cancel(id));
        } else {
            for (GenerationEvent e : b.events()) sink.onEvent(e);
        }
        Set<String> open = byReplica.get(b.ackTo());
        if (terminal) {
            if (open != null && open.remove(id) && open.isEmpty()) {
                byReplica.remove(b.ackTo());
                getContext().unwatch(b.ackTo());
            }
        } else {
            if (open == null) {
                open = new HashSet<>();
                byReplica.put(b.ackTo(), open);
                getContext().watch(b.ackTo());
            }
            open.add(id);
            b.ackTo().tell(new Replica.Ack(id, b.seq()));
        }
        return this;
    }

    private Behavior<Replica.EventBatch> onReplicaGone(Terminated t) {
        Set<String> open = byReplica.remove(t.getRef());
        if (open == null) return this;
        for (String id : open) {
            GenerationSink sink = sinks.remove(id);
            if (sink != null) {
                sink.onEvent(new GenerationEvent.Failed(id, GenerationEvent.FailureKind.INTERNAL,
                        "the replica serving this request stopped or its node was lost", 0, 0));
            }
        }
        return this;
    }
}
