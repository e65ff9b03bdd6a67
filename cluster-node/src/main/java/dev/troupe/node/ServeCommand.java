package dev.troupe.node;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.troupe.actors.replica.Replica;
import dev.troupe.actors.replica.StepLoop;
import dev.troupe.engine.EngineOptions;
import dev.troupe.engine.LlamaModel;
import dev.troupe.engine.tokenizer.Tokenizer;
import dev.troupe.node.http.AdminApi;
import dev.troupe.node.http.HttpApi;
import dev.troupe.node.http.HttpSettings;
import dev.troupe.node.http.NodeMetrics;
import dev.troupe.node.http.ServedModel;
import dev.troupe.node.openai.ChatTemplate;
import dev.troupe.sharding.ReplicaSharding;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import dev.troupe.actors.registry.JournalConfig;
import dev.troupe.actors.registry.ModelRegistry;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
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
            "usage: bin/troupe serve --model FILE [options]",
            "",
            "Serves the model over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions,",
            "/v1/models, /v1/embeddings), with /health/live, /health/ready and /metrics.",
            "  --model FILE      GGUF model file (llama architecture; F32, F16 or Q8_0)",
            "  --name NAME       the model's name in the API (default: the file name without .gguf)",
            "  --host HOST       address to listen on (default 127.0.0.1; env TROUPE_HOST)",
            "                    (another address needs a tenant first, or troupe.auth.allow-anonymous = on: docs/tenants.md)",
            "  --port PORT       HTTP port (default 8080; env TROUPE_PORT; 0 = any free port)",
            "  --threads T       engine CPU threads (default: all cores; env TROUPE_THREADS)",
            "  --data-dir DIR    where the node keeps its journal (default ./data; env TROUPE_DATA_DIR)",
            "  --config FILE     HOCON file overriding the defaults (see config/src/main/resources/reference.conf)",
            "Precedence: flags, then --config, then TROUPE_* environment variables, then the defaults.",
            "");

    private ServeCommand() {}

    /** A running node (for tests and the embedded API): stop() drains and shuts it down. */
    public static final class Node {
        final ActorSystem<Void> system;
        final ServerBinding binding;
        final HttpApi api;
        final StepLoop loop;
        final LlamaModel model;
        final String name;
        final ActorRef<ModelRegistry.Command> registry;

        Node(ActorSystem<Void> system, ServerBinding binding, HttpApi api, StepLoop loop, LlamaModel model, String name,
             ActorRef<ModelRegistry.Command> registry) {
            this.registry = registry;
            this.system = system;
            this.binding = binding;
            this.api = api;
            this.loop = loop;
            this.model = model;
            this.name = name;
        }

        public int port() { return binding.localAddress().getPort(); }

        public String modelName() { return name; }

        public StepLoop stepLoop() { return loop; }

        public LlamaModel model() { return model; }

        /** The registry's view of the served model (versions, deployments, live version, history). */
        public ModelRegistry.State registryState() {
            ModelRegistry.Reply r = AskPattern.<ModelRegistry.Command, ModelRegistry.Reply>ask(registry, ModelRegistry.GetState::new,
                    Duration.ofSeconds(10), system.scheduler()).toCompletableFuture().join();
            return ((ModelRegistry.Reply.Current) r).state();
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
        Args args = new Args(argv, 1, Set.of("model", "name", "host", "port", "threads", "config", "data-dir"), Set.of());
        Path modelFile = Path.of(args.required("model"));
        if (!Files.isRegularFile(modelFile)) throw new Args.UsageException("model file not found: " + modelFile);
        Map<String, Object> flags = new HashMap<>();
        if (args.has("host")) flags.put("troupe.http.host", args.required("host"));
        if (args.has("port")) flags.put("troupe.http.port", args.integer("port", 8080));
        if (args.has("threads")) flags.put("troupe.engine.threads", args.integer("threads", 0));
        if (args.has("data-dir")) flags.put("troupe.data-dir", args.required("data-dir"));
        Config fileConf = ConfigFactory.empty();
        if (args.has("config")) {
            Path f = Path.of(args.required("config"));
            if (!Files.isRegularFile(f)) throw new Args.UsageException("config file not found: " + f);
            fileConf = ConfigFactory.parseFile(f.toFile());
        }
        Config config = ConfigFactory.parseMap(flags).withFallback(fileConf).withFallback(nodeDefaults()).resolve();
        String name = args.string("name", defaultName(modelFile));
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

    /** Loads the model, starts the actor system, the replica and the HTTP server. */
    public static Node start(Path modelFile, String name, Config config) throws Exception {
        Duration grace = config.getDuration("troupe.shutdown.grace");
        config = ConfigFactory.parseString(
                "pekko.coordinated-shutdown.phases.service-requests-done.timeout = " + (grace.toMillis() + 5000) + "ms\n"
                        + "pekko.coordinated-shutdown.phases.service-unbind.timeout = 10s\n").withFallback(config);

        EngineOptions engine = EngineOptions.defaults()
                .withThreads(config.getInt("troupe.engine.threads"))
                .withBackend(config.getString("troupe.engine.backend"))
                .withKvCacheTokens(config.getInt("troupe.engine.kv-cache-tokens"))
                .withKvBlockSize(config.getInt("troupe.engine.kv-block-size"))
                .withMaxBatchTokens(config.getInt("troupe.scheduler.max-batched-tokens"))
                .withMaxSequences(config.getInt("troupe.scheduler.max-num-seqs") + 1);
        LlamaModel model = LlamaModel.load(modelFile, engine);
        Duration warmUp = config.getDuration("troupe.engine.warm-up");
        if (!warmUp.isZero()) {
            log.info("warming up the engine for {}", warmUp);
            model.warmUp(warmUp);
        }
        Tokenizer tokenizer = Tokenizer.fromGguf(model.file());
        StepLoop loop = new StepLoop(model, tokenizer, new StepLoop.Config(
                config.getInt("troupe.scheduler.max-num-seqs"),
                config.getInt("troupe.scheduler.max-batched-tokens"),
                config.getInt("troupe.scheduler.max-queued"),
                Duration.ofMillis(50)));
        loop.start();

        Path dataDir = Path.of(config.getString("troupe.data-dir")).toAbsolutePath();
        Files.createDirectories(dataDir);
        config = JournalConfig.h2(dataDir.resolve("journal")).withFallback(config);
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "troupe", config);
        try {
            Cluster cluster = Cluster.get(system);
            cluster.manager().tell(Join.create(cluster.selfMember().address()));
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (cluster.selfMember().status() != MemberStatus.up()) {
                if (System.nanoTime() > until) throw new IllegalStateException("the node did not join its own cluster in 20 s");
                Thread.sleep(20);
            }
            ActorRef<ModelRegistry.Command> registry = registerAndDeploy(system, name, modelFile, model);
            ReplicaSharding sharding = new ReplicaSharding(system);
            sharding.registerLocal(name, loop);
            String template = model.file().has("tokenizer.chat_template") ? model.file().getString("tokenizer.chat_template") : null;
            ServedModel served = new ServedModel(name, tokenizer, model.config().contextLength(), ChatTemplate.fromGguf(template),
                    sharding.replica(name), System.currentTimeMillis() / 1000);
            NodeMetrics metrics = new NodeMetrics();
            metrics.watch(name, loop::stats);
            HttpSettings http = HttpSettings.from(config);
            TenantSetup tenants = TenantSetup.start(system, config, http.host());
            HttpApi api = new HttpApi(system, served, http, metrics, tenants.gate());
            AdminApi admin = new AdminApi(system, name, registry, config.getString("troupe.admin.token"));
            ServerBinding binding = Http.get(system).newServerAt(http.host(), http.port())
                    .bind(api.concat(tenants.adminApi().route(), admin.route(), api.route()))
                    .toCompletableFuture().get(30, TimeUnit.SECONDS);
            log.info("serving model '{}' ({}) at http://{}:{}/v1 (chat template: {})", name, modelFile, http.host(),
                    binding.localAddress().getPort(), served.chatTemplate().name());

            CoordinatedShutdown cs = CoordinatedShutdown.get(system);
            cs.addTask(CoordinatedShutdown.PhaseServiceUnbind(), "troupe-stop-accepting", () -> {
                log.info("shutting down: no new requests; in-flight ones have {} to finish", grace);
                api.stopAccepting();
                served.replica().tell(new Replica.StopAccepting());
                return binding.unbind().thenApply(x -> Done.getInstance());
            });
            cs.addTask(CoordinatedShutdown.PhaseServiceRequestsDone(), "troupe-drain", () ->
                    loop.drain(grace).thenCompose(x -> waitFor(() -> api.inFlight() == 0, Duration.ofSeconds(5)))
                            .thenApply(x -> Done.getInstance()));
            cs.addTask(CoordinatedShutdown.PhaseServiceStop(), "troupe-close-connections", () ->
                    binding.terminate(Duration.ofSeconds(3)).thenApply(x -> Done.getInstance()));
            system.getWhenTerminated().thenRun(() -> {
                loop.close();
                try {
                    model.close();
                } catch (Exception e) {
                    log.warn("closing the model failed", e);
                }
                log.info("stopped");
            });
            return new Node(system, binding, api, loop, model, name, registry);
        } catch (Exception | Error e) {
            system.terminate();
            loop.close();
            model.close();
            throw e;
        }
    }

    /**
     * Records the served file as version v1 of the model and deploys it, so the quick start needs no admin
     * call. Restarting with the same file adds no events; a different file under the same name is refused.
     */
    private static ActorRef<ModelRegistry.Command> registerAndDeploy(ActorSystem<?> system, String name, Path file, LlamaModel model)
            throws Exception {
        SchemaUtils.createIfNotExists(system).toCompletableFuture().get(60, TimeUnit.SECONDS);
        String actorName = "model-registry-" + java.net.URLEncoder.encode(name, java.nio.charset.StandardCharsets.UTF_8);
        ActorRef<ModelRegistry.Command> registry = system.systemActorOf(ModelRegistry.create(name, 50), actorName, Props.empty());
        String sha = sha256(file);
        Map<String, String> params = Map.of("dim", String.valueOf(model.config().dim()), "layers", String.valueOf(model.config().layers()),
                "context", String.valueOf(model.config().contextLength()), "vocab", String.valueOf(model.config().vocab()));
        ModelRegistry.Reply r = ask(system, registry, to -> new ModelRegistry.RegisterVersion("serve", "v1", file.toAbsolutePath().toString(),
                sha, "llama", params, to));
        if (r instanceof ModelRegistry.Reply.Rejected rejected) {
            throw new IllegalStateException("cannot register " + file + " as v1 of model '" + name + "': " + rejected.message()
                    + " (serve another name with --name, or use another --data-dir)");
        }
        r = ask(system, registry, to -> new ModelRegistry.Deploy("serve", "v1", 1, 1, to));
        if (r instanceof ModelRegistry.Reply.Rejected rejected) throw new IllegalStateException("cannot deploy v1: " + rejected.message());
        ModelRegistry.State state = ((ModelRegistry.Reply.Accepted) r).state();
        if (state.live() == null) {
            r = ask(system, registry, to -> new ModelRegistry.Promote("serve", "v1", to));
            if (r instanceof ModelRegistry.Reply.Rejected rejected) throw new IllegalStateException("cannot promote v1: " + rejected.message());
        }
        log.info("model '{}': v1 ({}, sha256 {}) registered and live", name, file.getFileName(), sha.substring(0, 12));
        return registry;
    }

    private static ModelRegistry.Reply ask(ActorSystem<?> system, ActorRef<ModelRegistry.Command> registry,
                                           org.apache.pekko.japi.function.Function<ActorRef<ModelRegistry.Reply>, ModelRegistry.Command> message)
            throws Exception {
        return AskPattern.ask(registry, message, Duration.ofSeconds(30), system.scheduler()).toCompletableFuture().get(40, TimeUnit.SECONDS);
    }

    static String sha256(Path file) throws java.io.IOException {
        try (java.io.InputStream in = Files.newInputStream(file)) {
            java.security.MessageDigest md = java.security.MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 20];
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
            StringBuilder sb = new StringBuilder();
            for (byte b : md.digest()) sb.append(String.format("%02x", b));
            return sb.toString();
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
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
