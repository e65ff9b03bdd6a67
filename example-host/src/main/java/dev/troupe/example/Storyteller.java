package dev.troupe.example;

import dev.troupe.embed.Completion;
import dev.troupe.embed.GenerateRequest;
import dev.troupe.embed.Generator;
import dev.troupe.embed.TokenEvent;
import dev.troupe.embed.Troupe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * The host's own actor: asked for two stories, it gets the first as one completion (a CompletionStage piped
 * to itself) and streams the second through Troupe's typed protocol (token events to an adapter of its
 * own), then replies with both texts.
 */
public final class Storyteller extends AbstractBehavior<Storyteller.Command> {

    public interface Command {}

    /** Tell two stories; the reply carries both texts. */
    public record TellStories(String first, String second, int maxTokens, ActorRef<Stories> replyTo) implements Command {}

    public record Stories(String first, String second, int streamedEvents) {}

    private record FirstDone(Completion completion, Throwable failure) implements Command {}

    private record Streamed(TokenEvent event) implements Command {}

    private final Troupe troupe;
    private final String model;
    private final ActorRef<TokenEvent> tokens;
    private TellStories asked;
    private String first;
    private final StringBuilder second = new StringBuilder();
    private int events;

    public static Behavior<Command> create(Troupe troupe, String model) {
        return Behaviors.setup(ctx -> new Storyteller(ctx, troupe, model));
    }

    private Storyteller(ActorContext<Command> context, Troupe troupe, String model) {
        super(context);
        this.troupe = troupe;
        this.model = model;
        this.tokens = context.messageAdapter(TokenEvent.class, Streamed::new);
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(TellStories.class, this::onTellStories)
                .onMessage(FirstDone.class, this::onFirstDone)
                .onMessage(Streamed.class, this::onStreamed)
                .build();
    }

    private Behavior<Command> onTellStories(TellStories t) {
        asked = t;
        GenerateRequest r = GenerateRequest.of(null, model, t.first()).withMaxTokens(t.maxTokens()).withTemperature(0);
        getContext().pipeToSelf(troupe.complete(r), FirstDone::new);
        return this;
    }

    private Behavior<Command> onFirstDone(FirstDone done) {
        if (done.failure() != null) throw new IllegalStateException("the first story failed", done.failure());
        first = done.completion().text();
        GenerateRequest r = GenerateRequest.of(null, model, asked.second()).withMaxTokens(asked.maxTokens()).withTemperature(0);
        troupe.generator().tell(new Generator.Generate(r, tokens));
        return this;
    }

    private Behavior<Command> onStreamed(Streamed s) {
        events++;
        if (s.event() instanceof TokenEvent.Tokens t) {
            second.append(t.text());
        } else if (s.event() instanceof TokenEvent.Failed f) {
            throw new IllegalStateException("the second story failed: " + f.status() + " " + f.message());
        } else {
            asked.replyTo().tell(new Stories(first, second.toString(), events));
        }
        return this;
    }
}
