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
import java.util.List;
import java.util.function.Supplier;

/**
 * Keeps this node's {@link ReplicaDirectory} current: every interval it announces the node's own replicas
 * on the cluster's replicas topic, it files every announcement it hears (its own included), and it drops
 * a node's replicas as soon as the node is unreachable or leaves, instead of waiting for them to expire.
 */
final class ReplicaDirectoryKeeper extends AbstractBehavior<ReplicaDirectoryKeeper.Command> {
    interface Command {}

    private record Tick() implements Command {}

    private record Heard(ReplicaStatus status) implements Command {}

    private record NodeLost(String node) implements Command {}

    /** A replica of this node is gone (unloaded): tell the cluster now rather than let it expire. */
    record Withdraw(ReplicaStatus gone) implements Command {}

    static final String TOPIC = "troupe-replicas";

    private final ReplicaDirectory directory;
    private final Supplier<List<ReplicaStatus>> local;
    private final ActorRef<Topic.Command<ReplicaStatus>> topic;

    static Behavior<Command> create(ReplicaDirectory directory, Supplier<List<ReplicaStatus>> local, Duration interval) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            timers.startTimerWithFixedDelay(new Tick(), interval);
            return new ReplicaDirectoryKeeper(ctx, directory, local);
        }));
    }

    private ReplicaDirectoryKeeper(ActorContext<Command> ctx, ReplicaDirectory directory, Supplier<List<ReplicaStatus>> local) {
        super(ctx);
        this.directory = directory;
        this.local = local;
        this.topic = ctx.spawn(Topic.create(ReplicaStatus.class, TOPIC), "topic");
        topic.tell(Topic.subscribe(ctx.messageAdapter(ReplicaStatus.class, Heard::new)));
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
                    directory.file(h.status(), System.nanoTime());
                    return this;
                })
                .onMessage(Withdraw.class, w -> {
                    directory.file(w.gone(), System.nanoTime());
                    topic.tell(Topic.publish(w.gone()));
                    return this;
                })
                .onMessage(NodeLost.class, n -> {
                    directory.dropNode(n.node());
                    return this;
                })
                .build();
    }

    private Behavior<Command> onTick() {
        for (ReplicaStatus s : local.get()) {
            directory.file(s, System.nanoTime());
            topic.tell(Topic.publish(s));
        }
        return this;
    }
}
