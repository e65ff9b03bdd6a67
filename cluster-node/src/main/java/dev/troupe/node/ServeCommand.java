package dev.troupe.node;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.troupe.actors.replica.StepLoop;
import dev.troupe.engine.LlamaModel;
import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.model.LlamaConfig;
import dev.troupe.node.cluster.ClusterSettings;
import dev.troupe.node.cluster.RoutingSettings;
import dev.troupe.node.cluster.WorkerSettings;
import dev.troupe.scheduler.ReplicaRouter;
import dev.troupe.node.deploy.CanaryMonitor;
import dev.troupe.node.deploy.DeploymentSettings;
import dev.troupe.node.deploy.LoadedVersion;
import dev.troupe.node.deploy.ModelCatalog;
import dev.troupe.node.deploy.ModelDeployments;
import dev.troupe.node.deploy.Sha256;
import dev.troupe.node.deploy.TensorGroups;
import dev.troupe.node.deploy.WeightsStore;
import dev.troupe.node.http.WeightsApi;
import dev.troupe.node.http.AdminApi;
import dev.troupe.node.http.ClusterAdminApi;
import dev.troupe.node.http.ConnectionGuard;
import dev.troupe.node.http.HttpApi;
import dev.troupe.node.http.HttpSettings;
import dev.troupe.node.http.NodeMetrics;
import dev.troupe.node.http.ServedModel;
import dev.troupe.sharding.ModelRegistrySharding;
import dev.troupe.sharding.TopicFeed;
import dev.troupe.sharding.PlacementSingleton;
import dev.troupe.sharding.ReplicaSharding;
import dev.troupe.sharding.SliceSharding;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import dev.troupe.actors.registry.JournalConfig;
import dev.troupe.actors.registry.ModelRegistry;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.persistence.jdbc.testkit.javadsl.SchemaUtils;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * {@code bin/troupe serve}: a single node, a one-member Pekko cluster whose Replica entity (Cluster
 * Sharding) owns the model's step loop, behind the OpenAI-compatible HTTP API. SIGTERM drains: stop
 * accepting, let in-flight requests finish within the grace period, end the rest with an error.
 */
public final class ServeCommand {
    private static final Logger log = LoggerFactory.getLogger(ServeCommand.class);

    static final String USAGE = String.join("\n",
            "usage: bin/troupe serve [--model FILE [--name NAME]] [options]",
            "",
            "Serves models over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions,",
            "/v1/models, /v1/embeddings), with /health/live, /health/ready and /metrics: the --model file (registered",
            "and made live on its first start) and every other model registered in the cluster (admin API,",
            "docs/registry.md). Without --seed the node forms its own cluster; with seeds it joins theirs (docs/deploy.md).",
            "  --model FILE      GGUF model file (llama or qwen2; see `bin/troupe inspect`); optional",
            "  --name NAME       the model's name in the API (default: the file name without .gguf)",
            "  --host HOST       address to listen on (default 127.0.0.1; env TROUPE_HOST)",
            "                    (another address needs a tenant first, or troupe.auth.allow-anonymous = on: docs/tenants.md)",
            "  --port PORT       HTTP port (default 8080; env TROUPE_PORT; 0 = any free port)",
            "  --threads T       engine CPU threads (default: all cores; env TROUPE_THREADS)",
            "  --data-dir DIR    where the node keeps its journal (default ./data; env TROUPE_DATA_DIR)",
            "  --cluster-port C  this node's cluster (Artery) port (default 0 = any; env TROUPE_CLUSTER_PORT)",
            "  --cluster-host H  the address other nodes reach this node at (default 127.0.0.1; env TROUPE_CLUSTER_HOST)",
            "  --seed HOST:PORT  a cluster node to join (repeat for several; env TROUPE_SEEDS=h:p,h:p)",
            "  --roles R         gateway,worker (default both; env TROUPE_ROLES)",
            "  --journal J       h2 (a file under --data-dir, one node) or postgres (shared by a cluster; env TROUPE_JOURNAL)",
            "  --journal-url URL the PostgreSQL JDBC URL (env TROUPE_JOURNAL_URL)",
            "  --config FILE     HOCON file overriding the defaults (see config/src/main/resources/reference.conf)",
            "Precedence: flags, then --config, then TROUPE_* environment variables, then the defaults.",
            "");

