package dev.troupe.sharding;

import org.apache.pekko.actor.ActorRef;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.sharding.ShardCoordinator;
import org.apache.pekko.cluster.sharding.typed.ShardingEnvelope;
import org.apache.pekko.cluster.sharding.typed.ShardingMessageExtractor;
import org.apache.pekko.cluster.typed.Cluster;
import scala.collection.immutable.IndexedSeq;
import scala.concurrent.Future;

import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * Shard allocation for entities that belong to one node (a replica's engine, a device slice): the shard id
 * is the node's {@code host:port}, the shard goes to that node's region and never moves. While that node
 * has no region (not joined yet, or gone) the allocation fails, so the coordinator retries and the
 * region buffers the messages, rather than starting the entity on a node that cannot serve it.
 */
public final class PinnedToNode extends ShardCoordinator.AbstractShardAllocationStrategy {
    private final ActorSystem<?> system;

    public PinnedToNode(ActorSystem<?> system) {
        this.system = system;
    }

    /** The shard id of an entity pinned to this address. */
    public static String shardOf(Address node) {
        return node.host().get() + ":" + node.port().get();
    }

    /**
     * Messages to entities pinned this way: the shard of an entity id is its node, as nodeOf reads it from
     * the id (a replica's {@code host:port|name}, a slice's {@code host:port/i}).
     */
    public static <M> ShardingMessageExtractor<ShardingEnvelope<M>, M> extractor(UnaryOperator<String> nodeOf) {
        return new ShardingMessageExtractor<>() {
            @Override
            public String entityId(ShardingEnvelope<M> envelope) {
                return envelope.entityId();
            }

            @Override
            public String shardId(String entityId) {
                return nodeOf.apply(entityId);
            }

            @Override
            public M unwrapMessage(ShardingEnvelope<M> envelope) {
                return envelope.message();
            }
        };
    }

    @Override
    public Future<ActorRef> allocateShard(ActorRef requester, String shardId, Map<ActorRef, IndexedSeq<String>> current) {
        Address self = Cluster.get(system).selfMember().address();
        for (ActorRef region : current.keySet()) {
            Address a = region.path().address();
            if (a.hasLocalScope()) a = self;
            if (a.host().isDefined() && shardOf(a).equals(shardId)) return Future.successful(region);
        }
        return scala.concurrent.Future$.MODULE$.failed(new IllegalStateException("node " + shardId + " has no region (not a member now): shard not allocated"));
    }

    @Override
    public Future<Set<String>> rebalance(Map<ActorRef, IndexedSeq<String>> current, Set<String> inProgress) {
        return Future.successful(Set.of());
    }
}
