package dev.troupe.actors.tenant;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.pubsub.Topic;

/** Subscribes to the tenants topic and hands every published state to this node's {@link TenantDirectory}. */
public final class TenantFeed {
    private TenantFeed() {}

    public static Behavior<Tenant.Changed> create(ActorRef<Topic.Command<Tenant.Changed>> topic, TenantDirectory directory) {
        return Behaviors.setup(ctx -> {
            topic.tell(Topic.subscribe(ctx.getSelf()));
            return Behaviors.receive(Tenant.Changed.class)
                    .onMessage(Tenant.Changed.class, c -> onChanged(directory, c))
                    .build();
        });
    }

    private static Behavior<Tenant.Changed> onChanged(TenantDirectory directory, Tenant.Changed c) {
        directory.update(c.state());
        return Behaviors.same();
    }
}
