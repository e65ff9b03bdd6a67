package dev.troupe.node.deploy;

import dev.troupe.actors.slice.GpuSlice;
import dev.troupe.engine.EngineOptions;
import dev.troupe.engine.LlamaModel;
import dev.troupe.engine.tp.AeronTensorExchange;
import dev.troupe.engine.tp.TensorFollowerAgent;
import dev.troupe.scheduler.PlacementPlanner;
import org.agrona.concurrent.AgentRunner;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The follower slices of one model's tensor-parallel groups that placement puts on this node. Each loads its
 * share of the version's file on its slice (once the slice granted the memory) and runs the steps its
 * leader sends until the group ends: the leader stops it, the leader is lost, or placement moves the group.
 * A follower whose group ended while placement still wants it here starts again, fresh (a group's state
 * lives in its leader's steps, so a follower cannot rejoin a running group: the leader reloads too).
 */
final class TensorFollowers implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(TensorFollowers.class);

    /** Slice {@code rank} (1 or more) of the group that runs replica {@code version} of the model. */
    record Role(String version, PlacementPlanner.Assignment group, int rank) {
        String slice() {
            return group.followers().get(rank - 1).slice();
        }

        String key() {
            return version + "#" + rank;
        }
    }

    /** What a follower needs of its model's deployments. */
    interface Host {
        /** The version's file on this node (fetched from a peer if need be). */
        Path file(String version) throws Exception;

        /** Bytes on a slice, asked again while the slice is busy; the slice's refusal as an exception. */
        GpuSlice.Granted reserve(String slice, String holder, long bytes) throws Exception;

        void release(String slice, String holder);

        /** The memory one slice of an n-way split of the version needs, or null if unknown. */
        Long shareBytes(String version, int slices);
    }

    private record Running(Role role, LlamaModel model, AeronTensorExchange exchange, TensorFollowerAgent agent, AgentRunner runner,
                           String holder) {}

    private final String model;
    private final Host host;
    private final TensorGroups groups;
    private final EngineOptions engine;
    private final ExecutorService worker;
    // Guarded by this.
    private Map<String, Role> wanted = Map.of();
    private final Map<String, Running> running = new TreeMap<>();
    private final java.util.Set<String> starting = new java.util.TreeSet<>();
    private final Map<String, String> failed = new TreeMap<>();
    private boolean closed;

    TensorFollowers(String model, Host host, TensorGroups groups, EngineOptions engine) {
        this.model = model;
        this.host = host;
        this.groups = groups;
        this.engine = engine;
        this.worker = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "troupe-tp-followers-" + model);
            t.setDaemon(true);
            return t;
        });
    }

    /** The follower roles placement gives this node now (by {@link Role#key}). */
    synchronized void follow(Map<String, Role> roles) {
        if (closed || roles.equals(wanted)) return;
        wanted = Map.copyOf(roles);
        reconcile();
    }

    /** Called now and then: followers whose group ended are cleaned up, and started again while still wanted. */
    synchronized void tick() {
        if (closed) return;
        reconcile();
    }

    /** Follower slices running on this node, by role key, with their group's slices (for the admin API). */
    synchronized Map<String, String> status() {
        Map<String, String> out = new TreeMap<>();
        for (Running r : running.values()) out.put(r.role().key(), r.agent().ended() ? "ended" : "following " + r.role().group().slice());
        failed.forEach((k, why) -> out.putIfAbsent(k, "failed: " + why));
        return out;
    }

    private void reconcile() {
        for (Running r : new ArrayList<>(running.values())) {
            Role want = wanted.get(r.role().key());
            if (r.agent().ended() || !r.role().equals(want)) {
                running.remove(r.role().key());
                if (r.agent().ended()) log.info("model '{}': follower slice {} of {} ended: {}", model, r.role().rank(), r.role().version(),
                        dev.troupe.engine.tp.TensorExchange.describe(r.agent().endStatus()));
                worker.execute(() -> stop(r));
            }
        }
        for (Role role : wanted.values()) {
            if (running.containsKey(role.key()) || !starting.add(role.key())) continue;
            worker.execute(() -> {
                try {
                    start(role);
                } finally {
                    synchronized (this) {
                        starting.remove(role.key());
                    }
                }
            });
        }
    }

    private void start(Role role) {
        synchronized (this) {
            if (closed || !role.equals(wanted.get(role.key()))) return;
        }
        String holder = dev.troupe.sharding.ReplicaSharding.replicaName(model, role.version()) + "#" + role.rank();
        int slices = role.group().slices();
        Long bytes = host.shareBytes(role.version(), slices);
        boolean reserved = false;
        AeronTensorExchange exchange = null;
        LlamaModel slice = null;
        try {
            Path file = host.file(role.version());
            GpuSlice.Granted granted = host.reserve(role.slice(), holder, bytes != null ? bytes : 0);
            reserved = true;
            EngineOptions options = engine.withThreads(granted.threads());
            exchange = groups.exchange(dev.troupe.sharding.ReplicaSharding.replicaName(model, role.version()), role.group(), role.rank(),
                    file, options);
            slice = LlamaModel.loadSlice(file, options, role.rank(), slices, exchange);
            TensorFollowerAgent agent = new TensorFollowerAgent(slice, exchange, groups.joinTimeout().toNanos());
            synchronized (this) {
                if (closed || !role.equals(wanted.get(role.key()))) {
                    exchange.close();
                    closeQuietly(slice);
                    host.release(role.slice(), holder);
                    return;
                }
                running.put(role.key(), new Running(role, slice, exchange, agent, TensorFollowerAgent.start(agent), holder));
                failed.remove(role.key());
            }
            log.info("model '{}': follower slice {} of {} ({} KiB of the weights) on slice {}, waiting for its leader on {}", model,
                    role.rank(), role.version(), slice.weightBytes() >> 10, role.slice(), role.group().slice());
        } catch (Exception | Error e) {
            String why = e.getMessage() != null ? e.getMessage() : e.toString();
            log.warn("model '{}': follower slice {} of {} failed to start: {}", model, role.rank(), role.version(), why);
            if (exchange != null) exchange.close();
            closeQuietly(slice);
            if (reserved) host.release(role.slice(), holder);
            synchronized (this) {
                failed.put(role.key(), why);
            }
            // Placement or the next tick tries again; a pause keeps a hopeless start from spinning.
            sleep(2000);
        }
    }

    private void stop(Running r) {
        r.runner().close();   // waits for the agent's thread
        r.exchange().close();
        closeQuietly(r.model());
        host.release(r.role().slice(), r.holder());
    }

    private static void closeQuietly(LlamaModel m) {
        if (m == null) return;
        try {
            m.close();
        } catch (Exception e) {
            // the mapped file is released either way
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        List<Running> all;
        synchronized (this) {
            closed = true;
            all = new ArrayList<>(running.values());
            running.clear();
        }
        worker.shutdownNow();
        for (Running r : all) stop(r);
    }
}
