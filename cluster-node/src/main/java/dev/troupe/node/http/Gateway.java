package dev.troupe.node.http;

import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.actors.replica.GenerationRequest;
import dev.troupe.actors.tenant.TenantDirectory;
import dev.troupe.node.deploy.ModelCatalog;
import dev.troupe.node.deploy.VersionRouter;
import dev.troupe.node.openai.ApiError;
import dev.troupe.node.openai.CompletionRequest;
import dev.troupe.node.openai.PromptPreparation;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.stream.javadsl.Source;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A node's request path in front of the replicas, shared by the HTTP API and the embedded API (one path per
 * behaviour): the model's versions and the replica chosen for a request, the tenant's admission, the
 * requests in flight (a drain waits for them), per-version metrics and the canary's samples. Nothing here
 * knows about HTTP; errors are {@link ApiError}s, which each front end renders its own way.
 */
public final class Gateway {
    private final ActorSystem<?> system;
    private final ModelCatalog models;
    private final HttpSettings settings;
    private final NodeMetrics metrics;
    private final TenantGate gate;
    private final AtomicBoolean draining = new AtomicBoolean();
    /** Requests accepted (past the draining check) and not yet answered completely. */
    final AtomicInteger inFlight = new AtomicInteger();
    /** Accepted requests not yet handed to a replica: a drain waits for them before it drains the replicas. */
    final AtomicInteger starting = new AtomicInteger();

    public Gateway(ActorSystem<?> system, ModelCatalog models, HttpSettings settings, NodeMetrics metrics, TenantGate gate) {
        this.system = system;
        this.models = models;
        this.settings = settings;
        this.metrics = metrics;
        this.gate = gate;
    }

    /** A request ready for its replica: the version bound to the chosen replica, and what the replica runs. */
    public record Prepared(ServedModel served, GenerationRequest request) {}

    public ActorSystem<?> system() { return system; }

    public ModelCatalog models() { return models; }

    public HttpSettings settings() { return settings; }

    public NodeMetrics metrics() { return metrics; }

    public TenantGate gate() { return gate; }

    /** New requests are refused from now on (graceful shutdown). */
    public void stopAccepting() { draining.set(true); }

    public boolean draining() { return draining.get(); }

    /** Requests accepted and not yet answered completely. */
    public int inFlight() { return inFlight.get(); }

    /** Accepted requests still on their way to a replica (parsing, tokenizing, admission). */
    public int starting() { return starting.get(); }

    /**
     * Validates the request for this tenant and binds it to a version and a replica: 404 for an unknown
     * model, 403 for a model the tenant may not use, 400 for a prompt beyond the context, 503 while no
     * replica is ready. routingKey picks the version under a traffic split (a client's retries stay on one).
     */
    public Prepared prepare(TenantDirectory.Principal who, CompletionRequest req, String requestId, String routingKey, long deadlineNanos) {
        VersionRouter router = requireModel(req.model());
        gate.requireAllowed(who, req.model());
        ServedModel version = pick(req.model(), router, routingKey);
        PromptPreparation.Prepared prepared = PromptPreparation.prepare(req, version.chatTemplate(), version.tokenizer(),
                version.contextLength());
        ServedModel served = routed(version, prepared.tokens());
        return new Prepared(served, new GenerationRequest(requestId, prepared.tokens(), prepared.params(), deadlineNanos,
                who.tenant(), who.weight()));
    }

