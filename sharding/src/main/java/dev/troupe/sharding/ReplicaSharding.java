package dev.troupe.sharding;

import dev.troupe.actors.replica.LocalReplicaClient;
import dev.troupe.actors.replica.Replica;
import dev.troupe.actors.replica.ReplicaClient;
import dev.troupe.actors.replica.StepLoop;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
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
    private final Map<String, LocalReplica> locals = new ConcurrentHashMap<>();
    private final ActorRef<Replica.ToGateway> receiver;
    private final StreamReceiver.Sinks sinks = new StreamReceiver.Sinks();
    private final ReplicaDirectory directory;
    private final Map<String, ReplicaClient> remotes = new ConcurrentHashMap<>();
    private final java.util.function.Supplier<java.util.List<SliceInfo>> slices;
    private final ActorRef<ReplicaDirectoryKeeper.Command> keeper;
    private final Failover failover;

    private record LocalReplica(String model, String version, LocalReplicaClient client) {
        ReplicaStatus status(String node) {
            StepLoop.Stats s = client.loop().stats();
            return new ReplicaStatus(node, client.name(), model, version, !client.loop().draining(), s.waiting(), s.running(),
                    s.kvBlocksFree(), s.kvBlocksUsed() + s.kvBlocksFree());
        }
    }

    /** Announces this node's replicas (no slices) every 250 ms; an announcement counts for 2 s. */
    public ReplicaSharding(ActorSystem<?> system) {
        this(system, java.time.Duration.ofMillis(250), java.time.Duration.ofSeconds(2), java.util.List::of,
                java.time.Duration.ofSeconds(2), Failover.DEFAULT);
    }

    /**
     * @param announceEvery how often this node announces its replicas' state and load
     * @param expiry        how long an announcement counts (a node that stops announcing drops out after it)
     * @param slices        this node's slices as they are now (none: the node runs no placed replicas)
     * @param liveness      how long a remote request may go unheard of before the gateway gives its replica up
     *                      (and a replica, its gateway)
     * @param failover      what this gateway does when a request's replica is lost
     */
    public ReplicaSharding(ActorSystem<?> system, java.time.Duration announceEvery, java.time.Duration expiry,
                           java.util.function.Supplier<java.util.List<SliceInfo>> slices, java.time.Duration liveness,
                           Failover failover) {
        this.failover = failover;
        this.sharding = ClusterSharding.get(system);
        this.self = PinnedToNode.shardOf(Cluster.get(system).selfMember().address());
        this.receiver = system.systemActorOf(StreamReceiver.create(sinks, liveness, self), "replica-streams", Props.empty());
        this.directory = new ReplicaDirectory(expiry);
        this.slices = slices;
        this.keeper = system.systemActorOf(ReplicaDirectoryKeeper.create(directory, this::announcement, announceEvery),
                "replica-directory", Props.empty());
        sharding.init(Entity.of(TYPE_KEY, ctx -> {
            LocalReplica local = locals.get(ctx.getEntityId());
            return local == null ? Replica.notLoaded(nameOf(ctx.getEntityId()), self)
                    : Replica.create(local.client(), liveness, remoteRequests);
        }).withMessageExtractor(PinnedToNode.<Replica.Command>extractor(ReplicaSharding::nodeOf)).withAllocationStrategy(new PinnedToNode(system)));
    }

    private volatile dev.troupe.actors.replica.RemoteRequests remoteRequests = dev.troupe.actors.replica.RemoteRequests.NONE;

    /**
     * From now on, each request this node's replicas take from another node's gateway is shown to hook first
     * (tracing); set it before the node serves. Replica entities started before keep the previous one.
     */
    public void observeRemoteRequests(dev.troupe.actors.replica.RemoteRequests hook) {
        this.remoteRequests = hook;
    }

    /** What this gateway does when a request's replica is lost, and how often it did. */
    public Failover failover() {
        return failover;
    }

    /** This node, as {@code host:port}. */
    public String selfNode() {
        return self;
    }

    static String entityId(String node, String name) {
        return node + "|" + name;
    }

    /** The node of a replica's entity: its id before the '|'. */
    private static String nodeOf(String entityId) {
        int bar = entityId.indexOf('|');
        if (bar <= 0) throw new IllegalArgumentException("not a pinned entity id: " + entityId);
        return entityId.substring(0, bar);
    }

    private static String nameOf(String entityId) {
        return entityId.substring(entityId.indexOf('|') + 1);
    }

    /** The cluster's replicas as this node sees them. */
    public ReplicaDirectory directory() {
        return directory;
    }

    private volatile String httpBase = "";
    private volatile java.util.function.Supplier<java.util.List<String>> files = java.util.List::of;

    private volatile String tensorEndpoint = "";

    /** From now on this node announces the UDP endpoint ("host:port") its tensor-parallel slices receive on. */
    public void announceTensorEndpoint(String endpoint) {
        this.tensorEndpoint = endpoint;
    }

    /** From now on this node also announces its HTTP API and the model files it can give to peers. */
    public void announceFiles(String httpBase, java.util.function.Supplier<java.util.List<String>> files) {
        this.httpBase = httpBase;
        this.files = files;
    }

    private NodeAnnouncement announcement() {
        java.util.List<ReplicaStatus> replicas = new java.util.ArrayList<>();
        for (LocalReplica r : locals.values()) replicas.add(r.status(self));
        return new NodeAnnouncement(self, slices.get(), replicas, httpBase, java.util.List.copyOf(files.get()), tensorEndpoint);
    }

    /** The name of a model version's replica on a node. */
    public static String replicaName(String model, String version) {
        return model + "@" + version;
    }

    /**
     * Serves a step loop of this node as the replica of a model version: reachable from every node, and
     * in every node's directory within an announcement, from now on.
     */
    public LocalReplicaClient registerLocal(String model, String version, StepLoop loop) {
        String name = replicaName(model, version);
        LocalReplica r = new LocalReplica(model, version, new LocalReplicaClient(name, self, loop));
        locals.put(entityId(self, name), r);
        keeper.tell(new ReplicaDirectoryKeeper.AnnounceNow());
        return r.client();
    }

    /** The replica was unloaded: withdrawn from the directories, its entity stops (and starts as not loaded if messaged again). */
    public void unregisterLocal(String model, String version) {
        String id = entityId(self, replicaName(model, version));
        LocalReplica r = locals.remove(id);
        if (r != null) {
            keeper.tell(new ReplicaDirectoryKeeper.AnnounceNow());
            sharding.entityRefFor(TYPE_KEY, id).tell(new Replica.Stop());
        }
    }

    /** Replica {@code name} on {@code node}: direct when it runs here, through its entity otherwise. */
    public ReplicaClient client(String node, String name) {
        if (node.equals(self)) {
            LocalReplica local = locals.get(entityId(node, name));
            if (local != null) return local.client();
        }
        return remote(node, name);
    }

    /** Always through the entity, even for a replica on this node (tests of the remote path). */
    public ReplicaClient remote(String node, String name) {
        return remotes.computeIfAbsent(entityId(node, name),
                id -> new RemoteReplicaClient(sharding.entityRefFor(TYPE_KEY, id), node, receiver, sinks));
    }
}