    private static final Duration RESPONSE_FLUSH_SETTLE = Duration.ofMillis(500);

    private ServeCommand() {}

    /** A running node (for tests and the embedded API): stop() drains and shuts it down. */
    public static final class Node {
        final ActorSystem<Void> system;
        final ServerBinding binding;
        final HttpApi api;
        final ModelCatalog models;
        final String name;

        Node(ActorSystem<Void> system, ServerBinding binding, HttpApi api, ModelCatalog models, String name) {
            this.system = system;
            this.binding = binding;
            this.api = api;
            this.models = models;
            this.name = name;
        }

        public int port() { return binding.localAddress().getPort(); }

        /** The model the node was started with ({@code --model}); null for a node that serves the cluster's models only. */
        public String modelName() { return name; }

        /** Every model this node follows. */
        public ModelCatalog models() { return models; }

        /** The deployments of the model the node was started with. */
        public ModelDeployments deployments() {
            if (name == null) throw new IllegalStateException("this node was started without a model");
            return models.follow(name).deployments();
        }

        /** The loaded version that takes most of the traffic now. */
        public LoadedVersion serving() {
            ServedModel m = deployments().router().any();
            if (m == null) throw new IllegalStateException("no version of " + name + " is serving");
            for (LoadedVersion v : deployments().loaded()) if (v.version().equals(m.version())) return v;
            throw new IllegalStateException("version " + m.version() + " is not loaded");
        }

        public StepLoop stepLoop() { return serving().loop(); }

        public LlamaModel model() { return serving().engine(); }

        /** The registry's view of the served model (versions, deployments, live version, history). */
        public ModelRegistry.State registryState() {
            return deployments().state().toCompletableFuture().join();
        }

        /** The first step of a drain, on its own: new API requests get 503 from now on. */
        public void stopAccepting() {
            api.stopAccepting();
        }

        /** Runs the coordinated shutdown (the same as SIGTERM) and waits for it. */
        public void stop() {
            CoordinatedShutdown.get(system).runAll(CoordinatedShutdown.unknownReason()).toCompletableFuture().join();
            system.getWhenTerminated().toCompletableFuture().join();
        }

        public CompletableFuture<Void> whenTerminated() {
            return system.getWhenTerminated().toCompletableFuture().thenApply(d -> null);
        }
    }

    static int run(String[] argv, PrintStream out, PrintStream err) throws Exception {
        for (String a : argv) {
            if (a.equals("--help") || a.equals("-h")) {
                out.print(USAGE);
                return 0;
            }
        }
        Args args = new Args(argv, 1, Set.of("model", "name", "host", "port", "threads", "config", "data-dir", "cluster-port",
                "cluster-host", "seed", "roles", "journal", "journal-url"), Set.of());
        Path modelFile = args.has("model") ? Path.of(args.required("model")) : null;
        if (modelFile != null && !Files.isRegularFile(modelFile)) throw new Args.UsageException("model file not found: " + modelFile);
        if (modelFile == null && args.has("name")) throw new Args.UsageException("--name names the --model file's model: give --model too");
        Map<String, Object> flags = new HashMap<>();
        if (args.has("host")) flags.put("troupe.http.host", args.required("host"));
        if (args.has("port")) flags.put("troupe.http.port", args.integer("port", 8080));
        if (args.has("threads")) flags.put("troupe.engine.threads", args.integer("threads", 0));
        if (args.has("data-dir")) flags.put("troupe.data-dir", args.required("data-dir"));
        if (args.has("cluster-port")) flags.put("troupe.cluster.port", args.integer("cluster-port", 0));
        if (args.has("cluster-host")) flags.put("troupe.cluster.host", args.required("cluster-host"));
        if (args.has("seed")) flags.put("troupe.cluster.seeds", args.all("seed"));
        if (args.has("roles")) flags.put("troupe.cluster.roles", List.of(args.required("roles").split(",")));
        if (args.has("journal")) flags.put("troupe.journal.kind", args.required("journal"));
        if (args.has("journal-url")) flags.put("troupe.journal.postgres.url", args.required("journal-url"));
        Config fileConf = ConfigFactory.empty();
        if (args.has("config")) {
            Path f = Path.of(args.required("config"));
            if (!Files.isRegularFile(f)) throw new Args.UsageException("config file not found: " + f);
            fileConf = ConfigFactory.parseFile(f.toFile());
        }
        Config config = ConfigFactory.parseMap(flags).withFallback(fileConf).withFallback(nodeDefaults()).resolve();
        try {
            ClusterSettings.from(config);
            RoutingSettings.from(config);
            WorkerSettings.from(config);
        } catch (IllegalArgumentException e) {
            throw new Args.UsageException(e.getMessage());
        }
        String name = modelFile == null ? null : args.string("name", defaultName(modelFile));
        Node node = start(modelFile, name, config);
        out.flush();
        node.whenTerminated().join();
        return 0;
    }

