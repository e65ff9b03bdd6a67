package dev.troupe.sharding;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.pubsub.Topic;

import java.util.function.Consumer;

/** Hands everything published on a topic, from any node, to a plain follower on this node (on the feed actor's thread). */
public final class TopicFeed {
    private TopicFeed() {}

    public static <T> Behavior<T> create(ActorRef<Topic.Command<T>> topic, Consumer<T> follower) {
        return Behaviors.setup(ctx -> {
            topic.tell(Topic.subscribe(ctx.getSelf()));
            return Behaviors.receiveMessage(m -> {
                follower.accept(m);
                return Behaviors.same();
            });
        });
    }
}
