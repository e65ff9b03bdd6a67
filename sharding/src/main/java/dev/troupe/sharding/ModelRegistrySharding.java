package dev.troupe.sharding;

import dev.troupe.actors.registry.ModelRegistry;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.pubsub.Topic;

import java.time.Clock;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;

/**
 * Model registries as Cluster Sharding entities, one {@code model-registry} entity per model name, so the
 * registry's persistence id ({@code model-registry|<name>}) has exactly one writer in the cluster whichever
 * node a command comes through.
 */
public final class ModelRegistrySharding {
    public static final EntityTypeKey<ModelRegistry.Command> TYPE_KEY =
            EntityTypeKey.create(ModelRegistry.Command.class, "model-registry");

    private final ClusterSharding sharding;
    private final ActorRef<Topic.Command<ModelRegistry.Changed>> topic;

    /** @param snapshotEvery snapshot the registries after every N events (0 = never) */
    public ModelRegistrySharding(ActorSystem<?> system, int snapshotEvery) {
        this.sharding = ClusterSharding.get(system);
        this.topic = system.systemActorOf(Topic.create(ModelRegistry.Changed.class, ModelRegistry.TOPIC), "model-registry-topic",
                Props.empty());
        sharding.init(Entity.of(TYPE_KEY, ctx -> ModelRegistry.create(ctx.getEntityId(), topic, snapshotEvery, Clock.systemUTC())));
    }

    /** This node's end of the topic every registry publishes its accepted changes on. */
    public ActorRef<Topic.Command<ModelRegistry.Changed>> changes() {
        return topic;
    }

    /** The registry of one model, wherever sharding runs it. */
    public EntityRef<ModelRegistry.Command> registry(String model) {
        return sharding.entityRefFor(TYPE_KEY, model);
    }
}
