package dev.troupe.sharding;

import dev.troupe.actors.replica.LocalReplicaClient;
import dev.troupe.actors.replica.Replica;
import dev.troupe.actors.replica.ReplicaClient;
import dev.troupe.actors.replica.StepLoop;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.cluster.sharding.typed.ShardingEnvelope;
import org.apache.pekko.cluster.sharding.typed.ShardingMessageExtractor;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;
import org.apache.pekko.cluster.typed.Cluster;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Replicas as Cluster Sharding entities pinned to the node that runs them: the entity id is
 * {@code host:port|name}, its shard is the node ({@link PinnedToNode}), so the entity always starts where
 * its step loop is. A replica on this node is reached directly ({@link LocalReplicaClient}); one on another
 * node through its entity ({@link RemoteReplicaClient}), its events coming back to this node's
 * {@link StreamReceiver}.
 */
public final class ReplicaSharding {
    public static final EntityTypeKey<Replica.Command> TYPE_KEY = EntityTypeKey.create(Replica.Command.class, "replica");

    private final ClusterSharding sharding;
    private final String self;
    private final Map<String, LocalReplicaClient> locals = new ConcurrentHashMap<>();
    private final ActorRef<Replica.EventBatch> receiver;
    private final StreamReceiver.Sinks sinks = new StreamReceiver.Sinks();

    public ReplicaSharding(ActorSystem<?> system) {
        this.sharding = ClusterSharding.get(system);
        this.self = PinnedToNode.shardOf(Cluster.get(system).selfMember().address());
        this.receiver = system.systemActorOf(StreamReceiver.create(sinks), "replica-streams", Props.empty());
        sharding.init(Entity.of(TYPE_KEY, ctx -> {
            LocalReplicaClient local = locals.get(ctx.getEntityId());
            return local == null ? Replica.notLoaded(nameOf(ctx.getEntityId()), self) : Replica.create(local);
        }).withMessageExtractor(new NodeExtractor()).withAllocationStrategy(new PinnedToNode(system)));
    }

    /** This node, as {@code host:port}. */
    public String selfNode() {
        return self;
    }

    static String entityId(String node, String name) {
        return node + "|" + name;
    }

    private static String nameOf(String entityId) {
        return entityId.substring(entityId.indexOf('|') + 1);
    }

    /** Serves a step loop of this node as replica {@code name}: reachable from every node from now on. */
    public LocalReplicaClient registerLocal(String name, StepLoop loop) {
        LocalReplicaClient client = new LocalReplicaClient(name, self, loop);
        locals.put(entityId(self, name), client);
        return client;
    }

    /** The replica was unloaded: its entity stops, and starts as not loaded if messaged again. */
    public void unregisterLocal(String name) {
        String id = entityId(self, name);
        if (locals.remove(id) != null) sharding.entityRefFor(TYPE_KEY, id).tell(new Replica.Stop());
    }

    /** Replica {@code name} on {@code node}: direct when it runs here, through its entity otherwise. */
    public ReplicaClient client(String node, String name) {
        if (node.equals(self)) {
            LocalReplicaClient local = locals.get(entityId(node, name));
            if (local != null) return local;
        }
        return remote(node, name);
    }

    /** Always through the entity, even for a replica on this node (tests of the remote path). */
    public ReplicaClient remote(String node, String name) {
        return new RemoteReplicaClient(sharding.entityRefFor(TYPE_KEY, entityId(node, name)), node, receiver, sinks);
    }

    /** The shard of an entity is the node named before its '|'. */
    private static final class NodeExtractor extends ShardingMessageExtractor<ShardingEnvelope<Replica.Command>, Replica.Command> {
        @Override
        public String entityId(ShardingEnvelope<Replica.Command> envelope) {
            return envelope.entityId();
        }

        @Override
        public String shardId(String entityId) {
            int bar = entityId.indexOf('|');
            if (bar <= 0) throw new IllegalArgumentException("not a pinned entity id: " + entityId);
            return entityId.substring(0, bar);
        }

        @Override
        public Replica.Command unwrapMessage(ShardingEnvelope<Replica.Command> envelope) {
            return envelope.message();
        }
    }
}
