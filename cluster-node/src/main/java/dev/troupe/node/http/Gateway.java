package dev.troupe.node.http;

import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.actors.replica.GenerationRequest;
import dev.troupe.actors.tenant.TenantDirectory;
import dev.troupe.node.deploy.ModelCatalog;
import dev.troupe.node.deploy.VersionRouter;
import dev.troupe.node.openai.ApiError;
import dev.troupe.node.openai.CompletionRequest;
import dev.troupe.node.openai.PromptPreparation;
import dev.troupe.node.tracing.Span;
import dev.troupe.node.tracing.TraceContext;
import dev.troupe.node.tracing.Tracer;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.stream.javadsl.Source;

import java.util.List;
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
    private final Tracer tracer;
    private final AtomicBoolean draining = new AtomicBoolean();
    /** Requests accepted (past the draining check) and not yet answered completely. */
    final AtomicInteger inFlight = new AtomicInteger();
    /** Accepted requests not yet handed to a replica: a drain waits for them before it drains the replicas. */
    final AtomicInteger starting = new AtomicInteger();

    public Gateway(ActorSystem<?> system, ModelCatalog models, HttpSettings settings, NodeMetrics metrics, TenantGate gate, Tracer tracer) {
        this.system = system;
        this.tracer = tracer;
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

    public Tracer tracer() { return tracer; }

    /**
     * Opens the record of a request accepted at {@code accepted} (System.nanoTime), with its span: self is
     * the request's own span context, parent the caller's (null when it sent none). req: the generation asked
     * for (its max tokens and temperature go on the span), null for embeddings.
     */
    public RequestRecord open(String requestId, String generationId, TenantDirectory.Principal who, String model, String endpoint,
                              CompletionRequest req, TraceContext parent, TraceContext self, long accepted) {
        String operation = RequestRecord.operation(endpoint);
        Span span = tracer.startServer(self, parent, operation + " " + model, accepted)
                .attribute("gen_ai.operation.name", operation)
                .attribute("gen_ai.request.model", model)
                .attribute("troupe.request_id", requestId)
                .attribute("troupe.tenant", who == null ? null : who.tenant());
        if (req != null) {
            int max = req.params().maxTokens();
            if (max != Integer.MAX_VALUE) span.attribute("gen_ai.request.max_tokens", (long) max);
            span.attribute("gen_ai.request.temperature", (double) req.params().temperature());
            if (req.params().seed() != null) span.attribute("gen_ai.request.seed", req.params().seed());
        }
        return new RequestRecord(requestId, generationId, who == null ? null : who.tenant(), model, endpoint, accepted, span);
    }

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
    public Prepared prepare(TenantDirectory.Principal who, CompletionRequest req, String requestId, String routingKey, long deadlineNanos,
                            RequestRecord record) {
        VersionRouter router = requireModel(req.model());
        gate.requireAllowed(who, req.model());
        ServedModel version = pick(req.model(), router, routingKey);
        PromptPreparation.Prepared prepared = PromptPreparation.prepare(req, version.chatTemplate(), version.tokenizer(),
                version.contextLength());
        ServedModel served = routed(version, prepared.tokens());
        record.served(served);
        // The replica, here or on another node, gets this request's span as its parent.
        return new Prepared(served, new GenerationRequest(requestId, prepared.tokens(), prepared.params(), deadlineNanos,
                who.tenant(), who.weight(), 0, record.traceparent()));
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
        Started s;
        try {
            s = start(who, req, requestId, idempotencyKey, endpoint);
        } catch (ApiError e) {
            return Source.failed(e);
        }
        ServedModel served = s.prepared().served();
        RequestRecord record = s.record();
        AtomicBoolean ended = new AtomicBoolean();
        AtomicInteger status = new AtomicInteger(499);
        TokenAccumulator tokens = new TokenAccumulator(served, metrics, record, false);
        java.util.function.Function<TenantGate.Admission, Source<GenerationEvent, NotUsed>> submit = a -> {
            ResponseEventSource events = new ResponseEventSource();
            served.replica().submit(s.prepared().request(), events);
            return Source.fromGraph(events)
                    // A replica that stopped answering altogether (it ends requests at their deadline itself).
                    .idleTimeout(settings.requestTimeout().plusSeconds(10))
                    .recover(new org.apache.pekko.japi.pf.PFBuilder<Throwable, GenerationEvent>()
                            .match(java.util.concurrent.TimeoutException.class, x -> new GenerationEvent.Failed(requestId,
                                    GenerationEvent.FailureKind.DEADLINE_EXCEEDED, "the request did not finish in time", 0, 0))
                            .build())
                    .via(a.observer());
        };
        CompletableFuture<TenantGate.Admission> admission = s.admission().toCompletableFuture();
        Source<GenerationEvent, NotUsed> events;
        if (admission.isDone() && !admission.isCompletedExceptionally()) {
            // Admitted at once (no quota to ask about): no nested stream to materialize.
            starting.decrementAndGet();
            events = submit.apply(admission.join());
        } else {
            events = Source.completionStageSource(admission.handle((a, t) -> {
                starting.decrementAndGet();
                if (t == null) return submit.apply(a);
                ended.set(true);
                ApiError e = apiError(t);
                status.set(e.status());
                // Refused before it reached the replica: ended here, not by the stream's end below.
                record.served(null);
                return Source.<GenerationEvent>failed(e);
            })).mapMaterializedValue(x -> NotUsed.getInstance());
        }
        return events
                .map(e -> {
                    if (e instanceof GenerationEvent.Tokens t) {
                        tokens.add(t);
                    } else if (e instanceof GenerationEvent.Finished f) {
                        ended.set(true);
                        finishedWith(record, f);
                        status.set(200);
                    } else if (e instanceof GenerationEvent.Failed f) {
                        ended.set(true);
                        failedWith(record, f);
                        if (status.get() == 499) status.set(ApiError.forFailure(f.kind(), f.message()).status());
                    }
                    return e;
                })
                .watchTermination((mat, done) -> {
                    done.whenComplete((d, t) -> {
                        // The consumer went away (or the stream broke) before the end: free the sequence.
                        if (!ended.get()) served.replica().cancel(requestId);
                        finish(record, status.get());
                    });
                    return NotUsed.getInstance();
                });
    }

    /**
     * A whole completion for a front end without HTTP: the same admission, replica and ledger as
     * {@link #generate}, without a stream (the replica's thread only accumulates). Completes with the
     * collected tokens and how the request ended (its usage recorded when it finished); fails with the
     * {@link ApiError} of a request refused before it reached a replica.
     */
    public CompletionStage<Collected> complete(TenantDirectory.Principal who, CompletionRequest req, String requestId,
                                               Optional<String> idempotencyKey, String endpoint) {
        Started s;
        try {
            s = start(who, req, requestId, idempotencyKey, endpoint);
        } catch (ApiError e) {
            return CompletableFuture.failedFuture(e);
        }
        return s.admission().handle((a, t) -> {
            starting.decrementAndGet();
            if (t != null) {
                ApiError e = apiError(t);
                s.record().served(null);
                finish(s.record(), e.status());
                return CompletableFuture.<Collected>failedFuture(e);
            }
            return collect(s.prepared(), a, req.logprobs() >= 0, s.record())
                    .thenCompose(c -> c.end() instanceof GenerationEvent.Finished ? finished(c, a).thenApply(x -> c)
                            : CompletableFuture.completedFuture(c));
        }).thenCompose(x -> x);
    }

    /** An accepted request on its way: bound to its replica, its admission asked for; counted in flight and starting. */
    private record Started(Prepared prepared, CompletionStage<TenantGate.Admission> admission, RequestRecord record) {}

    /** Counts the request in, prepares it and asks for its admission; a refusal here throws its ApiError, counted. */
    private Started start(TenantDirectory.Principal who, CompletionRequest req, String requestId, Optional<String> idempotencyKey,
                          String endpoint) {
        long accepted = System.nanoTime();
        inFlight.incrementAndGet();
        starting.incrementAndGet();
        // The embedded API has no incoming trace context (yet): each request starts a trace.
        RequestRecord record = open(requestId, requestId, who, req.model(), endpoint, req, null, TraceContext.childOf(null), accepted);
        try {
            if (draining.get()) throw ApiError.unavailable("the node is shutting down");
            Prepared p = prepare(who, req, requestId, idempotencyKey.orElse(requestId), accepted + settings.requestTimeout().toNanos(), record);
            return new Started(p, gate.admit(who, idempotencyKey, requestId, req.model()), record);
        } catch (ApiError e) {
            starting.decrementAndGet();
            record.served(null);
            finish(record, e.status());
            throw e;
        }
    }

    private static ApiError apiError(Throwable t) {
        Throwable c = t instanceof java.util.concurrent.CompletionException && t.getCause() != null ? t.getCause() : t;
        return c instanceof ApiError api ? api : ApiError.internal("admission failed");
    }

    /**
     * A plain request's outcome: its tokens (text, logprobs) and how it ended, with the times Server-Timing
     * reports (submitted to the replica, last event, handed to the dispatcher).
     */
    public record Collected(ServedModel served, GenerationRequest request, TokenAccumulator tokens, GenerationEvent end,
                            long submitted, long ended, long handedOff, RequestRecord record) {
        public String text() {
            return tokens.text();
        }
    }

    /**
     * Runs an admitted plain request on its replica: the replica's thread only accumulates, and the result
     * completes on the actor system's dispatcher. A request that ended without finishing (refused by its
     * replica, failed, or silent 10 s past its deadline: then cancelled and ended as DEADLINE_EXCEEDED) has
     * its accounting closed here; a Finished one is closed by {@link #finished} once the caller is ready.
     */
    public CompletionStage<Collected> collect(Prepared p, TenantGate.Admission admission, boolean logprobs, RequestRecord record) {
        return collect(p, admission, logprobs, record, true);
    }

    /** As above, for one choice of several (n &gt; 1): only the first times the request's first token. */
    CompletionStage<Collected> collect(Prepared p, TenantGate.Admission admission, boolean logprobs, RequestRecord record,
                                       boolean firstChoice) {
        ServedModel model = p.served();
        GenerationRequest request = p.request();
        long start = System.nanoTime();
        long[] endedAt = new long[1]; // written on the delivering thread before end completes
        CompletableFuture<GenerationEvent> end = new CompletableFuture<>();
        TokenAccumulator tokens = new TokenAccumulator(model, metrics, record, logprobs, firstChoice);
        model.replica().submit(request, e -> {
            if (e instanceof GenerationEvent.Tokens t) {
                tokens.add(t);
            } else {
                endedAt[0] = System.nanoTime();
                end.complete(e);
            }
        });
        return backstop(end).handleAsync((e, t) -> {
            long handedOff = System.nanoTime();
            if (t != null) {
                model.replica().cancel(request.requestId());
                admission.ended(0);
                finish(record, 504);
                e = new GenerationEvent.Failed(request.requestId(), GenerationEvent.FailureKind.DEADLINE_EXCEEDED,
                        "the request did not finish in time", 0, 0);
            } else if (e instanceof GenerationEvent.Failed f) {
                // A refused request used nothing.
                admission.ended(f.kind() == GenerationEvent.FailureKind.QUEUE_FULL ? 0 : f.promptTokens() + f.completionTokens());
                failedWith(record, f);
                finish(record, ApiError.forFailure(f.kind(), f.message()).status());
            }
            return new Collected(model, request, tokens, e, start, endedAt[0], handedOff, record);
        }, system.executionContext());
    }

    /** Closes a finished plain request: counts its tokens, records its usage (completes once the ledger has it), ends it with 200. */
    public CompletionStage<Void> finished(Collected c, TenantGate.Admission admission) {
        return finished(c.record(), (GenerationEvent.Finished) c.end(), admission);
    }

    /** As above for a request whose choices all finished: {@code all} is their sum ({@link #allChoices}). */
    CompletionStage<Void> finished(RequestRecord record, GenerationEvent.Finished all, TenantGate.Admission admission) {
        finishedWith(record, all);
        return admission.finished(all.promptTokens(), all.completionTokens()).thenApply(x -> {
            finish(record, 200);
            return null;
        });
    }

    /**
     * A prompt's n choices, each a request bound to a replica of its own (a bound replica carries one request's
     * failover state): the first is {@code first}; choice i is its id + "-" + i and samples with seed + i when a seed
     * was given (so seeded choices differ and each is reproducible). 503 when no replica is ready for one.
     */
    public static List<Prepared> choices(Prepared first, int n) {
        List<Prepared> out = new java.util.ArrayList<>(n);
        out.add(first);
        GenerationRequest r = first.request();
        for (int i = 1; i < n; i++) {
            dev.troupe.engine.sampling.SamplingParams p = r.params();
            if (p.seed() != null) p = p.toBuilder().seed(p.seed() + i).build();
            out.add(new Prepared(routed(first.served(), r.promptTokens()), new GenerationRequest(r.requestId() + "-" + i,
                    r.promptTokens(), p, r.deadlineNanos(), r.tenant(), r.weight(), 0, r.traceParent())));
        }
        return out;
    }

    /**
     * What a request's finished choices add up to: the prompt once (it is the same prompt), every choice's
     * completion tokens, the first choice's finish reason and queue time.
     */
    static GenerationEvent.Finished allChoices(List<GenerationEvent.Finished> each) {
        GenerationEvent.Finished first = each.get(0);
        int completion = 0;
        for (GenerationEvent.Finished f : each) completion += f.completionTokens();
        return new GenerationEvent.Finished(first.requestId(), first.reason(), first.promptTokens(), completion, first.queueNanos());
    }

    /** A request's Finished event: its tokens counted, its finish reason and replica queue time noted for its end. */
    public void finishedWith(RequestRecord record, GenerationEvent.Finished f) {
        ServedModel model = record.served;
        metrics.promptTokens.labelValues(model.name(), model.version()).inc(f.promptTokens());
        metrics.completionTokens.labelValues(model.name(), model.version()).inc(f.completionTokens());
        record.tokens(f.promptTokens(), f.completionTokens());
        record.finishReason = f.reason().openAi();
        record.queueNanos = f.queueNanos();
    }

    /** A request's Failed event: what it used before, for its log line and span. */
    public void failedWith(RequestRecord record, GenerationEvent.Failed f) {
        record.tokens(f.promptTokens(), f.completionTokens());
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
     * An accepted request ended with this status (499: the client went away), once: it leaves the in-flight
     * count; metrics by version (a request refused before a version served it is counted under version
     * "none"), the canary monitor's view of the version (server-side failures count against it), its log
     * line and its span.
     */
    public void finish(RequestRecord r, int status) {
        if (!r.close()) return;
        inFlight.decrementAndGet();
        long end = System.nanoTime();
        long nanos = end - r.accepted;
        ServedModel model = r.served;
        String reason = finishReason(r, status);
        if (model == null) {
            metrics.requests.labelValues(r.model, HttpApi.NO_VERSION, r.endpoint, String.valueOf(status)).inc();
        } else {
            metrics.requestDuration.labelValues(model.name(), model.version(), r.endpoint).observe(nanos / 1e9);
            String outcome = status == 200 ? "ok" : status == 499 ? "cancelled" : String.valueOf(status);
            metrics.requests.labelValues(model.name(), model.version(), r.endpoint, outcome).inc();
            if (!r.endpoint.equals("embeddings")) metrics.generationFinished(model.name(), model.version(), r.tenant, reason, status == 200,
                    r.promptTokens, r.completionTokens);
            ModelCatalog.Entry entry = models.get(model.name());
            if (status != 499 && entry != null) entry.canary().record(model.version(), nanos, status >= 500);
        }
        RequestLog.finished(r, status, reason, end);
        endSpan(r, status, reason, end);
    }

    /**
     * A request refused before it reached a replica, already counted by its front end and out of the in-flight
     * count: its log line and its span only.
     */
    public void refused(RequestRecord r, int status) {
        if (!r.close()) return;
        long end = System.nanoTime();
        String reason = finishReason(r, status);
        RequestLog.finished(r, status, reason, end);
        endSpan(r, status, reason, end);
    }

    /**
     * How a request ended, in vLLM's finish-reason terms where it has them: stop or length (finished; ok for embeddings),
     * cancelled (the client went away), timeout, rejected (refused: over a quota, queue full, too long, not
     * served) or error (the server failed it).
     */
    static String finishReason(RequestRecord r, int status) {
        if (status == 200) return r.finishReason != null ? r.finishReason : "ok"; // embeddings have no finish reason
        if (status == 499) return "cancelled";
        if (status == 504) return "timeout";
        if (status < 500 || status == 503) return "rejected";
        return "error";
    }

    private void endSpan(RequestRecord r, int status, String reason, long end) {
        Span span = r.span;
        ServedModel model = r.served;
        if (model != null) {
            span.attribute("gen_ai.response.model", model.name())
                    .attribute("troupe.model.version", model.version())
                    .attribute("troupe.node", model.replica().node());
        }
        span.attribute("gen_ai.response.id", r.generationId)
                .attribute("gen_ai.usage.input_tokens", (long) r.promptTokens)
                .attribute("http.response.status_code", (long) status);
        if (!r.endpoint.equals("embeddings")) {
            span.attribute("gen_ai.usage.output_tokens", (long) r.completionTokens)
                    .attribute("gen_ai.response.finish_reasons", java.util.List.of(reason));
        }
        if (r.firstToken != 0) {
            // Time to first token as an attribute (for queries) and as the event it was (for timelines).
            span.attribute("gen_ai.server.time_to_first_token", (r.firstToken - r.accepted) / 1e9)
                    .event("gen_ai.first_token", tracer.epochNanos(r.firstToken), java.util.Map.of());
        }
        if (r.queueNanos >= 0) span.attribute("troupe.queue_time", r.queueNanos / 1e9);
        if (status >= 500) span.attribute("error.type", String.valueOf(status)).error(reason);
        tracer.end(span, end);
    }
}
