package dev.troupe.embed;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.engine.sampling.SamplingParams;
import dev.troupe.node.TroupeNode;
import dev.troupe.node.http.Gateway;
import dev.troupe.node.openai.ApiError;
import dev.troupe.node.openai.CompletionRequest;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.stream.javadsl.Source;

import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Troupe inside your own Pekko application: the one entry point of the embedded API ({@code docs/embedding.md}).
 *
 * <p>{@link #start} builds a Troupe node inside an {@link ActorSystem} the host owns, from the host's config
 * (Troupe's settings under {@code troupe}; create the system with {@link #config} over it). In a clustered
 * host ({@code pekko.actor.provider = cluster}) Troupe runs in the host's cluster once the host has joined it
 * (start it on every member), and the member's roles decide what it does there: {@code worker} runs model replicas,
 * {@code gateway} routes requests; a host that is not clustered becomes a one-member cluster of its own
 * (see {@link #config}). There is no HTTP server unless the host asks for one ({@link #bindHttp}).
 * Troupe stops with the host's coordinated shutdown: new requests are refused, generations in flight get
 * {@code troupe.shutdown.grace} to finish and the rest end with a {@link TokenEvent.Failed} (503), then the
 * replicas' threads stop.
 *
 * <p>Generation goes through the same path as an HTTP request (tenant admission and quotas, the fair queue
 * between tenants, the usage ledger, routing and failover between replicas): {@link #complete} for a whole
 * completion, {@link #stream} for a back-pressured stream of {@link TokenEvent}s, and {@link #generator} for
 * the host's own actors. {@link #models} and {@link #tenants} are the admin API's operations, typed.
 * Thread-safe.
 */
public final class Troupe {
    private static final SecureRandom IDS = new SecureRandom();

    private final TroupeNode node;
    private final ActorRef<Generator.Command> generator;
    private final Models models;
    private final Tenants tenants;

    private Troupe(TroupeNode node) {
        this.node = node;
        this.models = new Models(node);
        this.tenants = new Tenants(node);
        this.generator = node.system().systemActorOf(Generator.create(this), "troupe-generator", Props.empty());
    }

    /** Set by {@link #config} for a host that is not clustered: {@link #start} forms a one-member cluster. */
    static final String FORM_OWN_CLUSTER = "troupe.embedded.form-own-cluster";

    /**
     * The host's config with what Troupe needs of the actor system's own settings: the persistence journal
     * named by {@code troupe.journal} (an H2 file under {@code troupe.data-dir} by default; PostgreSQL for a
     * cluster of several members), coordinated-shutdown phases long enough for the drain, and Troupe's roles
     * ({@code troupe.cluster.roles}) added to {@code pekko.cluster.roles} when the host names neither
     * {@code gateway} nor {@code worker}. A host that is not clustered ({@code pekko.actor.provider} local)
     * becomes a one-member cluster on loopback (Artery TCP, any free port), which {@link #start} joins
     * itself: Troupe's entities are sharded. Creates the data directory.
     */
    public static Config config(Config hostConfig) {
        String provider = hostConfig.hasPath("pekko.actor.provider") ? hostConfig.getString("pekko.actor.provider") : "local";
        if (!provider.equals("cluster") && !provider.endsWith("ClusterActorRefProvider")) {
            hostConfig = ConfigFactory.parseString("""
                    pekko.actor.provider = cluster
                    pekko.remote.artery.transport = tcp
                    pekko.remote.artery.canonical.hostname = "127.0.0.1"
                    pekko.remote.artery.canonical.port = 0
                    pekko.cluster.seed-nodes = []
                    pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
                    """ + FORM_OWN_CLUSTER + " = on\n").withFallback(hostConfig);
        }
        try {
            return TroupeNode.systemConfig(hostConfig);
        } catch (java.io.IOException e) {
            throw new IllegalStateException("cannot create troupe.data-dir: " + e.getMessage(), e);
        }
    }

    /**
     * Starts Troupe in the host's system (once per system), serving the models registered in the cluster;
     * blocks until this member is Up (up to {@code troupe.cluster.join-timeout}) and the node follows the registry.
     */
    public static Troupe start(ActorSystem<?> system) {
        return start(system, null, null);
    }

    /**
     * Starts Troupe in the host's system and, on its first start, registers the file as version v1 of
     * {@code model}, deploys and promotes it; blocks until a replica of the model's live version is ready
     * somewhere in the cluster.
     */
    public static Troupe start(ActorSystem<?> system, Path modelFile, String model) {
        Config config = system.settings().config();
        if (config.hasPath(FORM_OWN_CLUSTER) && config.getBoolean(FORM_OWN_CLUSTER)) {
            Cluster self = Cluster.get(system);
            self.manager().tell(Join.create(self.selfMember().address()));
        }
        try {
            return new Troupe(TroupeNode.start(system, system.settings().config(), modelFile, model));
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("Troupe did not start: " + e.getMessage(), e);
        }
    }

    /**
     * The embedded API over a node that is already running in its system (such as {@code bin/troupe serve}'s
     * own, or one a test started): call once per node.
     */
    public static Troupe on(TroupeNode node) {
        return new Troupe(node);
    }

    /**
     * A completion's token events as a Pekko Streams source. Nothing happens until it runs, and each run is
     * a generation of its own (with an id of its own unless the request names one). It ends with exactly one terminal
     * event (a refusal before the replica, such as an unknown model or a quota, is a {@link TokenEvent.Failed}
     * too). Back-pressure: a consumer that is behind gets the tokens generated meanwhile merged into one
     * event, so the replica holds at most a few events for it. Cancelling the stream before its terminal
     * event cancels the sequence on its replica, which frees its KV blocks at the next step.
     */
    public Source<TokenEvent, NotUsed> stream(GenerateRequest request) {
        // Nothing is admitted or submitted until the source runs: a source built and dropped costs nothing.
        return Source.fromMaterializer((mat, attributes) -> generate(request)).mapMaterializedValue(x -> NotUsed.getInstance());
    }

    /** One run of {@link #stream}: admitted and submitted now. */
    private Source<TokenEvent, NotUsed> generate(GenerateRequest request) {
        String id = idOf(request);
        Source<GenerationEvent, NotUsed> events;
        try {
            events = node.gateway().generate(node.gateway().gate().principal(request.tenant()), completionRequest(request), id,
                    Optional.ofNullable(request.requestId()), ENDPOINT);
        } catch (ApiError e) {
            return Source.single(failed(id, e));
        } catch (IllegalArgumentException e) {
            return Source.single(new TokenEvent.Failed(id, 400, "invalid_request", e.getMessage(), 0));
        }
        return events.map(e -> toEvent(id, e))
                .recover(new org.apache.pekko.japi.pf.PFBuilder<Throwable, TokenEvent>()
                        .match(ApiError.class, e -> failed(id, e))
                        .matchAny(t -> new TokenEvent.Failed(id, 500, "internal_error", String.valueOf(t.getMessage()), 0))
                        .build());
    }

    /** The metrics' endpoint label of embedded requests. */
    private static final String ENDPOINT = "embedded";

    private static String idOf(GenerateRequest request) {
        return request.requestId() != null ? request.requestId() : "embd-" + HexFormat.of().formatHex(randomBytes());
    }

    /** The request as the gateway takes it: a /v1/completions request (throws IllegalArgumentException for bad sampling settings). */
    private static CompletionRequest completionRequest(GenerateRequest request) {
        SamplingParams.Builder params = SamplingParams.builder().temperature(request.temperature()).maxTokens(request.maxTokens())
                .stop(request.stop());
        if (request.seed() != null) params.seed(request.seed());
        return new CompletionRequest(false, request.model(), request.prompt(), null, params.build(), false, false, -1, null);
    }

    /**
     * A whole completion; fails with a {@link TroupeException} where {@link #stream} would end with
     * {@link TokenEvent.Failed}. No stream in between: the replica's thread collects the text, and the
     * stage completes on the host system's dispatcher once the usage is in the tenant's ledger.
     */
    public CompletionStage<Completion> complete(GenerateRequest request) {
        String id = idOf(request);
        CompletionStage<Gateway.Collected> collected;
        try {
            collected = node.gateway().complete(node.gateway().gate().principal(request.tenant()), completionRequest(request), id,
                    Optional.ofNullable(request.requestId()), ENDPOINT);
        } catch (ApiError e) {
            return CompletableFuture.failedFuture(exception(e));
        } catch (IllegalArgumentException e) {
            return CompletableFuture.failedFuture(new TroupeException(400, "invalid_request", e.getMessage()));
        }
        return collected.handle((c, t) -> {
            if (t != null) {
                Throwable cause = t instanceof java.util.concurrent.CompletionException && t.getCause() != null ? t.getCause() : t;
                throw cause instanceof ApiError e ? exception(e) : new TroupeException(500, "internal_error", String.valueOf(cause.getMessage()));
            }
            TokenEvent end = toEvent(id, c.end());
            if (end instanceof TokenEvent.Failed f) throw new TroupeException(f.status(), f.code(), f.message());
            TokenEvent.Finished f = (TokenEvent.Finished) end;
            return new Completion(id, c.text(), f.reason(), f.promptTokens(), f.completionTokens());
        });
    }

    private static TroupeException exception(ApiError e) {
        return new TroupeException(e.status(), e.code(), e.getMessage());
    }

    /** The typed protocol for the host's own actors ({@link Generator}): one per Troupe, a system actor. */
    public ActorRef<Generator.Command> generator() {
        return generator;
    }

    /** Register, deploy, split traffic, promote, roll back and retire model versions. */
    public Models models() {
        return models;
    }

    /** Create tenants, change their quotas and weights, suspend them, read their usage. */
    public Tenants tenants() {
        return tenants;
    }

    /**
     * Also serves Troupe's HTTP API (OpenAI endpoints, health, metrics, and on a gateway the admin API) at
     * host:port (0: any free port); returns the bound port. Unbound by the coordinated shutdown.
     */
    public int bindHttp(String host, int port) {
        try {
            return node.bindHttp(host, port).localAddress().getPort();
        } catch (Exception e) {
            throw new IllegalStateException("cannot serve HTTP at " + host + ":" + port + ": " + e.getMessage(), e);
        }
    }

    /** The node underneath (its models, gateway and settings), for what this API does not cover. */
    public TroupeNode node() {
        return node;
    }

    static TokenEvent toEvent(String id, GenerationEvent e) {
        if (e instanceof GenerationEvent.Tokens t) return new TokenEvent.Tokens(id, t.text(), t.tokenIds());
        if (e instanceof GenerationEvent.Finished f) return new TokenEvent.Finished(id, f.reason().openAi(), f.promptTokens(), f.completionTokens());
        GenerationEvent.Failed f = (GenerationEvent.Failed) e;
        ApiError a = ApiError.forFailure(f.kind(), f.message());
        return new TokenEvent.Failed(id, a.status(), a.code(), a.getMessage(), f.completionTokens());
    }

    private static TokenEvent.Failed failed(String id, ApiError e) {
        return new TokenEvent.Failed(id, e.status(), e.code(), e.getMessage(), 0);
    }

    private static byte[] randomBytes() {
        byte[] b = new byte[12];
        IDS.nextBytes(b);
        return b;
    }
}
