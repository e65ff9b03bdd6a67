package dev.troupe.actors.replica;

import dev.troupe.actors.wire.CrossNode;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A replica's entity: how other nodes reach a step loop on this node. Requests from this node's own
 * gateway skip it ({@link LocalReplicaClient}); the entity submits the requests it receives to the same
 * client and streams each request's events back to the sender in {@link EventBatch}es under a credit
 * window ({@link EventOutbox}): a batch per step while the gateway keeps up, bigger merged batches when it
 * falls behind, never more than {@link EventOutbox#WINDOW} unacknowledged batches on the wire.
 *
 * <p>Liveness runs both ways, per request: the gateway says which of its requests it still waits for
 * ({@link StillWaiting}) several times per liveness timeout, the entity answers which of them it still
 * runs ({@link Alive}). A gateway that hears nothing of a request for the timeout moves it to another
 * replica; the entity cancels a request whose gateway has been silent that long (the gateway died or is
 * cut off), so no sequence runs on for nobody.
 */
public final class Replica extends AbstractBehavior<Replica.Command> {

    public interface Command extends CrossNode {}

    /**
     * Generate; replyTo gets the request's events in batches, to acknowledge with {@link Ack}. The request's
     * own deadline is on the sender's clock: timeoutNanos is what was left of it when sent (0 = none).
     */
    public record Generate(GenerationRequest request, long timeoutNanos, ActorRef<ToGateway> replyTo) implements Command {}

    /** What a replica's entity sends to a gateway's stream receiver. */
    public interface ToGateway extends CrossNode {}

    /** Events of one request, in order; seq counts the request's batches from 0. The last holds its terminal event. */
    public record EventBatch(String requestId, int seq, List<GenerationEvent> events, ActorRef<Command> ackTo) implements ToGateway {}

    /** The gateway still waits for these requests' events; it is answered with {@link Alive}. */
    public record StillWaiting(List<String> requestIds, ActorRef<ToGateway> replyTo) implements Command {}

    /** Of the requests a {@link StillWaiting} named, those this replica still runs. */
    public record Alive(List<String> requestIds, ActorRef<Command> from) implements ToGateway {}

    /** The gateway's own timer: time to tell replicas what it waits for, and to give up on silent ones. Never crosses nodes. */
    public record Sweep() implements ToGateway {}

    /** The entity's timer: cancel the requests whose gateway went silent. Never crosses nodes. */
    public record CheckGateways() implements Command {}

    /** The gateway took batch seq of the request: one more batch may be sent. */
    public record Ack(String requestId, int seq) implements Command {}

    /** The client went away: free the sequence at the next iteration. */
    public record Cancel(String requestId) implements Command {}

    /** Embeddings of token sequences, one request under an id that Cancel ends. */
    public record Embed(String id, int[][] inputs, long timeoutMillis, ActorRef<EmbedReply> replyTo) implements Command {}

    /** The embeddings, or why there are none (failure null on success). */
    public record EmbedReply(float[][] embeddings, GenerationEvent.FailureKind failure, String error) implements CrossNode {}

    /** Readiness: is the loop alive (heartbeat age) and what is it doing. */
    public record Probe(ActorRef<ProbeReply> replyTo) implements Command {}

    /** stats is null when the replica is not loaded. */
    public record ProbeReply(String model, String node, boolean draining, long heartbeatAgeMillis, StepLoop.Stats stats) implements CrossNode {}

    /**
     * Graceful shutdown: refuse later requests and let the loop finish what it has within the grace period;
     * replies when nothing is in flight.
     */
    public record Drain(long graceMillis, ActorRef<Drained> replyTo) implements Command {}

    public record Drained() implements CrossNode {}

    /** The version was unloaded: stop the entity (a later message finds {@link #notLoaded} instead). */
    public record Stop() implements Command {}

    /** From a request's outbox (loop thread) to its own entity: it has events to send. Never crosses nodes. */
    public record Flush(String requestId) implements Command {}

    private final LocalReplicaClient local;
    private final long livenessNanos;
    private final RemoteRequests remoteRequests;
    private final Map<String, EventOutbox> outboxes = new HashMap<>();

    /** @param liveness how long a gateway may be silent about a request before it is cancelled here */
    public static Behavior<Command> create(LocalReplicaClient local, Duration liveness) {
        return create(local, liveness, RemoteRequests.NONE);
    }

    /** remoteRequests: sees each request from another node's gateway (tracing). */
    public static Behavior<Command> create(LocalReplicaClient local, Duration liveness, RemoteRequests remoteRequests) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            timers.startTimerWithFixedDelay(new CheckGateways(), liveness.dividedBy(4));
            return new Replica(ctx, local, liveness, remoteRequests);
        }));
    }

    /**
     * The entity of a replica that is not loaded on its node (unloaded, or a late message after a rollout):
     * every request ends at once with SHUTTING_DOWN (503, retry), readiness says not ready.
     */
    public static Behavior<Command> notLoaded(String model, String node) {
        return Behaviors.setup(ctx -> Behaviors.receive(Command.class)
                .onMessage(Generate.class, g -> {
                    GenerationRequest r = g.request();
                    g.replyTo().tell(new EventBatch(r.requestId(), 0, List.of(new GenerationEvent.Failed(r.requestId(),
                            GenerationEvent.FailureKind.SHUTTING_DOWN, model + " is not loaded on node " + node,
                            r.promptTokens().length, 0)), ctx.getSelf()));
                    return Behaviors.same();
                })
                .onMessage(Embed.class, e -> {
                    e.replyTo().tell(new EmbedReply(null, GenerationEvent.FailureKind.REPLICA_LOST, model + " is not loaded on node " + node));
                    return Behaviors.same();
                })
                .onMessage(Probe.class, p -> {
                    p.replyTo().tell(new ProbeReply(model, node, true, Long.MAX_VALUE, null));
                    return Behaviors.same();
                })
                .onMessage(Drain.class, d -> {
                    d.replyTo().tell(new Drained());
                    return Behaviors.same();
                })
                .onMessage(Stop.class, x -> Behaviors.stopped())
                .onAnyMessage(x -> Behaviors.same())
                .build());
    }

    private Replica(ActorContext<Command> ctx, LocalReplicaClient local, Duration liveness, RemoteRequests remoteRequests) {
        super(ctx);
        this.local = local;
        this.remoteRequests = remoteRequests;
        this.livenessNanos = liveness.toNanos();
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Generate.class, this::onGenerate)
                .onMessage(Flush.class, this::onFlush)
                .onMessage(Ack.class, this::onAck)
                .onMessage(Cancel.class, this::onCancel)
                .onMessage(Embed.class, this::onEmbed)
                .onMessage(Probe.class, this::onProbe)
                .onMessage(Drain.class, this::onDrain)
                .onMessage(StillWaiting.class, this::onStillWaiting)
                .onMessage(CheckGateways.class, this::onCheckGateways)
                .onMessage(Stop.class, x -> Behaviors.stopped())
                .build();
    }

    private Behavior<Command> onStillWaiting(StillWaiting w) {
        long now = System.nanoTime();
        List<String> alive = new java.util.ArrayList<>(w.requestIds().size());
        for (String id : w.requestIds()) {
            EventOutbox box = outboxes.get(id);
            if (box != null) {
                box.heardNanos = now;
                alive.add(id);
            }
        }
        w.replyTo().tell(new Alive(alive, getContext().getSelf()));
        return this;
    }

    private Behavior<Command> onCheckGateways(CheckGateways c) {
        long now = System.nanoTime();
        for (var it = outboxes.entrySet().iterator(); it.hasNext(); ) {
            var e = it.next();
            if (now - e.getValue().heardNanos > livenessNanos) {
                // Its gateway is gone: free the sequence; its later events find no outbox and are dropped.
                it.remove();
                local.cancel(e.getKey());
                getContext().getLog().info("request {}: its gateway was silent for over {} ms, cancelled", e.getKey(),
                        livenessNanos / 1_000_000);
            }
        }
        return this;
    }

    private Behavior<Command> onGenerate(Generate g) {
        GenerationRequest r = g.request();
        // The deadline again on this node's clock.
        long deadline = g.timeoutNanos() == 0 ? 0 : System.nanoTime() + g.timeoutNanos();
        GenerationRequest here = new GenerationRequest(r.requestId(), r.promptTokens(), r.params(), deadline, r.tenant(), r.weight(), r.resumed(),
                r.traceParent());
        EventOutbox box = new EventOutbox(r.requestId(), g.replyTo(), getContext().getSelf());
        outboxes.put(r.requestId(), box);
        local.submit(here, remoteRequests.accepted(local.name(), here, box));
        return this;
    }

    private Behavior<Command> onFlush(Flush f) {
        send(f.requestId());
        return this;
    }

    private Behavior<Command> onAck(Ack a) {
        EventOutbox box = outboxes.get(a.requestId());
        if (box != null) {
            box.heardNanos = System.nanoTime();
            box.acked();
            send(a.requestId());
        }
        return this;
    }

    private void send(String requestId) {
        EventOutbox box = outboxes.get(requestId);
        if (box != null && box.flush()) outboxes.remove(requestId);
    }

    private Behavior<Command> onCancel(Cancel c) {
        local.cancel(c.requestId());
        return this;
    }

    private Behavior<Command> onDrain(Drain d) {
        local.drain(Duration.ofMillis(d.graceMillis())).whenComplete((x, t) -> d.replyTo().tell(new Drained()));
        return this;
    }

    private Behavior<Command> onEmbed(Embed e) {
        local.embed(e.id(), e.inputs(), Duration.ofMillis(e.timeoutMillis())).whenComplete((v, err) ->
                e.replyTo().tell(err == null ? new EmbedReply(v, null, null) : new EmbedReply(null, failureKind(err), rootMessage(err))));
        return this;
    }

    private Behavior<Command> onProbe(Probe p) {
        local.probe(Duration.ofSeconds(1)).thenAccept(p.replyTo()::tell);
        return this;
    }

    /** The innermost cause's message, for an error told to another node (exceptions do not cross). */
    /** The failure kind of an error from a replica's work: a ReplicaException's own, a timeout's, else INTERNAL. */
    public static GenerationEvent.FailureKind failureKind(Throwable t) {
        while (t.getCause() != null && (t instanceof java.util.concurrent.CompletionException || t instanceof java.util.concurrent.ExecutionException)) {
            t = t.getCause();
        }
        if (t instanceof ReplicaException r) return r.kind();
        if (t instanceof java.util.concurrent.TimeoutException) return GenerationEvent.FailureKind.DEADLINE_EXCEEDED;
        if (t instanceof IllegalArgumentException) return GenerationEvent.FailureKind.INVALID;
        return GenerationEvent.FailureKind.INTERNAL;
    }

    public static String rootMessage(Throwable t) {
        while (t.getCause() != null && (t instanceof java.util.concurrent.CompletionException || t instanceof java.util.concurrent.ExecutionException)) {
            t = t.getCause();
        }
        return t.getMessage() != null ? t.getMessage() : t.toString();
    }
}
