package dev.troupe.node.deploy;

import dev.troupe.actors.placement.Placement;
import dev.troupe.actors.registry.ModelRegistry;
import dev.troupe.scheduler.PlacementPlanner;
import dev.troupe.actors.replica.Replica;
import dev.troupe.actors.replica.LocalReplicaClient;
import dev.troupe.actors.replica.StepLoop;
import dev.troupe.engine.EngineOptions;
import dev.troupe.engine.LlamaModel;
import dev.troupe.engine.tokenizer.Tokenizer;
import dev.troupe.node.http.ServedModel;
import dev.troupe.node.openai.ChatTemplate;
import dev.troupe.sharding.ReplicaSharding;
import dev.troupe.sharding.SliceSharding;
import dev.troupe.actors.slice.GpuSlice;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.japi.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * This node's side of one model's deployments: it follows the model's registry and makes the loaded
 * versions match it. A deployed version is loaded (file checked against the registered sha256, engine
 * warmed up, step loop started, replica probed) before the router gives it any traffic; the router always
 * serves the registry's traffic split restricted to ready versions, so a traffic change, promotion or
 * rollback to a warm version takes effect with one table swap, and a version still loading keeps its
 * predecessor serving. A version without traffic stays warm for {@code troupe.deployments.keep-warm},
 * then is drained and unloaded (cold: it loads again when traffic needs it).
 *
 * <p>All registry commands of this node go through {@link #command}, which applies the registry's new
 * state here as soon as it is persisted.
 */
public final class ModelDeployments implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ModelDeployments.class);

    /** Where a version stands on this node. */
    public enum Phase { LOADING, READY, FAILED, UNLOADING, COLD }

    public record VersionStatus(Phase phase, String detail, Instant since) {}

    /** How long a version that failed to load here waits before it is tried again. */
    private static final Duration LOAD_RETRY = Duration.ofSeconds(30);
    /** The most slices a replica is split over. */
    static final int MAX_SPLIT = 8;

    private static final class Slot {
        final String version;
        Phase phase;
        String detail;
        Instant since;
        LoadedVersion loaded;
        PlacementPlanner.Assignment assignment;   // the slices it loaded (or last tried) on
        CompletableFuture<LoadedVersion> ready = new CompletableFuture<>();

        Slot(String version) {
            this.version = version;
        }

        void set(Phase p, String d) {
            phase = p;
            detail = d;
            since = Instant.now();
        }
    }

    private final ActorSystem<?> system;
    private final String model;
    private final RecipientRef<ModelRegistry.Command> registry;
    private final ReplicaSharding sharding;
    private final DeploymentSettings settings;
    private final boolean worker;
    /** The model files this node holds, by sha256; the others it fetches from peers. */
    private final WeightsStore weights;
    /** Whether a version's registered path is valid on this node too (a shared filesystem or the same layout). */
    private final boolean sharedPaths;
    private final dev.troupe.scheduler.ReplicaRouter replicaRouter;
    private final VersionRouter router = new VersionRouter();
    private final ExecutorService loader;
    private final ScheduledExecutorService ticker;
    private final List<java.util.function.Consumer<ModelRegistry.State>> listeners = new java.util.concurrent.CopyOnWriteArrayList<>();

    // Guarded by this.
    private final Map<String, Slot> slots = new TreeMap<>();
    /** What a gateway needs of each deployed version (from its file's metadata, not its weights). */
    private final Map<String, ServedModel> cards = new TreeMap<>();
    /** Versions whose file is here but unreadable: the tick does not try them again (a registry change does). */
    private final java.util.Set<String> unreadable = new java.util.TreeSet<>();
    private final Map<String, CompletableFuture<Void>> routable = new TreeMap<>();
    /**
     * Memory each slice of a replica of each carded version needs (its share of the file and of the KV pool),
     * by the splits the model allows (1 = whole).
     */
    private final Map<String, Map<Integer, Long>> splitBytes = new TreeMap<>();
    /** Why a carded version cannot be split n ways, by version and n (absent: it can). */
    private final Map<String, Map<Integer, String>> splitRefusals = new TreeMap<>();
    /** When each version last had traffic (or was deployed): it stays wanted for keep-warm after. */
    private final Map<String, Long> lastWanted = new TreeMap<>();
    /** The versions placement runs on this node, each on its slice (leading its group's other slices, if split). */
    private Map<String, PlacementPlanner.Assignment> assignedHere = Map.of();
    private final TensorGroups groups;
    private final TensorFollowers followers;
    private List<PlacementPlanner.Want> lastDemand = List.of();
    private final SliceSharding slices;
    private java.util.function.Consumer<Placement.Demand> demandSink = d -> {};
    /** Replaced whole (states are immutable); read without the lock by the routing of each request. */
    private volatile ModelRegistry.State desired = ModelRegistry.State.EMPTY;
    private volatile boolean closed;
    private long ticks;

    /** worker: this node runs replicas of the versions with traffic (else it only routes to other nodes'). */
    public ModelDeployments(ActorSystem<?> system, String model, RecipientRef<ModelRegistry.Command> registry,
                            ReplicaSharding sharding, DeploymentSettings settings, boolean worker, WeightsStore weights,
                            boolean sharedPaths, dev.troupe.scheduler.ReplicaRouter replicaRouter, SliceSharding slices,
                            TensorGroups groups) {
        this.slices = slices;
        this.groups = groups;
        this.worker = worker;
        this.weights = weights;
        this.sharedPaths = sharedPaths;
        this.replicaRouter = replicaRouter;
        this.system = system;
        this.model = model;
        this.registry = registry;
        this.sharding = sharding;
        this.settings = settings;
        this.loader = Executors.newSingleThreadExecutor(daemon("troupe-loader-" + model));
        this.ticker = Executors.newSingleThreadScheduledExecutor(daemon("troupe-deployments-" + model));
        this.followers = new TensorFollowers(model, new TensorFollowers.Host() {
            @Override
            public Path file(String version) throws Exception {
                ModelRegistry.VersionInfo info = desired.versions().get(version);
                if (info == null) throw new IllegalStateException("version '" + version + "' is not registered");
                return verifiedFile(info);
            }

            @Override
            public GpuSlice.Granted reserve(String slice, String holder, long bytes) throws Exception {
                return ModelDeployments.this.reserve(slice, holder, bytes);
            }

            @Override
            public void release(String slice, String holder) {
                slices.release(slice, holder);
            }

            @Override
            public Long shareBytes(String version, int n) {
                synchronized (ModelDeployments.this) {
                    Map<Integer, Long> b = splitBytes.get(version);
                    return b == null ? null : b.get(n);
                }
            }
        }, groups, settings.engine());
    }

    private static java.util.concurrent.ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }

    public String model() {
        return model;
    }

    public VersionRouter router() {
        return router;
    }

    /** Whether the model has a live version (the registry's state as this node last applied it). */
    public synchronized boolean hasLive() {
        return desired.live() != null;
    }

    /**
     * Reads the registry and loads what its traffic needs now (the live version and any version with
     * traffic); other deployed versions start cold. Then follows every change made through {@link #command}.
     */
    public CompletionStage<ModelRegistry.State> start() {
        ticker.scheduleWithFixedDelay(this::tick, 250, 250, TimeUnit.MILLISECONDS);
        return state().thenApply(s -> {
            apply(s, true);
            return s;
        });
    }

    /**
     * A registry state published by the registry (a change made through any node). States can arrive out
     * of order with the replies of this node's own commands: an older one than applied is ignored.
     */
    public void follow(ModelRegistry.State s) {
        apply(s, false);
    }

    /** Where this model's demand goes (the placement singleton); sent on every change and every 2 s. */
    public void demandTo(java.util.function.Consumer<Placement.Demand> sink) {
        this.demandSink = sink;
    }

    /**
     * The cluster's placement (published by the placement singleton): a worker loads the versions of this
     * model placed on this node and drains and unloads the others.
     */
    public void followPlacement(Placement.Current placement) {
        if (!worker) return;
        // One replica of a version per node: placed on several of this node's slices, it runs on the first.
        Map<String, PlacementPlanner.Assignment> here = new TreeMap<>();
        Map<String, TensorFollowers.Role> following = new TreeMap<>();
        String self = sharding.selfNode();
        for (Placement.Placed p : placement.assignments()) {
            if (!p.key().model().equals(model)) continue;
            if (p.assignment().node().equals(self)) here.putIfAbsent(p.key().version(), p.assignment());
            List<PlacementPlanner.GroupSlice> f = p.assignment().followers();
            for (int i = 0; i < f.size(); i++) {
                if (!f.get(i).node().equals(self)) continue;
                TensorFollowers.Role role = new TensorFollowers.Role(p.key().version(), p.assignment(), i + 1);
                following.putIfAbsent(role.key(), role);
            }
        }
        followers.follow(following);
        synchronized (this) {
            if (closed || here.equals(assignedHere)) return;
            assignedHere = Map.copyOf(here);
            reconcile();
        }
    }

    /**
     * Where this node reads a version's file: its own copy of the same bytes, else the registered path when
     * paths are shared; null when it must fetch it from a peer.
     */
    private Path fileOf(ModelRegistry.VersionInfo info) {
        Path mine = weights.path(info.sha256());
        if (mine != null) return mine;
        Path registered = Path.of(info.path());
        return sharedPaths && Files.isRegularFile(registered) ? registered : null;
    }

    /** The version's file on this node, fetched from a peer that has it if need be (waits up to a minute for one to announce it). */
    private Path fileOrFetch(ModelRegistry.VersionInfo info) throws Exception {
        Path p = fileOf(info);
        if (p != null) return p;
        long until = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
        List<WeightsStore.Peer> peers = peersWith(info.sha256());
        while (peers.isEmpty() && System.nanoTime() < until) {
            Thread.sleep(200);
            peers = peersWith(info.sha256());
        }
        log.info("model '{}': version {} is not on this node: fetching it from {}", model, info.version(), peers);
        return weights.fetch(info.sha256(), peers).get();
    }

    private List<WeightsStore.Peer> peersWith(String sha256) {
        List<WeightsStore.Peer> out = new ArrayList<>();
        for (String[] p : sharding.directory().peersWith(sha256, sharding.selfNode())) out.add(new WeightsStore.Peer(p[0], p[1]));
        return out;
    }

    /** Called with the registry's state after every accepted change (e.g. by the canary monitor). */
    public void onChange(java.util.function.Consumer<ModelRegistry.State> listener) {
        listeners.add(listener);
    }

    /** Sends a command to the registry; an accepted change is applied on this node before the reply returns. */
    public CompletionStage<ModelRegistry.Reply> command(Function<ActorRef<ModelRegistry.Reply>, ModelRegistry.Command> message) {
        return AskPattern.ask(registry, message, Duration.ofSeconds(30), system.scheduler()).thenApply(r -> {
            if (r instanceof ModelRegistry.Reply.Accepted a) apply(a.state(), false);
            return r;
        });
    }

    public CompletionStage<ModelRegistry.State> state() {
        return AskPattern.<ModelRegistry.Command, ModelRegistry.Reply>ask(registry, ModelRegistry.GetState::new,
                Duration.ofSeconds(30), system.scheduler()).thenApply(r -> ((ModelRegistry.Reply.Current) r).state());
    }

    /** Completes when the version is ready on this node, or fails with why it could not load. */
    public synchronized CompletableFuture<LoadedVersion> whenReady(String version) {
        Slot s = slots.get(version);
        return s == null ? CompletableFuture.failedFuture(new IllegalStateException("version '" + version + "' is not deployed"))
                : s.ready;
    }

    /** Completes once some replica of the version, on any node, takes this gateway's requests. */
    public synchronized CompletableFuture<Void> whenRoutable(String version) {
        CompletableFuture<Void> f = routable.computeIfAbsent(version, v -> new CompletableFuture<>());
        if (router.effectiveWeights().containsKey(version) || (cards.containsKey(version) && cards.get(version).replicas().any())) {
            f.complete(null);
        }
        return f;
    }

    /** Wants a deployed version again (warm for keep-warm) and loads it again here if it failed (an explicit deploy asks for it). */
    public synchronized void ensureLoaded(String version) {
        if (!isDeployed(desired, version)) return;
        lastWanted.put(version, System.nanoTime());
        Slot s = slots.get(version);
        if (s != null && s.phase == Phase.FAILED && assignedHere.containsKey(version)) startLoad(version);
        sendDemand(true);
    }

    /** Why the version cannot be split over n slices (with the numbers), or null when it can (or its file is not here). */
    public synchronized String splitRefusal(String version, int n) {
        if (n > MAX_SPLIT) return "a replica is split over at most " + MAX_SPLIT + " slices, not " + n;
        knowSplits(version);
        Map<Integer, String> r = splitRefusals.get(version);
        return r == null ? null : r.get(n);
    }

    /** Reads the splits of a registered version not deployed yet (deployed ones are known from their card). */
    private void knowSplits(String version) {
        ModelRegistry.VersionInfo info = desired.versions().get(version);
        if (splitBytes.containsKey(version) || info == null) return;
        Path file = fileOf(info);
        if (file == null) return;
        try (dev.troupe.engine.gguf.GgufFile f = dev.troupe.engine.gguf.GgufFile.open(file)) {
            splits(version, file, f, dev.troupe.engine.model.LlamaConfig.from(f));
        } catch (Exception e) {
            // unreadable here: the load says why, where it is placed
        }
    }

    /**
     * The splits the model allows and the memory each slice of each needs (its share of the file and of
     * the KV pool), and why the others are not allowed.
     */
    private void splits(String version, Path file, dev.troupe.engine.gguf.GgufFile f, dev.troupe.engine.model.LlamaConfig c)
            throws java.io.IOException {
        dev.troupe.engine.EngineOptions engine = settings.engine();
        long kvTokens = engine.kvPoolTokens(c.layers(), c.kvDim(), c.contextLength());
        long whole = Files.size(file) + kvTokens * dev.troupe.engine.kv.PagedKvCache.bytesPerToken(engine.kvCacheType(), c.layers(), c.kvDim());
        Map<Integer, Long> splits = new TreeMap<>();
        Map<Integer, String> refusals = new TreeMap<>();
        for (int n = 1; n <= MAX_SPLIT; n++) {
            try {
                dev.troupe.engine.model.LlamaWeights.shard(f, c, 0, n);
                splits.put(n, (whole + n - 1) / n);
            } catch (IllegalArgumentException e) {
                refusals.put(n, e.getMessage());
            }
        }
        splitBytes.put(version, Map.copyOf(splits));
        splitRefusals.put(version, Map.copyOf(refusals));
    }

    /**
     * Why no replica of the version could ever be placed with tensorParallel (0: any split it allows): each
     * split's share is larger than the slices the cluster has, or wants more slices than it has. Null when
     * one fits an empty cluster's slices (or nothing is known yet).
     */
    public synchronized String fitRefusal(String version, int tensorParallel) {
        knowSplits(version);
        Map<Integer, Long> splits = splitBytes.get(version);
        List<dev.troupe.sharding.SliceInfo> all = sharding.directory().slices();
        if (splits == null || all.isEmpty()) return null;
        long largest = 0;
        for (dev.troupe.sharding.SliceInfo s : all) largest = Math.max(largest, s.memoryBytes());
        StringBuilder need = new StringBuilder();
        for (Map.Entry<Integer, Long> e : new TreeMap<>(splits).entrySet()) {
            if (tensorParallel > 0 && e.getKey() != tensorParallel) continue;
            long fitting = all.stream().filter(s -> s.memoryBytes() >= e.getValue()).count();
            if (fitting >= e.getKey()) return null;
            need.append(need.length() == 0 ? "" : ", or ").append(e.getValue() >> 20).append(" MiB on each of ").append(e.getKey())
                    .append(e.getKey() == 1 ? " slice" : " slices");
        }
        return "a replica needs " + need + "; the cluster has " + all.size() + " slices, the largest of " + (largest >> 20) + " MiB";
    }

    /** This node's follower slices of the model's groups (by version#rank): following their leader, ended, or failed and why. */
    public Map<String, String> followerStatus() {
        return followers.status();
    }

    public synchronized Map<String, VersionStatus> status() {
        Map<String, VersionStatus> out = new LinkedHashMap<>();
        for (Slot s : slots.values()) out.put(s.version, new VersionStatus(s.phase, s.detail, s.since));
        return out;
    }

    /** The versions loaded and ready, in name order. */
    public synchronized List<LoadedVersion> loaded() {
        List<LoadedVersion> out = new ArrayList<>();
        for (Slot s : slots.values()) if (s.phase == Phase.READY) out.add(s.loaded);
        return out;
    }

    /**
     * Graceful shutdown: every loaded version stops taking requests and finishes its in-flight ones within
     * the grace period. The drain goes through each replica entity, behind any request already sent to it.
     */
    public CompletableFuture<Void> drain(Duration grace) {
        List<CompletableFuture<?>> all = new ArrayList<>();
        for (LoadedVersion v : loaded()) all.add(v.replica().drain(grace).toCompletableFuture());
        return CompletableFuture.allOf(all.toArray(new CompletableFuture[0]));
    }

    @Override
    public void close() {
        List<LoadedVersion> toClose;
        synchronized (this) {
            if (closed) return;
            closed = true;
            toClose = new ArrayList<>();
            for (Slot s : slots.values()) if (s.loaded != null) toClose.add(s.loaded);
            router.clear();
        }
        ticker.shutdownNow();
        loader.shutdownNow();
        for (LoadedVersion v : toClose) closeQuietly(v);
        followers.close();
    }

    // ------------------------------------------------------------------ following the registry

    private static boolean isDeployed(ModelRegistry.State s, String version) {
        ModelRegistry.VersionInfo v = s.versions().get(version);
        return v != null && !v.retired() && s.deployments().containsKey(version);
    }

    private static boolean hasTraffic(ModelRegistry.State s, String version) {
        return s.traffic().getOrDefault(version, 0) > 0 || version.equals(s.live());
    }

    private void apply(ModelRegistry.State s, boolean startingUp) {
        synchronized (this) {
            if (closed || s.history().size() < desired.history().size()) return;
            ModelRegistry.State before = desired;
            desired = s;
            long now = System.nanoTime();
            for (String version : s.versions().keySet()) {
                if (!isDeployed(s, version)) continue;
                if (!cards.containsKey(version)) card(s.versions().get(version));
                // A version deployed while this node runs is wanted (warm) at once; one found at start-up without traffic starts cold.
                if (hasTraffic(s, version) || (!startingUp && !isDeployed(before, version))) lastWanted.put(version, now);
                if (worker && !slots.containsKey(version)) {
                    Slot slot = new Slot(version);
                    slot.set(Phase.COLD, "not placed on this node");
                    slots.put(version, slot);
                }
            }
            reconcile();
            republish();
            sendDemand(false);
        }
        for (var l : listeners) l.accept(s);
    }

    /** A worker's loaded versions follow placement: load what is placed here, drain and unload the rest. */
    private void reconcile() {
        if (!worker) return;
        for (Slot slot : slots.values()) {
            PlacementPlanner.Assignment a = assignedHere.get(slot.version);
            boolean here = a != null && isDeployed(desired, slot.version);
            boolean moved = here && slot.assignment != null && !a.equals(slot.assignment);
            if (here && (slot.phase == Phase.COLD || slot.phase == Phase.FAILED && moved)) startLoad(slot.version);
            else if (slot.phase == Phase.READY && (!here || moved)) {
                startUnload(slot, !isDeployed(desired, slot.version) ? "no longer deployed" : moved ? "placed on other slices" : "released by placement");
            }
        }
    }

    /**
     * This model's replicas wanted now: each deployed version with traffic, or with traffic (or deployed)
     * within keep-warm, its deployment's replica count, each needing its file and KV pool in memory.
     */
    private List<PlacementPlanner.Want> wants() {
        List<PlacementPlanner.Want> out = new ArrayList<>();
        long now = System.nanoTime();
        for (Map.Entry<String, ModelRegistry.Deployment> d : desired.deployments().entrySet()) {
            String version = d.getKey();
            Long wanted = lastWanted.get(version);
            Map<Integer, Long> splits = splitBytes.get(version);
            if (!isDeployed(desired, version) || splits == null) continue;
            if (!hasTraffic(desired, version) && (wanted == null || now - wanted > settings.keepWarm().toNanos())) continue;
            int tp = d.getValue().tensorParallel();   // 0: the fewest slices that fit
            Map<Integer, Long> options = tp == 0 ? splits : splits.containsKey(tp) ? Map.of(tp, splits.get(tp)) : null;
            if (options == null) {
                log.warn("model '{}': version {} is deployed over {} slices, which it cannot be split into: {}", model, version, tp,
                        splitRefusal(version, tp));
                continue;
            }
            for (int i = 0; i < Math.max(1, d.getValue().replicas()); i++) {
                out.add(new PlacementPlanner.Want(new PlacementPlanner.ReplicaKey(model, version, i), options));
            }
        }
        return out;
    }

    private long demandSentNanos;

    /** Tells placement what this model wants when it changed, or (always) every 2 s in case the singleton moved. */
    private void sendDemand(boolean force) {
        List<PlacementPlanner.Want> w = wants();
        long now = System.nanoTime();
        if (!force && w.equals(lastDemand) && now - demandSentNanos < 2_000_000_000L) return;
        lastDemand = w;
        demandSentNanos = now;
        demandSink.accept(new Placement.Demand(model, w));
    }

    /** What a gateway needs of a version, read from its file's header and tokenizer (no weights); null if it cannot be read here. */
    private void card(ModelRegistry.VersionInfo info) {
        Path file = fileOf(info);
        if (file == null) {
            // Fetched in the background (a worker placed to run it fetches it too); the tick builds the card then.
            if (!worker) {
                List<WeightsStore.Peer> peers = peersWith(info.sha256());
                if (!peers.isEmpty()) weights.fetch(info.sha256(), peers);
            }
            return;
        }
        try (dev.troupe.engine.gguf.GgufFile f = dev.troupe.engine.gguf.GgufFile.open(file)) {
            String template = f.has("tokenizer.chat_template") ? f.getString("tokenizer.chat_template") : null;
            dev.troupe.engine.model.LlamaConfig c = dev.troupe.engine.model.LlamaConfig.from(f);
            splits(info.version(), file, f, c);
            unreadable.remove(info.version());
            Tokenizer tokenizer = Tokenizer.fromGguf(f);
            ChatTemplate chat = ChatTemplate.forModel(template, tokenizer);
            cards.put(info.version(), new ServedModel(model, info.version(), Tokenizer.withEndOfGeneration(tokenizer, chat.endOfTurnTokens()),
                    c.contextLength(), chat,
                    new dev.troupe.sharding.VersionReplicas(model, info.version(), sharding, replicaRouter, () -> {
                        ModelRegistry.Deployment d = desired.deployments().get(info.version());
                        return d == null ? null : d.continuation();
                    }),
                    info.registeredAt().getEpochSecond(), null));
        } catch (Exception e) {
            unreadable.add(info.version());
            log.warn("model '{}': version {} cannot be routed by this node: its file {} cannot be read here: {}", model,
                    info.version(), file, e.getMessage());
        }
    }

    /**
     * Serves the registry's split over the versions with a ready replica anywhere in the cluster; keeps the
     * old table while none of them has one.
     */
    private void republish() {
        Map<String, ServedModel> ready = new TreeMap<>();
        for (ServedModel card : cards.values()) {
            if (isDeployed(desired, card.version()) && card.replicas().any()) {
                ready.put(card.version(), card);
                CompletableFuture<Void> f = routable.get(card.version());
                if (f != null) f.complete(null);
            }
        }
        if (!router.publish(desired.traffic(), ready)) {
            boolean stillReady = !router.versions().isEmpty();
            for (ServedModel m : router.versions()) stillReady &= ready.containsKey(m.version());
            if (!stillReady) router.clear();
        }
    }

    /**
     * Four times a second: the routing table follows the cluster's replicas, and placement hears what this
     * model wants (versions without traffic stop being wanted after keep-warm; placement then releases them).
     */
    private synchronized void tick() {
        if (closed) return;
        try {
            // In case a published change was lost: the registry's state, read again every 5 s.
            if (++ticks % 20 == 0) state().thenAccept(this::follow);
            // Versions whose file came later (fetched from a peer) get their card now.
            if (ticks % 4 == 0) {
                for (ModelRegistry.VersionInfo v : desired.versions().values()) {
                    if (isDeployed(desired, v.version()) && !cards.containsKey(v.version()) && !unreadable.contains(v.version())) card(v);
                }
            }
            // A replica whose step loop stopped by itself (its tensor-parallel group lost a slice) is closed;
            // it loads again soon while placement keeps it here.
            if (worker) {
                for (Slot slot : slots.values()) {
                    if (slot.phase == Phase.READY && slot.loaded.loop().exited()) {
                        LoadedVersion lost = slot.loaded;
                        slot.loaded = null;
                        slot.ready = new CompletableFuture<>();
                        slot.set(Phase.FAILED, "its step loop stopped: its tensor-parallel group lost a slice");
                        slot.since = Instant.now().minus(LOAD_RETRY).plusSeconds(2);
                        log.warn("model '{}': version {} lost its group; loading it again", model, slot.version);
                        loader.execute(() -> closeQuietly(lost));
                    }
                }
                followers.tick();
            }
            // A version placed here that failed to load is tried again after a while: the cause may have passed.
            if (worker && ticks % 4 == 0) {
                Instant retryBefore = Instant.now().minus(LOAD_RETRY);
                for (Slot slot : slots.values()) {
                    if (slot.phase == Phase.FAILED && slot.since.isBefore(retryBefore) && assignedHere.containsKey(slot.version)
                            && isDeployed(desired, slot.version)) {
                        startLoad(slot.version);
                    }
                }
            }
            republish();
            long now = System.nanoTime();
            for (String v : router.effectiveWeights().keySet()) lastWanted.put(v, now);
            sendDemand(false);
        } catch (RuntimeException e) {
            log.warn("deployment tick failed", e);
        }
    }

    private void startLoad(String version) {
        ModelRegistry.VersionInfo info = desired.versions().get(version);
        Slot slot = slots.computeIfAbsent(version, Slot::new);
        if (slot.ready.isDone()) slot.ready = new CompletableFuture<>();
        slot.set(Phase.LOADING, "loading " + info.path());
        CompletableFuture<LoadedVersion> ready = slot.ready;
        PlacementPlanner.Assignment assignment = assignedHere.get(version);
        slot.assignment = assignment;
        log.info("model '{}': loading {} from {} on slice {}{}", model, version, info.path(), assignment.slice(),
                assignment.followers().isEmpty() ? "" : " leading a group with " + assignment.followers());
        loader.execute(() -> {
            long t0 = System.nanoTime();
            LoadedVersion loaded;
            try {
                loaded = load(info, assignment);
            } catch (Exception | Error e) {
                String why = e.getMessage() != null ? e.getMessage() : e.toString();
                log.warn("model '{}': version {} failed to load: {}", model, version, why);
                synchronized (this) {
                    slot.set(Phase.FAILED, why);
                    CompletableFuture<Void> r = routable.get(version);
                    if (r != null && !r.isDone()) r.completeExceptionally(e);
                }
                ready.completeExceptionally(e);
                return;
            }
            boolean keep;
            synchronized (this) {
                keep = !closed && isDeployed(desired, version) && assignment.equals(assignedHere.get(version));
                if (keep) {
                    slot.loaded = loaded;
                    slot.set(Phase.READY, "loaded in " + (System.nanoTime() - t0) / 1_000_000 + " ms");
                    republish();
                } else {
                    slot.set(Phase.COLD, "no longer deployed or placed here when its load finished");
                }
            }
            if (!keep) {
                closeQuietly(loaded);
                ready.completeExceptionally(new IllegalStateException("version '" + version + "' is no longer deployed"));
                return;
            }
            log.info("model '{}': version {} ready ({})", model, version, slot.detail);
            ready.complete(loaded);
        });
    }

    private void startUnload(Slot slot, String why) {
        LoadedVersion v = slot.loaded;
        slot.set(Phase.UNLOADING, why);
        log.info("model '{}': unloading {} ({})", model, slot.version, why);
        loader.execute(() -> {
            try {
                v.loop().drain(settings.drainGrace()).get(settings.drainGrace().toMillis() + 5000, TimeUnit.MILLISECONDS);
            } catch (Exception e) {
                log.warn("model '{}': draining {} did not finish cleanly: {}", model, slot.version, e.toString());
            }
            closeQuietly(v);
            synchronized (this) {
                slot.loaded = null;
                slot.ready = new CompletableFuture<>();
                slot.set(Phase.COLD, why);
                if (!closed) reconcile();   // placed again elsewhere on this node: load there now
            }
        });
    }

    // ------------------------------------------------------------------ loading one version

    /** The version's file on this node, checked against its registered sha256. */
    private Path verifiedFile(ModelRegistry.VersionInfo info) throws Exception {
        Path path = fileOrFetch(info);
        if (!Files.isRegularFile(path)) throw new java.io.IOException("model file not found: " + path);
        String sha = Sha256.of(path);
        if (!sha.equals(info.sha256())) {
            throw new java.io.IOException("refusing to load " + path + ": its sha256 is " + sha + " but version "
                    + info.version() + " was registered with " + info.sha256());
        }
        weights.add(sha, path);
        return path;
    }

    /**
     * Loads a version on a slice of this node once the slice granted it bytes (its file and KV pool, or its
     * share of them when split). A split replica's engine is the leader slice of its group: it connects to
     * the followers (loading on their own nodes) before it is warmed up and serves.
     */
    private LoadedVersion load(ModelRegistry.VersionInfo info, PlacementPlanner.Assignment assignment) throws Exception {
        Path path = verifiedFile(info);
        String slice = assignment.slice();
        String replicaName = ReplicaSharding.replicaName(model, info.version());
        Long bytes;
        synchronized (this) {
            Map<Integer, Long> b = splitBytes.get(info.version());
            bytes = b == null ? null : b.get(assignment.slices());
        }
        GpuSlice.Granted granted = reserve(slice, replicaName, bytes != null ? bytes : Files.size(path));
        LlamaModel engine;
        dev.troupe.engine.tp.AeronTensorExchange exchange = null;
        try {
            EngineOptions options = settings.engine().withThreads(granted.threads());
            if (assignment.slices() == 1) {
                engine = LlamaModel.load(path, options);
            } else {
                exchange = groups.exchange(replicaName, assignment, 0, path, options);
                engine = LlamaModel.loadSlice(path, options, 0, assignment.slices(), exchange);
                if (!exchange.awaitConnected(groups.joinTimeout().toNanos())) {
                    engine.close();
                    throw new IllegalStateException("the group's slices " + assignment.followers() + " did not all connect within "
                            + groups.joinTimeout().toSeconds() + " s");
                }
                log.info("model '{}': {} leads a group of {} slices ({} KiB of the weights here)", model, info.version(), assignment.slices(),
                        engine.weightBytes() >> 10);
            }
        } catch (Exception | Error e) {
            if (exchange != null) exchange.close();
            slices.release(slice, replicaName);
            throw e;
        }
        StepLoop loop = null;
        try {
            if (!settings.warmUp().isZero()) {
                log.info("model '{}': warming up {} for {}", model, info.version(), settings.warmUp());
                engine.warmUp(settings.warmUp());
            }
            Tokenizer tokenizer = dev.troupe.node.openai.ChatTemplate.modelTokenizer(engine.file());
            loop = new StepLoop(engine, tokenizer, settings.loop());
            loop.start();
            LocalReplicaClient replica = sharding.registerLocal(model, info.version(), loop);
            Replica.ProbeReply probe = replica.probe(Duration.ofSeconds(10)).toCompletableFuture().get(15, TimeUnit.SECONDS);
            if (probe.heartbeatAgeMillis() > settings.maxHeartbeatAge().toMillis()) {
                throw new IllegalStateException("the step loop of " + info.version() + " is not running (heartbeat "
                        + probe.heartbeatAgeMillis() + " ms old)");
            }
            return new LoadedVersion(info.version(), engine, loop, replica, slice, exchange);
        } catch (Exception | Error e) {
            if (loop != null) loop.close();
            sharding.unregisterLocal(model, info.version());
            engine.close();
            if (exchange != null) exchange.close();
            slices.release(slice, replicaName);
            throw e;
        }
    }

    /**
     * The slice's memory for a replica. A slice may still hold a replica that placement already moved away
     * (draining, then unloading): a refusal is asked again until the drain grace (plus a margin) has passed,
     * then the load fails with the slice's numbers. An unanswered ask is asked again too: after this node
     * restarted at the same address, its slices' shard comes back to it only once the coordinator has
     * forgotten the old incarnation (a reservation asked twice holds its bytes once).
     */
    private GpuSlice.Granted reserve(String slice, String replica, long bytes) throws Exception {
        long deadline = System.nanoTime() + settings.drainGrace().toNanos() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            GpuSlice.ReserveReply reply;
            try {
                reply = slices.reserve(slice, replica, bytes).toCompletableFuture().get(15, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                if (System.nanoTime() > deadline || closed) {
                    throw new IllegalStateException("slice " + slice + " did not answer a reservation for " + replica, e);
                }
                log.info("model '{}': slice {} did not answer yet; asking again", model, slice);
                continue;
            }
            if (reply instanceof GpuSlice.Granted g) return g;
            GpuSlice.Refused refused = (GpuSlice.Refused) reply;
            if (System.nanoTime() > deadline || closed) throw new IllegalStateException(refused.reason());
            Thread.sleep(250);
        }
    }

    private void closeQuietly(LoadedVersion v) {
        try {
            sharding.unregisterLocal(model, v.version());
            v.loop().close();
            v.engine().close();
            if (v.exchange() != null) v.exchange().close();
            slices.release(v.slice(), ReplicaSharding.replicaName(model, v.version()));
        } catch (Exception e) {
            log.warn("model '{}': closing {} failed", model, v.version(), e);
        }
    }
}