    /**
     * A whole generation as a stream of events for a front end without HTTP: admitted under the tenant's
     * quotas, submitted to its replica, its usage recorded in the tenant's ledger before its Finished event
     * goes on. A request refused before it reaches a replica (unknown model, not allowed, too long,
     * over quota, shutting down) fails the stream with its {@link ApiError}; any other ends with exactly one
     * terminal event (Finished or Failed: a timeout, the node stopping, ...); cancelling the stream before that cancels the sequence on its replica, which frees
     * its KV blocks at the next step. The source buffers at most a few events whatever the consumer's pace
     * (tokens that arrive while it is behind are merged). It runs once.
     */
    public Source<GenerationEvent, NotUsed> generate(TenantDirectory.Principal who, CompletionRequest req, String requestId,
                                                      Optional<String> idempotencyKey, String endpoint) {
        long accepted = System.nanoTime();
        inFlight.incrementAndGet();
        starting.incrementAndGet();
        Prepared p;
        CompletionStage<TenantGate.Admission> admission;
        try {
            if (draining.get()) throw ApiError.unavailable("the node is shutting down");
            p = prepare(who, req, requestId, idempotencyKey.orElse(requestId), accepted + settings.requestTimeout().toNanos());
            admission = gate.admit(who, idempotencyKey, requestId, req.model());
        } catch (ApiError e) {
            starting.decrementAndGet();
            inFlight.decrementAndGet();
            metrics.requests.labelValues(req.model(), HttpApi.NO_VERSION, endpoint, String.valueOf(e.status())).inc();
            return Source.failed(e);
        }
        ServedModel served = p.served();
        AtomicBoolean ended = new AtomicBoolean();
        AtomicInteger status = new AtomicInteger(499);
        CompletionStage<Source<GenerationEvent, NotUsed>> started = admission.handle((a, t) -> {
            starting.decrementAndGet();
            if (t != null) {
                Throwable c = t instanceof java.util.concurrent.CompletionException && t.getCause() != null ? t.getCause() : t;
                ApiError e = c instanceof ApiError api ? api : ApiError.internal("admission failed");
                status.set(e.status());
                ended.set(true);
                return Source.<GenerationEvent>failed(e);
            }
            ResponseEventSource events = new ResponseEventSource();
            served.replica().submit(p.request(), events);
            return Source.fromGraph(events)
                    // A replica that stopped answering altogether (it ends requests at their deadline itself).
                    .idleTimeout(settings.requestTimeout().plusSeconds(10))
                    .recover(new org.apache.pekko.japi.pf.PFBuilder<Throwable, GenerationEvent>()
                            .match(java.util.concurrent.TimeoutException.class, x -> new GenerationEvent.Failed(requestId,
                                    GenerationEvent.FailureKind.DEADLINE_EXCEEDED, "the request did not finish in time", 0, 0))
                            .build())
                    .via(a.observer());
        });
        return Source.completionStageSource(started)
                .map(e -> {
                    if (e instanceof GenerationEvent.Finished f) {
                        ended.set(true);
                        countTokens(served, f.promptTokens(), f.completionTokens());
                        status.set(200);
                    } else if (e instanceof GenerationEvent.Failed f) {
                        ended.set(true);
                        if (status.get() == 499) status.set(ApiError.forFailure(f.kind(), f.message()).status());
                    }
                    return e;
                })
                .watchTermination((mat, done) -> {
                    done.whenComplete((d, t) -> {
                        // The consumer went away (or the stream broke) before the end: free the sequence.
                        if (!ended.get()) served.replica().cancel(requestId);
                        finish(served, endpoint, accepted, status.get());
                    });
                    return NotUsed.getInstance();
                });
    }

    /** The model's versions as this node routes them; 404 for a model the cluster does not serve. */
    public VersionRouter requireModel(String name) {
        ModelCatalog.Entry m = models.get(name);
        if (m == null || !m.deployments().hasLive()) {
            throw ApiError.notFound("The model '" + name + "' does not exist", "model", "model_not_found");
        }
        return m.deployments().router();
    }

    /** The version bound to the replica that serves this prompt; 503 while none of its replicas is ready. */
    public static ServedModel routed(ServedModel version, int[] prompt) {
        ServedModel served = version.routed(prompt);
        if (served == null) {
            throw ApiError.unavailable("no replica of model '" + version.name() + "' version " + version.version() + " is ready in the cluster");
        }
        return served;
    }

    /** The version serving this request key; 503 while no version of the model is ready. */
    public static ServedModel pick(String model, VersionRouter router, String requestKey) {
        ServedModel served = router.pick(requestKey);
        if (served == null) throw ApiError.unavailable("no version of model '" + model + "' is ready in the cluster yet");
        return served;
    }

    /**
     * f, failed with a TimeoutException if the replica has not completed it 10 s past the request timeout
     * (the replica ends requests at their deadline itself; this is for one that stopped answering). On the
     * actor system's scheduler, which ticks anyway: CompletableFuture.orTimeout wakes its timer thread for
     * every request, in the middle of the engine's step on a small machine.
     */
    public <T> CompletableFuture<T> backstop(CompletableFuture<T> f) {
        org.apache.pekko.actor.Cancellable timer = system.scheduler().scheduleOnce(settings.requestTimeout().plusSeconds(10),
                () -> f.completeExceptionally(new java.util.concurrent.TimeoutException("no answer from the replica")),
                system.executionContext());
        f.whenComplete((x, t) -> timer.cancel());
        return f;
    }

    /**
     * A request that reached a version ended with this status (499: the client went away): metrics by
     * version, and the canary monitor's view of the version (server-side failures count against it).
     */
    public void finish(ServedModel model, String endpoint, long start, int status) {
        inFlight.decrementAndGet();
        long nanos = System.nanoTime() - start;
        metrics.requestDuration.labelValues(model.name(), model.version(), endpoint).observe(nanos / 1e9);
        String outcome = status == 200 ? "ok" : status == 499 ? "cancelled" : String.valueOf(status);
        metrics.requests.labelValues(model.name(), model.version(), endpoint, outcome).inc();
        ModelCatalog.Entry entry = models.get(model.name());
        if (status != 499 && entry != null) entry.canary().record(model.version(), nanos, status >= 500);
    }

    public void countTokens(ServedModel model, int prompt, int completion) {
        metrics.promptTokens.labelValues(model.name(), model.version()).inc(prompt);
        metrics.completionTokens.labelValues(model.name(), model.version()).inc(completion);
    }
}
