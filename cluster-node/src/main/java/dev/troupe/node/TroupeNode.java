package dev.troupe.node;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import dev.troupe.actors.registry.JournalConfig;
import dev.troupe.actors.registry.ModelRegistry;
import dev.troupe.node.cluster.ClusterSettings;
import dev.troupe.node.cluster.RoutingSettings;
import dev.troupe.node.cluster.WorkerSettings;
import dev.troupe.node.deploy.CanaryMonitor;
import dev.troupe.node.deploy.DeploymentSettings;
import dev.troupe.node.deploy.ModelCatalog;
import dev.troupe.node.deploy.ModelDeployments;
import dev.troupe.node.deploy.Sha256;
import dev.troupe.node.deploy.TensorGroups;
import dev.troupe.node.deploy.WeightsStore;
import dev.troupe.node.http.AdminApi;
import dev.troupe.node.http.ClusterAdminApi;
import dev.troupe.node.http.Gateway;
import dev.troupe.node.http.HttpApi;
import dev.troupe.node.http.HttpSettings;
import dev.troupe.node.http.NodeMetrics;
import dev.troupe.node.http.WeightsApi;
import dev.troupe.scheduler.ReplicaRouter;
import dev.troupe.sharding.ModelRegistrySharding;
import dev.troupe.sharding.PlacementSingleton;
import dev.troupe.sharding.ReplicaSharding;
import dev.troupe.sharding.SliceSharding;
import dev.troupe.sharding.TopicFeed;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.persistence.jdbc.testkit.javadsl.SchemaUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A Troupe node built inside an actor system someone else created: {@code bin/troupe serve} (which creates
 * its own system and joins its cluster) and the embedded API (the host's system and cluster) both start
 * exactly this. It follows every model of the cluster's registry, runs the replicas placement puts on this
 * member (role {@code worker}), and routes requests through one {@link Gateway}; the HTTP server is an
 * optional front end on top ({@link #bindHttp}). It stops with the system's coordinated shutdown: new
 * requests are refused, in-flight ones get {@code troupe.shutdown.grace} to finish, then the step loops stop.
 */
public final class TroupeNode {
    private static final Logger log = LoggerFactory.getLogger(TroupeNode.class);
    /** How long a finished stream's last bytes get to leave before the connections close (see bindHttp). */
    private static final Duration RESPONSE_FLUSH_SETTLE = Duration.ofMillis(500);

    private final ActorSystem<?> system;
    private final Config config;
    private final boolean gatewayRole;
    private final TenantSetup tenants;
    private final ModelRegistrySharding registries;
    private final ReplicaSharding sharding;
    private final PlacementSingleton placement;
    private final WeightsStore weights;
    private final TensorGroups groups;
    private final dev.troupe.node.deploy.ModelPaths modelPaths;
    private final ModelCatalog models;
    private final Gateway gateway;
    private final String modelName;
    private final String live;
    private final AtomicBoolean closed = new AtomicBoolean();

    private TroupeNode(ActorSystem<?> system, Config config, boolean gatewayRole, TenantSetup tenants, ModelRegistrySharding registries,
                       ReplicaSharding sharding, PlacementSingleton placement, WeightsStore weights, TensorGroups groups,
                       dev.troupe.node.deploy.ModelPaths modelPaths, ModelCatalog models, Gateway gateway, String modelName, String live) {
        this.system = system;
        this.config = config;
        this.gatewayRole = gatewayRole;
        this.tenants = tenants;
        this.registries = registries;
        this.sharding = sharding;
        this.placement = placement;
        this.weights = weights;
        this.groups = groups;
        this.modelPaths = modelPaths;
        this.models = models;
        this.gateway = gateway;
        this.modelName = modelName;
        this.live = live;
    }

    /**
     * What an actor system needs in its config before Troupe can start in it, over {@code config} (which has
     * Troupe's settings under {@code troupe}): the journal {@code troupe.journal} names (creating
     * {@code troupe.data-dir} for an H2 file), coordinated-shutdown phases long enough for the drain, and
     * Troupe's roles ({@code troupe.cluster.roles}) when {@code pekko.cluster.roles} names none of them.
     */
    public static Config systemConfig(Config config) throws java.io.IOException {
        Duration grace = config.getDuration("troupe.shutdown.grace");
        Config c = ConfigFactory.parseString(
                "pekko.coordinated-shutdown.phases.service-requests-done.timeout = " + (grace.toMillis() + 5000) + "ms\n"
                        + "pekko.coordinated-shutdown.phases.service-unbind.timeout = 10s\n").withFallback(config);
        Path dataDir = Path.of(c.getString("troupe.data-dir")).toAbsolutePath();
        Files.createDirectories(dataDir);
        c = JournalConfig.fromSettings(c, dataDir).withFallback(c);
        List<String> roles = c.hasPath("pekko.cluster.roles") ? c.getStringList("pekko.cluster.roles") : List.of();
        if (!roles.contains(ClusterSettings.GATEWAY) && !roles.contains(ClusterSettings.WORKER)) {
            List<String> all = new ArrayList<>(roles);
            all.addAll(ClusterSettings.from(c).roles());
            c = c.withValue("pekko.cluster.roles", ConfigValueFactory.fromIterable(all));
        }
        return c.resolve();
    }

    /**
     * Builds the node in {@code system} (a cluster actor system whose config went through
     * {@link #systemConfig}), once this member is Up: the host joins its cluster as it always does, and
     * this waits up to {@code troupe.cluster.join-timeout} for it. This member's roles say what it does:
     * {@code worker} runs replicas, {@code gateway} routes requests (and serves the admin API over HTTP).
     * With a model file (may be null) it records the file as v1 of {@code name} on the model's first start
     * and waits until the model's live version is ready somewhere in the cluster.
     */
    public static TroupeNode start(ActorSystem<?> system, Config config, Path modelFile, String name) throws Exception {
        awaitUp(system, config.getDuration("troupe.cluster.join-timeout"));
        Set<String> roles = Cluster.get(system).selfMember().getRoles();
        boolean gatewayRole = roles.contains(ClusterSettings.GATEWAY);
        boolean workerRole = roles.contains(ClusterSettings.WORKER);
        if (!gatewayRole && !workerRole) {
            throw new IllegalStateException("this member has neither Troupe role (gateway, worker) in pekko.cluster.roles " + roles
                    + ": add one or both (TroupeNode.systemConfig adds troupe.cluster.roles when none is set)");
        }
        Path dataDir = Path.of(config.getString("troupe.data-dir")).toAbsolutePath();
        ModelCatalog catalog = null;
        WeightsStore weights = null;
        TensorGroups tensorGroups = null;
        dev.troupe.node.tracing.Tracer tracer = null;
        try {
            SchemaUtils.createIfNotExists(system).toCompletableFuture().get(60, TimeUnit.SECONDS);
            // Tenants first: a public address without tenants refuses to start before any model loads.
            TenantSetup tenants = TenantSetup.start(system, config, config.getString("troupe.http.host"));
            // A sharded entity, not an actor per node: one writer of each model's registry in the whole cluster.
            ModelRegistrySharding registries = new ModelRegistrySharding(system, 50);
            String sha = modelFile == null ? null : Sha256.of(modelFile);
            if (modelFile != null) registerFirstVersion(system, registries.registry(name), name, modelFile, sha);
            RoutingSettings routing = RoutingSettings.from(config);
            WorkerSettings worker = WorkerSettings.from(config);
            SliceSharding slices = new SliceSharding(system, workerRole ? worker.slices() : List.of());
            ReplicaSharding sharding = new ReplicaSharding(system, routing.announceInterval(), routing.announceExpiry(), slices::announced,
                    routing.liveness(), routing.failover());
            tracer = dev.troupe.node.tracing.Tracer.from(config);
            // Requests from other nodes' gateways get a span of the replica's, child of the gateway's (before any entity starts).
            sharding.observeRemoteRequests(new dev.troupe.node.tracing.ReplicaSpans(tracer, sharding.selfNode()));
            PlacementSingleton placement = new PlacementSingleton(system, sharding.directory(), worker.placementTick(), worker.placementSettle());
            weights = new WeightsStore(dataDir.resolve("models"), config.getString("troupe.admin.token"),
                    modelFile == null ? Map.of() : Map.of(sha, modelFile.toAbsolutePath()));
            WeightsStore store = weights;
            DeploymentSettings deploymentSettings = DeploymentSettings.from(config);
            // Tensor-parallel slices of this member receive UDP at its own address (announced to the others).
            String host = Cluster.get(system).selfMember().address().getHost().orElse(ClusterSettings.from(config).host());
            int tpPort = config.getInt("troupe.tensor-parallel.port");
            TensorGroups groups = new TensorGroups(sharding.selfNode(), host + ":" + (tpPort > 0 ? tpPort : TensorGroups.freeUdpPort(host)),
                    Path.of(ClusterSettings.from(config).aeronDir() + "-tp"), sharding.directory()::tensorEndpoint,
                    config.getDuration("troupe.tensor-parallel.peer-timeout"), config.getDuration("troupe.tensor-parallel.join-timeout"));
            tensorGroups = groups;
            sharding.announceTensorEndpoint(groups.endpoint());
            CanaryMonitor.Slo slo = CanaryMonitor.Slo.from(config);
            boolean sharedPaths = config.getBoolean("troupe.weights.shared-paths");
            // Each model the node hears of gets its deployments (following its registry and placement) and a canary monitor.
            catalog = new ModelCatalog(system, model -> {
                ModelDeployments d = new ModelDeployments(system, model, registries.registry(model), sharding, deploymentSettings,
                        workerRole, store, sharedPaths, new ReplicaRouter(routing.router()), slices, groups);
                d.demandTo(placement.placement()::tell);
                d.start();
                return new ModelCatalog.Entry(d, new CanaryMonitor(d, slo).start());
            });
            ModelCatalog models = catalog;
            placement.follow(models::followPlacement);
            system.systemActorOf(TopicFeed.create(registries.changes(), c -> models.followChange(c.model(), c.state())),
                    "registry-feed", Props.empty());
            List<String> known = models.discover().toCompletableFuture().get(60, TimeUnit.SECONDS);
            log.info("models in the cluster's registry: {}", known.isEmpty() ? "none yet" : String.join(", ", known));
            String live = null;
            if (modelFile != null) {
                ModelDeployments served = models.follow(name).deployments();
                live = served.state().toCompletableFuture().get(60, TimeUnit.SECONDS).live();
                try {
                    // A replica of the live version ready somewhere (this node's own, if placement puts it here, fails fast if it cannot load).
                    served.whenRoutable(live).get(config.getDuration("troupe.deployments.load-timeout").toMillis(), TimeUnit.MILLISECONDS);
                } catch (java.util.concurrent.ExecutionException e) {
                    throw new IllegalStateException("cannot load the live version " + live + " of model '" + name + "': "
                            + e.getCause().getMessage(), e.getCause());
                }
            }
            NodeMetrics metrics = new NodeMetrics();
            metrics.watchFailover(sharding.failover().counters());
            metrics.watch(() -> models.all().stream().flatMap(m -> m.deployments().loaded().stream()
                    .map(v -> new NodeMetrics.LoopStats(m.name(), v.version(), v.loop().stats(), v.loop().tenantUsage(),
                            v.loop().histograms()))).toList());
            metrics.watchSlices(slices::announced);
            metrics.watchCluster(sharding.selfNode(), roles(Cluster.get(system).selfMember()), () -> members(system));
            metrics.watchTracing(tracer::exported, tracer::dropped);
            Gateway gateway = new Gateway(system, models, HttpSettings.from(config), metrics, tenants.gate(), tracer);
            TroupeNode node = new TroupeNode(system, config, gatewayRole, tenants, registries, sharding, placement, store, groups,
                    ServeCommand.modelPaths(config, dataDir, modelFile), models, gateway, name, live);
            node.stopWithTheSystem();
            return node;
        } catch (Exception | Error e) {
            if (catalog != null) catalog.close();
            if (tensorGroups != null) tensorGroups.close();
            if (weights != null) weights.close();
            if (tracer != null) tracer.close();
            throw e;
        }
    }

    /** A member's roles as this node names them (Pekko's data-centre role left out), comma-separated. */
    private static String roles(org.apache.pekko.cluster.Member m) {
        return String.join(",", new java.util.TreeSet<>(m.getRoles()).stream().filter(r -> !r.startsWith("dc-")).toList());
    }

    /** The cluster's members as this node sees them: status is Pekko's (lower case), or unreachable. */
    private static List<NodeMetrics.Member> members(ActorSystem<?> system) {
        Cluster cluster = Cluster.get(system);
        Set<org.apache.pekko.cluster.Member> unreachable = new java.util.HashSet<>();
        cluster.state().getUnreachable().forEach(unreachable::add);
        List<NodeMetrics.Member> out = new ArrayList<>();
        for (org.apache.pekko.cluster.Member m : cluster.state().getMembers()) {
            out.add(new NodeMetrics.Member(dev.troupe.sharding.PinnedToNode.shardOf(m.address()), roles(m),
                    unreachable.contains(m) ? "unreachable" : m.status().toString().toLowerCase(java.util.Locale.ROOT)));
        }
        return out;
    }

    /** The drain and the stop, as tasks of the system's coordinated shutdown (whoever runs it: SIGTERM, the host). */
    private void stopWithTheSystem() {
        Duration grace = config.getDuration("troupe.shutdown.grace");
        CoordinatedShutdown cs = CoordinatedShutdown.get(system);
        cs.addTask(CoordinatedShutdown.PhaseServiceUnbind(), "troupe-stop-accepting", () -> {
            log.info("shutting down: no new requests; in-flight ones have {} to finish", grace);
            gateway.stopAccepting();
            return CompletableFuture.completedFuture(Done.getInstance());
        });
        cs.addTask(CoordinatedShutdown.PhaseServiceRequestsDone(), "troupe-drain", () ->
                // Requests accepted before the gateway stopped accepting reach their replica before it drains.
                waitFor(() -> gateway.starting() == 0, Duration.ofSeconds(5))
                        .thenCompose(x -> models.drain(grace))
                        .thenCompose(x -> waitFor(() -> gateway.inFlight() == 0, Duration.ofSeconds(5)))
                        .thenApply(x -> Done.getInstance()));
        // The step loops (drained above) and the weights stop as the system terminates: stopping them while
        // sharding still ran sent their entities messages that changed nothing but the dead-letter log.
        system.getWhenTerminated().thenRun(this::close);
    }

    private void close() {
        if (!closed.compareAndSet(false, true)) return;
        models.close();
        groups.close();
        weights.close();
        gateway.tracer().close();
        log.info("stopped");
    }

    /**
     * Serves the HTTP API (OpenAI endpoints, health, metrics; on a gateway also the admin APIs and the web console) at host:port
     * (0 = any free port), unbound by the coordinated shutdown after the last response went out.
     */
    public ServerBinding bindHttp(String host, int port) throws Exception {
        String token = config.getString("troupe.admin.token");
        dev.troupe.node.http.HttpSettings http = gateway.settings().withAddress(host, port);
        HttpApi api = new HttpApi(gateway, http, new dev.troupe.node.http.MetricsAccess(config.getString("troupe.metrics.scrape-token"), token));
        AdminApi admin = new AdminApi(system, models, token, modelPaths);
        ClusterAdminApi clusterAdmin = new ClusterAdminApi(system, sharding.directory(), placement::latest, token);
        WeightsApi weightsApi = new WeightsApi(weights, token);
        dev.troupe.node.http.ConnectionGuard connections = new dev.troupe.node.http.ConnectionGuard(http);
        gateway.metrics().watchConnections(connections::open, connections::shed);
        ServerBinding binding = connections.bind(system, api.handler(gatewayRole
                        ? api.concat(weightsApi.route(), tenants.adminApi().route(), clusterAdmin.route(), admin.route(),
                                new dev.troupe.node.http.ConsoleRoute().route(), api.route(true))
                        : api.concat(weightsApi.route(), api.route(false))))
                .toCompletableFuture().get(30, TimeUnit.SECONDS);
        int bound = binding.localAddress().getPort();
        if (modelName != null) {
            log.info("serving model '{}' version {} at http://{}:{}/v1", modelName, live, host, bound);
        } else {
            log.info("serving the cluster's models at http://{}:{}/v1", host, bound);
        }
        // Peers fetch the model files this node holds through its API, at the address they reach it by (the
        // member's own: troupe.cluster.host for serve, the host's remoting address when embedded).
        String reachable = Cluster.get(system).selfMember().address().getHost().orElse(ClusterSettings.from(config).host());
        sharding.announceFiles("http://" + reachable + ":" + bound, weights::shas);
        CoordinatedShutdown cs = CoordinatedShutdown.get(system);
        cs.addTask(CoordinatedShutdown.PhaseServiceUnbind(), "troupe-http-unbind", () -> binding.unbind().thenApply(x -> Done.getInstance()));
        // A stream counts as done when its last chunk left our stream, which can be before the server
        // has written it out: closing the connections at once reset some finished streams under load
        // (ServeCommandIT, 1 run in 3 on a busy machine). A short settle lets those writes complete.
        cs.addTask(CoordinatedShutdown.PhaseServiceStop(), "troupe-close-connections", () ->
                waitFor(() -> false, RESPONSE_FLUSH_SETTLE)
                        .thenCompose(x -> binding.terminate(Duration.ofSeconds(3)))
                        .thenApply(x -> Done.getInstance()));
        return binding;
    }

    public ActorSystem<?> system() { return system; }

    public Config config() { return config; }

    /** The request path every front end shares. */
    public Gateway gateway() { return gateway; }

    /** Every model this node follows. */
    public ModelCatalog models() { return models; }

    /** The cluster's model registries (one sharded entity per model). */
    public ModelRegistrySharding registries() { return registries; }

    public TenantSetup tenants() { return tenants; }

    public boolean isGateway() { return gatewayRole; }

    /** The model the node was started with; null for one that serves the cluster's models only. */
    public String modelName() { return modelName; }

    /** Waits until this member is Up (its system joins the cluster by itself: seeds, or the host's own join). */
    private static void awaitUp(ActorSystem<?> system, Duration timeout) throws InterruptedException {
        Cluster cluster = Cluster.get(system);
        long until = System.nanoTime() + timeout.toNanos();
        while (cluster.selfMember().status() != MemberStatus.up()) {
            if (System.nanoTime() > until) {
                throw new IllegalStateException("this member did not become Up in its cluster within " + timeout
                        + " (troupe.cluster.join-timeout): join the cluster (seed nodes, or Cluster.manager() Join) before or while Troupe starts");
            }
            Thread.sleep(20);
        }
    }

    /**
     * Records the served file as version v1 of the model and, on the model's first start, deploys and
     * promotes it, so the quick start needs no admin call. Restarting with the same file adds no events and
     * leaves later rollouts and rollbacks as they are; a different file under the same name is refused.
     */
    private static void registerFirstVersion(ActorSystem<?> system, RecipientRef<ModelRegistry.Command> registry, String name, Path file,
                                             String sha) throws Exception {
        ServeCommand.ModelFacts facts = ServeCommand.modelFacts(file);
        ModelRegistry.Reply r = ask(system, registry, to -> new ModelRegistry.RegisterVersion("serve", "v1", file.toAbsolutePath().toString(),
                sha, facts.architecture(), facts.parameters(), to));
        ModelRegistry.State state;
        if (r instanceof ModelRegistry.Reply.Rejected rejected) {
            // Another node registered the same file from its own path: this node serves its copy of it.
            state = currentState(system, registry);
            ModelRegistry.VersionInfo v1 = state.versions().get("v1");
            if (v1 == null || !v1.sha256().equals(sha)) {
                throw new IllegalStateException("cannot register " + file + " as v1 of model '" + name + "': " + rejected.message()
                        + " (serve another name with --name, or use another --data-dir)");
            }
        } else {
            state = ((ModelRegistry.Reply.Accepted) r).state();
        }
        if (state.live() == null) {
            r = ask(system, registry, to -> new ModelRegistry.Deploy("serve", "v1", 1, 0, to));
            if (r instanceof ModelRegistry.Reply.Rejected rejected) throw new IllegalStateException("cannot deploy v1: " + rejected.message());
            r = ask(system, registry, to -> new ModelRegistry.Promote("serve", "v1", to));
            // Nodes started together may both promote v1: one of them wins, which is all either wants.
            if (r instanceof ModelRegistry.Reply.Rejected rejected && currentState(system, registry).live() == null) {
                throw new IllegalStateException("cannot promote v1: " + rejected.message());
            }
            log.info("model '{}': v1 ({}, sha256 {}) registered and live", name, file.getFileName(), sha.substring(0, 12));
        }
    }

    private static ModelRegistry.State currentState(ActorSystem<?> system, RecipientRef<ModelRegistry.Command> registry) throws Exception {
        return ((ModelRegistry.Reply.Current) ask(system, registry, ModelRegistry.GetState::new)).state();
    }

    private static ModelRegistry.Reply ask(ActorSystem<?> system, RecipientRef<ModelRegistry.Command> registry,
                                           org.apache.pekko.japi.function.Function<ActorRef<ModelRegistry.Reply>, ModelRegistry.Command> message)
            throws Exception {
        return AskPattern.ask(registry, message, Duration.ofSeconds(30), system.scheduler()).toCompletableFuture().get(40, TimeUnit.SECONDS);
    }

    /** Completes when the condition holds, or after the limit. */
    static CompletableFuture<Void> waitFor(java.util.function.BooleanSupplier condition, Duration limit) {
        return CompletableFuture.runAsync(() -> {
            long until = System.nanoTime() + limit.toNanos();
            while (!condition.getAsBoolean() && System.nanoTime() < until) {
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        });
    }
}
