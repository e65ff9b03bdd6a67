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
import dev.troupe.node.deploy.LoadedVersion;
import dev.troupe.node.deploy.ModelCatalog;
import dev.troupe.node.deploy.ModelDeployments;
import dev.troupe.node.http.HttpSettings;
import dev.troupe.node.http.ServedModel;
import org.apache.pekko.actor.CoordinatedShutdown;
import dev.troupe.actors.registry.ModelRegistry;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

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

    private ServeCommand() {}

    /** A running {@code serve} node (for tests and benches): stop() drains and shuts it down. */
    public static final class Node {
        final ActorSystem<Void> system;
        final ServerBinding binding;
        final TroupeNode node;
        final ModelCatalog models;
        final String name;

        Node(ActorSystem<Void> system, ServerBinding binding, TroupeNode node, String name) {
            this.system = system;
            this.binding = binding;
            this.node = node;
            this.models = node.models();
            this.name = name;
        }

        /** The node inside the actor system (the same as an embedded one). */
        public TroupeNode troupe() { return node; }

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
            node.gateway().stopAccepting();
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
     * Starts the actor system and joins its cluster, builds the node in it ({@link TroupeNode}: follows every
     * model of the cluster's registry, and with a model file (may be null) records it as v1 of {@code name}
     * on its first start and waits until its live version is ready somewhere), then serves over HTTP.
     */
    public static Node start(Path modelFile, String name, Config config) throws Exception {
        config = TroupeNode.systemConfig(config);
        ClusterSettings cluster = ClusterSettings.from(config);
        if (!cluster.formsOwnCluster() && !config.getString("troupe.journal.kind").equals("postgres")) {
            throw new IllegalStateException("a node that joins a cluster needs the cluster's shared journal (--journal postgres): "
                    + "each entity has one writer somewhere in the cluster, and an H2 file is one node's");
        }
        config = cluster.pekko().withFallback(config);
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), ClusterSettings.SYSTEM, config);
        try {
            joinCluster(system, cluster);
            TroupeNode node = TroupeNode.start(system, config, modelFile, name);
            HttpSettings http = HttpSettings.from(config);
            ServerBinding binding = node.bindHttp(http.host(), http.port());
            return new Node(system, binding, node, name);
        } catch (Exception | Error e) {
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

    /** What the registry records of a model file besides its path and sha256: its architecture and shape. */
    public record ModelFacts(String architecture, Map<String, String> parameters) {}

    public static ModelFacts modelFacts(Path file) throws java.io.IOException {
        try (GgufFile f = GgufFile.open(file)) {
            LlamaConfig c = LlamaConfig.from(f);
            return new ModelFacts(c.architecture(), Map.of("dim", String.valueOf(c.dim()), "layers", String.valueOf(c.layers()),
                    "context", String.valueOf(c.contextLength()), "vocab", String.valueOf(c.vocab())));
        }
    }
}
