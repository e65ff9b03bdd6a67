package dev.troupe.sharding;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Subscribe;

import java.time.Duration;
import java.util.function.Supplier;

/**
 * Keeps this node's {@link ReplicaDirectory} current: every interval (and at once when they change) it
 * announces the node's own slices and replicas on the cluster's topic, it files every announcement it hears (its own included), and it drops
 * a node's replicas as soon as the node is unreachable or leaves, instead of waiting for them to expire.
 */
final class ReplicaDirectoryKeeper extends AbstractBehavior<ReplicaDirectoryKeeper.Command> {
    interface Command {}

    private record Tick() implements Command {}

    private record Heard(NodeAnnouncement announcement) implements Command {}

    private record NodeLost(String node) implements Command {}

    /** This node's replicas changed (one was added or withdrawn): announce now rather than at the next tick. */
    record AnnounceNow() implements Command {}

    static final String TOPIC = "troupe-replicas";

    private final ReplicaDirectory directory;
    private final Supplier<NodeAnnouncement> local;
    private final ActorRef<Topic.Command<NodeAnnouncement>> topic;

    static Behavior<Command> create(ReplicaDirectory directory, Supplier<NodeAnnouncement> local, Duration interval) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            timers.startTimerWithFixedDelay(new Tick(), interval);
            return new ReplicaDirectoryKeeper(ctx, directory, local);
        }));
    }

    private ReplicaDirectoryKeeper(ActorContext<Command> ctx, ReplicaDirectory directory, Supplier<NodeAnnouncement> local) {
        super(ctx);
        this.directory = directory;
        this.local = local;
        this.topic = ctx.spawn(Topic.create(NodeAnnouncement.class, TOPIC), "topic");
        topic.tell(Topic.subscribe(ctx.messageAdapter(NodeAnnouncement.class, Heard::new)));
        ActorRef<ClusterEvent.ReachabilityEvent> unreachable = ctx.messageAdapter(ClusterEvent.ReachabilityEvent.class,
                e -> e instanceof ClusterEvent.UnreachableMember u ? new NodeLost(PinnedToNode.shardOf(u.member().address())) : new Tick());
        ActorRef<ClusterEvent.MemberRemoved> removed = ctx.messageAdapter(ClusterEvent.MemberRemoved.class,
                e -> new NodeLost(PinnedToNode.shardOf(e.member().address())));
        Cluster cluster = Cluster.get(ctx.getSystem());
        cluster.subscriptions().tell(Subscribe.create(unreachable, ClusterEvent.ReachabilityEvent.class));
        cluster.subscriptions().tell(Subscribe.create(removed, ClusterEvent.MemberRemoved.class));
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Tick.class, t -> onTick())
                .onMessage(Heard.class, h -> {
                    directory.file(h.announcement(), System.nanoTime());
                    return this;
                })
                .onMessage(AnnounceNow.class, a -> onTick())
                .onMessage(NodeLost.class, n -> {
                    directory.dropNode(n.node());
                    return this;
                })
                .build();
    }

    private Behavior<Command> onTick() {
        NodeAnnouncement a = local.get();
        directory.file(a, System.nanoTime());
        topic.tell(Topic.publish(a));
        return this;
    }
}
