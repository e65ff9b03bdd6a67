package dev.troupe.sharding;

import dev.troupe.actors.slice.GpuSlice;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;
import org.apache.pekko.cluster.typed.Cluster;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A worker's slices as Cluster Sharding entities pinned to their node: the entity id is
 * {@code host:port/i}, its shard the node ({@link PinnedToNode}). Any node can ask a slice for memory or
 * for its state; the node announces its own slices' latest state (kept here as each slice changes, so an
 * announcement never waits on an actor). A slice entity that stops (its node's region restarted) starts
 * again with the reservations it had.
 */
public final class SliceSharding {
    public static final EntityTypeKey<GpuSlice.Command> TYPE_KEY = EntityTypeKey.create(GpuSlice.Command.class, "slice");

    /** One slice of this node: its memory budget and the engine threads its replicas run on. */
    public record Spec(long memoryBytes, int threads) {}

    private final ClusterSharding sharding;
    private final String self;
    private final Map<String, Spec> specs = new ConcurrentHashMap<>();
    private final Map<String, GpuSlice.Status> latest = new ConcurrentHashMap<>();
    private final Duration askTimeout;

    /** @param slices this node's slices (none: a gateway that runs no placed replicas) */
    public SliceSharding(ActorSystem<?> system, List<Spec> slices) {
        this.sharding = ClusterSharding.get(system);
        this.self = PinnedToNode.shardOf(Cluster.get(system).selfMember().address());
        this.askTimeout = Duration.ofSeconds(10);
        for (int i = 0; i < slices.size(); i++) {
            String id = self + "/" + i;
            specs.put(id, slices.get(i));
            latest.put(id, new GpuSlice.Status(id, self, slices.get(i).memoryBytes(), slices.get(i).threads(), Map.of()));
        }
        sharding.init(Entity.of(TYPE_KEY, ctx -> {
            String id = ctx.getEntityId();
            Spec spec = specs.get(id);
            if (spec == null) return GpuSlice.unknown(id, self);
            GpuSlice.Status before = latest.get(id);
            return GpuSlice.create(id, self, spec.memoryBytes(), spec.threads(), before.reservations(), s -> latest.put(id, s));
        }).withMessageExtractor(PinnedToNode.<GpuSlice.Command>extractor(SliceSharding::nodeOf)).withAllocationStrategy(new PinnedToNode(system)));
    }

    /** The node of a slice: its id before the last '/'. */
    static String nodeOf(String sliceId) {
        int slash = sliceId.lastIndexOf('/');
        if (slash <= 0) throw new IllegalArgumentException("not a slice id: " + sliceId);
        return sliceId.substring(0, slash);
    }

    /** This node's slice ids, in order. */
    public List<String> localIds() {
        return latest.keySet().stream().sorted().toList();
    }

    /** This node's slices as they are now, for its announcement. */
    public List<SliceInfo> announced() {
        List<SliceInfo> out = new ArrayList<>();
        for (String id : localIds()) {
            GpuSlice.Status s = latest.get(id);
            out.add(new SliceInfo(s.id(), s.node(), s.totalBytes(), s.reservedBytes(), s.threads(),
                    s.reservations().keySet().stream().sorted().toList()));
        }
        return out;
    }

    /** Asks slice sliceId (on any node) to hold bytes for replica. */
    public CompletionStage<GpuSlice.ReserveReply> reserve(String sliceId, String replica, long bytes) {
        return sharding.entityRefFor(TYPE_KEY, sliceId).ask(r -> new GpuSlice.Reserve(replica, bytes, r), askTimeout);
    }

    public void release(String sliceId, String replica) {
        sharding.entityRefFor(TYPE_KEY, sliceId).tell(new GpuSlice.Release(replica));
    }

    public CompletionStage<GpuSlice.Status> status(String sliceId) {
        return sharding.entityRefFor(TYPE_KEY, sliceId).ask(GpuSlice.GetStatus::new, askTimeout);
    }
}
