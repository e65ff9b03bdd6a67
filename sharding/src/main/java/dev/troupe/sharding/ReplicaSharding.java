package dev.troupe.sharding;

import dev.troupe.actors.replica.Replica;
import dev.troupe.actors.replica.StepLoop;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.sharding.typed.ShardingEnvelope;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Replicas as Cluster Sharding entities, one entity per loaded model version ({@code model@version}). An entity runs where its engine is
 * loaded: this node registers the step loops it owns, and the entity factory binds to them. (Placement
 * by free device memory across several nodes comes with the cluster work.)
 */
public final class ReplicaSharding {
    public static final EntityTypeKey<Replica.Command> TYPE_KEY = EntityTypeKey.create(Replica.Command.class, "replica");

    private final ClusterSharding sharding;
    private final Map<String, StepLoop> localLoops = new ConcurrentHashMap<>();
    private final ActorRef<ShardingEnvelope<Replica.Command>> region;

    public ReplicaSharding(ActorSystem<?> system) {
        this.sharding = ClusterSharding.get(system);
        this.region = sharding.init(Entity.of(TYPE_KEY, ctx -> {
            StepLoop loop = localLoops.get(ctx.getEntityId());
            return loop == null ? Replica.notLoaded(ctx.getEntityId()) : Replica.create(ctx.getEntityId(), loop);
        }));
    }

    /** Makes a loaded version's step loop available to its entity ({@code model@version}) on this node. */
    public void registerLocal(String entityId, StepLoop loop) {
        localLoops.put(entityId, loop);
    }

    /** The version was unloaded: its entity, if messaged again, starts as not loaded. */
    public void unregisterLocal(String entityId) {
        localLoops.remove(entityId);
    }

    public EntityRef<Replica.Command> replica(String entityId) {
        return sharding.entityRefFor(TYPE_KEY, entityId);
    }

    public ActorRef<ShardingEnvelope<Replica.Command>> region() {
        return region;
    }
}
