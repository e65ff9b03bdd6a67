package dev.troupe.actors.replica;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * One model replica on this node: the front of a {@link StepLoop}, which owns the engine and runs on its
 * own thread. The actor never blocks; generated tokens go from the loop's thread straight to the
 * request's {@code replyTo}.
 */
public final class Replica extends AbstractBehavior<Replica.Command> {

    public interface Command {}

    /** Generate; replyTo gets Tokens events and then exactly one Finished or Failed. */
    public record Generate(GenerationRequest request, ActorRef<GenerationEvent> replyTo) implements Command {}

    /** The client went away: free the sequence at the next iteration. */
    public record Cancel(String requestId) implements Command {}

    /** Embedding of one token sequence. */
    public record Embed(int[] tokens, ActorRef<EmbedReply> replyTo) implements Command {}

    public record EmbedReply(float[] embedding, String error) {}

    /** Readiness: is the loop alive (heartbeat age) and what is it doing. */
    public record Probe(ActorRef<ProbeReply> replyTo) implements Command {}

    public record ProbeReply(String model, boolean draining, long heartbeatAgeMillis, StepLoop.Stats stats) {}


    /**
     * Graceful shutdown: refuse later Generate commands and let the loop finish what it has within the
     * grace period; replies when nothing is in flight. Sent through the same entity as the requests, so
     * every Generate sent before it is submitted first.
     */
    public record Drain(java.time.Duration grace, ActorRef<org.apache.pekko.Done> replyTo) implements Command {}

    /** The version was unloaded: stop the entity (a later message finds {@link #notLoaded} instead). */
    public record Stop() implements Command {}

    private final String model;
    private final StepLoop loop;
    private boolean draining;

    public static Behavior<Command> create(String model, StepLoop loop) {
        return Behaviors.setup(ctx -> new Replica(ctx, model, loop));
    }

    /**
     * The entity of a version that is not loaded on this node (unloaded, or a late message after a
     * rollout): every request ends at once with SHUTTING_DOWN (503, retry), readiness says not ready.
     */
    public static Behavior<Command> notLoaded(String model) {
        return Behaviors.receive(Command.class)
                .onMessage(Generate.class, g -> {
                    g.replyTo().tell(new GenerationEvent.Failed(g.request().requestId(), GenerationEvent.FailureKind.SHUTTING_DOWN,
                            model + " is not loaded on this node", g.request().promptTokens().length, 0));
                    return Behaviors.same();
                })
                .onMessage(Embed.class, e -> {
                    e.replyTo().tell(new EmbedReply(null, model + " is not loaded on this node"));
                    return Behaviors.same();
                })
                .onMessage(Probe.class, p -> {
                    p.replyTo().tell(new ProbeReply(model, true, Long.MAX_VALUE, null));
                    return Behaviors.same();
                })
                .onMessage(Drain.class, d -> {
                    d.replyTo().tell(org.apache.pekko.Done.getInstance());
                    return Behaviors.same();
                })
                .onMessage(Stop.class, x -> Behaviors.stopped())
                .onAnyMessage(x -> Behaviors.same())
                .build();
    }

    private Replica(ActorContext<Command> ctx, String model, StepLoop loop) {
        super(ctx);
        this.model = model;
        this.loop = loop;
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Generate.class, this::onGenerate)
                .onMessage(Cancel.class, this::onCancel)
                .onMessage(Embed.class, this::onEmbed)
                .onMessage(Probe.class, this::onProbe)
                .onMessage(Drain.class, this::onDrain)
                .onMessage(Stop.class, x -> Behaviors.stopped())
                .build();
    }

    private Behavior<Command> onDrain(Drain d) {
        draining = true;
        loop.drain(d.grace()).whenComplete((x, t) -> d.replyTo().tell(org.apache.pekko.Done.getInstance()));
        return this;
    }

    private Behavior<Command> onGenerate(Generate g) {
        GenerationRequest r = g.request();
        if (draining) {
            g.replyTo().tell(new GenerationEvent.Failed(r.requestId(), GenerationEvent.FailureKind.SHUTTING_DOWN,
                    "the server is shutting down", r.promptTokens().length, 0));
        } else if (!loop.submit(r, g.replyTo()::tell)) {
            g.replyTo().tell(new GenerationEvent.Failed(r.requestId(), GenerationEvent.FailureKind.QUEUE_FULL,
                    "the replica of " + model + " has too many queued requests", r.promptTokens().length, 0));
        }
        return this;
    }

    private Behavior<Command> onCancel(Cancel c) {
        loop.cancel(c.requestId());
        return this;
    }

    private Behavior<Command> onEmbed(Embed e) {
        loop.embed(e.tokens()).whenComplete((v, err) ->
                e.replyTo().tell(err == null ? new EmbedReply(v, null) : new EmbedReply(null, rootMessage(err))));
        return this;
    }

    private Behavior<Command> onProbe(Probe p) {
        long age = (System.nanoTime() - loop.lastHeartbeatNanos()) / 1_000_000;
        p.replyTo().tell(new ProbeReply(model, draining, age, loop.stats()));
        return this;
    }


    private static String rootMessage(Throwable t) {
        while (t.getCause() != null && (t instanceof java.util.concurrent.CompletionException || t instanceof java.util.concurrent.ExecutionException)) {
            t = t.getCause();
        }
        return t.getMessage() != null ? t.getMessage() : t.toString();
    }
}
