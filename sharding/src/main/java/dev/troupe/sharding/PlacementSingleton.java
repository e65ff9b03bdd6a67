package dev.troupe.sharding;

import dev.troupe.actors.placement.Placement;
import dev.troupe.scheduler.PlacementPlanner;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.ClusterSingleton;
import org.apache.pekko.cluster.typed.SingletonActor;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The cluster's one {@link Placement} (a cluster singleton on the oldest node; it moves when that node
 * leaves and recovers its decisions from the journal), fed by this node's directory (the slices workers
 * announce) and membership, and its published placement, which this node follows.
 */
public final class PlacementSingleton {
    private final ActorRef<Placement.Command> placement;
    private final ActorRef<Topic.Command<Placement.Current>> topic;
    private final ActorSystem<?> system;
    private volatile Placement.Current latest = new Placement.Current(List.of(), java.util.Map.of());

    /**
     * @param tick   how often placement plans
     * @param settle how long a newly started placement waits for the workers' slices before deciding
     */
    public PlacementSingleton(ActorSystem<?> system, ReplicaDirectory directory, Duration tick, Duration settle) {
        this.system = system;
        this.topic = system.systemActorOf(Topic.create(Placement.Current.class, Placement.TOPIC), "placement-topic", Props.empty());
        Cluster cluster = Cluster.get(system);
        this.placement = ClusterSingleton.get(system).init(SingletonActor.of(
                Placement.create(() -> new Placement.Cluster(slices(directory), members(cluster)), topic, tick, settle, Clock.systemUTC()),
                "placement"));
        follow(p -> latest = p);
    }

    private static List<PlacementPlanner.Slice> slices(ReplicaDirectory directory) {
        List<PlacementPlanner.Slice> out = new ArrayList<>();
        for (SliceInfo s : directory.slices()) out.add(new PlacementPlanner.Slice(s.id(), s.node(), s.memoryBytes()));
        return out;
    }

    /** Nodes that still count as members: joining or up (leaving and exiting nodes' replicas are placed again). */
    private static Set<String> members(Cluster cluster) {
        Set<String> out = new HashSet<>();
        cluster.state().getMembers().forEach(m -> {
            MemberStatus s = m.status();
            if (s == MemberStatus.up() || s == MemberStatus.joining() || s == MemberStatus.weaklyUp()) out.add(PinnedToNode.shardOf(m.address()));
        });
        return out;
    }

    /** Where demands go: the singleton, wherever it runs. */
    public ActorRef<Placement.Command> placement() {
        return placement;
    }

    /** The placement as last published. */
    public Placement.Current latest() {
        return latest;
    }

    /** Hands every published placement to the follower (on an actor's thread). */
    public void follow(Consumer<Placement.Current> follower) {
        system.systemActorOf(TopicFeed.create(topic, follower), "placement-feed-" + java.util.UUID.randomUUID(), Props.empty());
    }
}
