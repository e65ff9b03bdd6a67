package dev.troupe.embed;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.UniqueKillSwitch;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;

import java.util.HashMap;
import java.util.Map;

/**
 * The typed protocol for the host's actors: {@link Generate} a completion and receive its
 * {@link TokenEvent}s at {@code replyTo}.
 *
 * <p>Delivery: each generation's events reach {@code replyTo} in order, each at most once, zero or more
 * {@link TokenEvent.Tokens} and then exactly one terminal event ({@link TokenEvent.Finished} or
 * {@link TokenEvent.Failed}), also when the host shuts down while it runs (a 503 Failed) — unless the
 * generation was cancelled: by {@link Cancel} (no event after the cancel is processed), or because
 * {@code replyTo} stopped. Either cancel frees the sequence's KV blocks at its replica's next step. There is
 * no flow control: tokens are sent as they are generated (a few per step), so an actor that cannot keep up
 * should use {@link Troupe#stream} instead. {@code replyTo} is expected on this member: the events are
 * plain Java records without a registered serializer.
 */
public final class Generator extends AbstractBehavior<Generator.Command> {

    /** What the host's actors send the generator. */
    public interface Command {}

    /** Generate a completion; its events go to replyTo. */
    public record Generate(GenerateRequest request, ActorRef<TokenEvent> replyTo) implements Command {}

    /** Cancel the generation with this request id (set one in the request to be able to). */
    public record Cancel(String requestId) implements Command {}

    private record Ended(String requestId) implements Command {}

    private record ReplyToStopped(ActorRef<TokenEvent> replyTo) implements Command {}

    private record Running(UniqueKillSwitch kill, ActorRef<TokenEvent> replyTo) {}

    private final Troupe troupe;
    private final Map<String, Running> running = new HashMap<>();
    /** How many generations each watched replyTo has running (watched once, however many). */
    private final Map<ActorRef<TokenEvent>, Integer> watched = new HashMap<>();

    public static Behavior<Command> create(Troupe troupe) {
        return Behaviors.setup(ctx -> new Generator(ctx, troupe));
    }

    private Generator(ActorContext<Command> context, Troupe troupe) {
        super(context);
        this.troupe = troupe;
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Generate.class, this::onGenerate)
                .onMessage(Cancel.class, this::onCancel)
                .onMessage(Ended.class, this::onEnded)
                .onMessage(ReplyToStopped.class, this::onReplyToStopped)
                .build();
    }

    private Behavior<Command> onGenerate(Generate g) {
        GenerateRequest request = g.request().requestId() != null ? g.request()
                : g.request().withRequestId("embd-actor-" + java.util.UUID.randomUUID());
        String id = request.requestId();
        ActorRef<Command> self = getContext().getSelf();
        UniqueKillSwitch kill = troupe.stream(request)
                .viaMat(KillSwitches.single(), Keep.right())
                .toMat(Sink.foreach(g.replyTo()::tell), Keep.both())
                .mapMaterializedValue(p -> {
                    p.second().whenComplete((d, t) -> self.tell(new Ended(id)));
                    return p.first();
                })
                .run(getContext().getSystem());
        running.put(id, new Running(kill, g.replyTo()));
        // A replyTo that stops wants nothing more: its generations are cancelled.
        if (watched.merge(g.replyTo(), 1, Integer::sum) == 1) getContext().watchWith(g.replyTo(), new ReplyToStopped(g.replyTo()));
        return this;
    }

    private Behavior<Command> onCancel(Cancel c) {
        Running r = running.get(c.requestId());
        if (r != null) r.kill().shutdown(); // cancels upstream: the replica cancels the sequence; Ended follows
        return this;
    }

    private Behavior<Command> onEnded(Ended e) {
        Running r = running.remove(e.requestId());
        if (r != null && watched.merge(r.replyTo(), -1, Integer::sum) <= 0) {
            watched.remove(r.replyTo());
            getContext().unwatch(r.replyTo());
        }
        return this;
    }

    private Behavior<Command> onReplyToStopped(ReplyToStopped stopped) {
        watched.remove(stopped.replyTo());
        for (Running r : running.values()) {
            if (r.replyTo().equals(stopped.replyTo())) r.kill().shutdown();
        }
        return this;
    }
}