    static String defaultName(Path file) {
        String f = file.getFileName().toString();
        return f.endsWith(".gguf") ? f.substring(0, f.length() - 5) : f;
    }

    /** The single-node profile over the reference defaults. */
    public static Config nodeDefaults() {
        return ConfigFactory.parseResources("single-node.conf").withFallback(ConfigFactory.load());
    }

    /**
     * Starts the actor system, follows every model of the cluster's registry, and with a model file (may be
     * null: the node then serves the registry's models only) records it as v1 of {@code name} (first start
     * only) and waits until its live version (v1 on a first start; whatever is live after rollouts and
     * rollbacks on a restart) is ready somewhere before serving over HTTP.
     */
    public static Node start(Path modelFile, String name, Config config) throws Exception {
        Duration grace = config.getDuration("troupe.shutdown.grace");
        config = ConfigFactory.parseString(
                "pekko.coordinated-shutdown.phases.service-requests-done.timeout = " + (grace.toMillis() + 5000) + "ms\n"
                        + "pekko.coordinated-shutdown.phases.service-unbind.timeout = 10s\n").withFallback(config);
        Path dataDir = Path.of(config.getString("troupe.data-dir")).toAbsolutePath();
        Files.createDirectories(dataDir);
        config = JournalConfig.fromSettings(config, dataDir).withFallback(config);
        ClusterSettings cluster = ClusterSettings.from(config);
        if (!cluster.formsOwnCluster() && !config.getString("troupe.journal.kind").equals("postgres")) {
            throw new IllegalStateException("a node that joins a cluster needs the cluster's shared journal (--journal postgres): "
                    + "each entity has one writer somewhere in the cluster, and an H2 file is one node's");
        }
        config = cluster.pekko().withFallback(config);
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), ClusterSettings.SYSTEM, config);
        ModelCatalog catalog = null;
        WeightsStore weights = null;
        TensorGroups tensorGroups = null;
        try {
            joinCluster(system, cluster);
            SchemaUtils.createIfNotExists(system).toCompletableFuture().get(60, TimeUnit.SECONDS);
            // Tenants first: a public address without tenants refuses to start before any model loads.
            TenantSetup tenants = TenantSetup.start(system, config, config.getString("troupe.http.host"));
            // A sharded entity, not an actor per node: one writer of each model's registry in the whole cluster.
            ModelRegistrySharding registries = new ModelRegistrySharding(system, 50);
            String sha = modelFile == null ? null : Sha256.of(modelFile);
            if (modelFile != null) registerFirstVersion(system, registries.registry(name), name, modelFile, sha);
            RoutingSettings routing = RoutingSettings.from(config);
            WorkerSettings worker = WorkerSettings.from(config);
            SliceSharding slices = new SliceSharding(system, cluster.isWorker() ? worker.slices() : List.of());
            ReplicaSharding sharding = new ReplicaSharding(system, routing.announceInterval(), routing.announceExpiry(), slices::announced,
                    routing.liveness(), routing.failover());
            PlacementSingleton placement = new PlacementSingleton(system, sharding.directory(), worker.placementTick(), worker.placementSettle());
            weights = new WeightsStore(dataDir.resolve("models"), config.getString("troupe.admin.token"),
                    modelFile == null ? Map.of() : Map.of(sha, modelFile.toAbsolutePath()));
            WeightsStore store = weights;
            DeploymentSettings deploymentSettings = DeploymentSettings.from(config);
            int tpPort = config.getInt("troupe.tensor-parallel.port");
            TensorGroups groups = new TensorGroups(sharding.selfNode(),
                    cluster.host() + ":" + (tpPort > 0 ? tpPort : TensorGroups.freeUdpPort(cluster.host())),
                    Path.of(cluster.aeronDir() + "-tp"), sharding.directory()::tensorEndpoint,
                    config.getDuration("troupe.tensor-parallel.peer-timeout"), config.getDuration("troupe.tensor-parallel.join-timeout"));
            tensorGroups = groups;
            sharding.announceTensorEndpoint(groups.endpoint());
            CanaryMonitor.Slo slo = CanaryMonitor.Slo.from(config);
            boolean sharedPaths = config.getBoolean("troupe.weights.shared-paths");
            // Each model the node hears of gets its deployments (following its registry and placement) and a canary monitor.
            catalog = new ModelCatalog(system, model -> {
                ModelDeployments d = new ModelDeployments(system, model, registries.registry(model), sharding, deploymentSettings,
                        cluster.isWorker(), store, sharedPaths, new ReplicaRouter(routing.router()), slices, groups);
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
                    .map(v -> new NodeMetrics.LoopStats(m.name(), v.version(), v.loop().stats(), v.loop().tenantUsage()))).toList());
            HttpSettings http = HttpSettings.from(config);
            HttpApi api = new HttpApi(system, models, http, metrics, tenants.gate(),
                    new dev.troupe.node.http.MetricsAccess(config.getString("troupe.metrics.scrape-token"), config.getString("troupe.admin.token")));
            AdminApi admin = new AdminApi(system, models, config.getString("troupe.admin.token"), modelPaths(config, dataDir, modelFile));
            ClusterAdminApi clusterAdmin = new ClusterAdminApi(system, sharding.directory(), placement::latest, config.getString("troupe.admin.token"));
            WeightsApi weightsApi = new WeightsApi(weights, config.getString("troupe.admin.token"));
            ConnectionGuard connections = new ConnectionGuard(http);
            metrics.watchConnections(connections::open, connections::shed);
            ServerBinding binding = connections.bind(system, api.handler(cluster.isGateway()
                            ? api.concat(weightsApi.route(), tenants.adminApi().route(), clusterAdmin.route(), admin.route(), api.route(true))
                            : api.concat(weightsApi.route(), api.route(false))))
                    .toCompletableFuture().get(30, TimeUnit.SECONDS);
            if (modelFile != null) {
                log.info("serving model '{}' version {} at http://{}:{}/v1", name, live, http.host(), binding.localAddress().getPort());
            } else {
                log.info("serving the cluster's models at http://{}:{}/v1", http.host(), binding.localAddress().getPort());
            }
            // Peers fetch the model files this node holds through its API, at the address they reach it by.
            sharding.announceFiles("http://" + cluster.host() + ":" + binding.localAddress().getPort(), weights::shas);

            CoordinatedShutdown cs = CoordinatedShutdown.get(system);
            cs.addTask(CoordinatedShutdown.PhaseServiceUnbind(), "troupe-stop-accepting", () -> {
                log.info("shutting down: no new requests; in-flight ones have {} to finish", grace);
                api.stopAccepting();
                return binding.unbind().thenApply(x -> Done.getInstance());
            });
            cs.addTask(CoordinatedShutdown.PhaseServiceRequestsDone(), "troupe-drain", () ->
                    // Requests accepted before the API stopped accepting reach their replica before it drains.
                    waitFor(() -> api.starting() == 0, Duration.ofSeconds(5))
                            .thenCompose(x -> models.drain(grace))
                            .thenCompose(x -> waitFor(() -> api.inFlight() == 0, Duration.ofSeconds(5)))
                            .thenApply(x -> Done.getInstance()));
            // A stream counts as done when its last chunk left our stream, which can be before the server
            // has written it out: closing the connections at once reset some finished streams under load
            // (ServeCommandIT, 1 run in 3 on a busy machine). A short settle lets those writes complete.
            cs.addTask(CoordinatedShutdown.PhaseServiceStop(), "troupe-close-connections", () ->
                    waitFor(() -> false, RESPONSE_FLUSH_SETTLE)
                            .thenCompose(x -> binding.terminate(Duration.ofSeconds(3)))
                            .thenApply(x -> Done.getInstance()));
            system.getWhenTerminated().thenRun(() -> {
                models.close();
                groups.close();
                store.close();
                log.info("stopped");
            });
            return new Node(system, binding, api, models, name);
        } catch (Exception | Error e) {
            if (catalog != null) catalog.close();
            if (tensorGroups != null) tensorGroups.close();
            if (weights != null) weights.close();
            system.terminate();
            throw e;
        }
    }

    /**
     * Where registered versions may live: troupe.weights.model-dirs, or when it is empty the --model file's
     * directory and data-dir/models (where fetched copies go).
     */
    static dev.troupe.node.deploy.ModelPaths modelPaths(Config config, Path dataDir, Path modelFile) {
        List<Path> dirs = new java.util.ArrayList<>();
        com.typesafe.config.ConfigValue v = config.getValue("troupe.weights.model-dirs");
        List<String> names = v.valueType() == com.typesafe.config.ConfigValueType.STRING
                ? List.of(config.getString("troupe.weights.model-dirs").split(",")) : config.getStringList("troupe.weights.model-dirs");
        for (String n : names) if (!n.isBlank()) dirs.add(Path.of(n.trim()));
        if (dirs.isEmpty()) {
            if (modelFile != null) dirs.add(modelFile.toAbsolutePath().getParent());
            dirs.add(dataDir.resolve("models"));
        }
        dev.troupe.node.deploy.ModelPaths paths = new dev.troupe.node.deploy.ModelPaths(dirs);
        log.info("versions may be registered from {}", paths.dirs());
        return paths;
    }

    /** Joins the seeds (or this node itself) and waits until this node is Up. */
    private static void joinCluster(ActorSystem<?> system, ClusterSettings settings) throws InterruptedException {
        Cluster cluster = Cluster.get(system);
        // With seeds the cluster extension joins them by itself (pekko.cluster.seed-nodes).
        if (settings.formsOwnCluster()) cluster.manager().tell(Join.create(cluster.selfMember().address()));
        long until = System.nanoTime() + settings.joinTimeout().toNanos();
        while (cluster.selfMember().status() != MemberStatus.up()) {
            if (System.nanoTime() > until) {
                throw new IllegalStateException(settings.formsOwnCluster() ? "the node did not join its own cluster in " + settings.joinTimeout()
                        : "the node could not join the cluster of " + settings.seeds() + " in " + settings.joinTimeout()
                        + " (are the seeds running and reachable on their cluster ports?)");
            }
            Thread.sleep(20);
        }
        log.info("node {} is up in a cluster of {} (roles {})", cluster.selfMember().address(),
                java.util.stream.StreamSupport.stream(cluster.state().getMembers().spliterator(), false).count(), settings.roles());
    }

    /**
     * Records the served file as version v1 of the model and, on the model's first start, deploys and
     * promotes it, so the quick start needs no admin call. Restarting with the same file adds no events and
     * leaves later rollouts and rollbacks as they are; a different file under the same name is refused.
     */
    private static void registerFirstVersion(ActorSystem<?> system, RecipientRef<ModelRegistry.Command> registry, String name, Path file,
                                             String sha) throws Exception {
        ModelFacts facts = modelFacts(file);
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

    /** What the registry records of a model file: its shape, read from the GGUF header. */
    /** What the registry records of a model file besides its path and sha256: its architecture and shape. */
    public record ModelFacts(String architecture, Map<String, String> parameters) {}

    public static ModelFacts modelFacts(Path file) throws java.io.IOException {
        try (GgufFile f = GgufFile.open(file)) {
            LlamaConfig c = LlamaConfig.from(f);
            return new ModelFacts(c.architecture(), Map.of("dim", String.valueOf(c.dim()), "layers", String.valueOf(c.layers()),
                    "context", String.valueOf(c.contextLength()), "vocab", String.valueOf(c.vocab())));
        }
    }

    private static ModelRegistry.Reply ask(ActorSystem<?> system, RecipientRef<ModelRegistry.Command> registry,
                                           org.apache.pekko.japi.function.Function<ActorRef<ModelRegistry.Reply>, ModelRegistry.Command> message)
            throws Exception {
        return AskPattern.ask(registry, message, Duration.ofSeconds(30), system.scheduler()).toCompletableFuture().get(40, TimeUnit.SECONDS);
    }

    /** Completes when the condition holds, or after the limit. */
    private static CompletableFuture<Void> waitFor(java.util.function.BooleanSupplier condition, Duration limit) {
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
