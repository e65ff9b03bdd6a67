package dev.troupe.sharding;

import dev.troupe.actors.registry.ModelRegistry;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.pubsub.Topic;

import java.util.function.Consumer;

/** Hands one model's published registry changes, from whichever node made them, to this node's follower. */
public final class RegistryFeed {
    private RegistryFeed() {}

    public static Behavior<ModelRegistry.Changed> create(ActorRef<Topic.Command<ModelRegistry.Changed>> topic, String model,
                                                         Consumer<ModelRegistry.State> follower) {
        return Behaviors.setup(ctx -> {
            topic.tell(Topic.subscribe(ctx.getSelf()));
            return Behaviors.receiveMessage(c -> {
                if (c.model().equals(model)) follower.accept(c.state());
                return Behaviors.same();
            });
        });
    }
}
