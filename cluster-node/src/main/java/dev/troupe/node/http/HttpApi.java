package dev.troupe.node.http;

import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.actors.replica.GenerationRequest;
import dev.troupe.actors.replica.Replica;
import dev.troupe.actors.tenant.TenantDirectory;
import dev.troupe.node.openai.ApiError;
import dev.troupe.node.openai.CompletionRequest;
import dev.troupe.node.openai.EmbeddingRequest;
import dev.troupe.node.openai.LogprobsAccumulator;
import dev.troupe.node.openai.ChatTemplate;
import dev.troupe.node.openai.ToolCallParser;
import dev.troupe.node.openai.ToolCallStream;
import dev.troupe.node.openai.Tokenization;
import dev.troupe.node.openai.RequestParser;
import dev.troupe.node.openai.ResponseRenderer;
import dev.troupe.node.deploy.ModelCatalog;
import dev.troupe.node.deploy.VersionRouter;
import dev.troupe.node.tracing.TraceContext;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpEntity;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.ExceptionHandler;
import org.apache.pekko.http.javadsl.server.RejectionHandler;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.apache.pekko.http.javadsl.server.PathMatchers.segment;

/**
 * The OpenAI-compatible HTTP API, health and metrics. Requests are validated here (precise 4xx with
 * OpenAI error bodies), tokenized, and sent to the model's Replica entity; generated text comes back as
 * events and leaves as one JSON response or as Server-Sent Events. Prompt and completion text are never
 * logged.
 */
public final class HttpApi extends AllDirectives {
    private static final Logger log = LoggerFactory.getLogger(HttpApi.class);
    private static final SecureRandom IDS = new SecureRandom();
    private static final java.util.HexFormat HEX = java.util.HexFormat.of();
    /** A client's own request id: it picks the version under a canary split (retries stay on one version). */
    public static final String REQUEST_ID_HEADER = "X-Request-Id";
    /** Which version of the model served the response. */
    public static final String VERSION_HEADER = "X-Troupe-Version";
    /** Which node's replica generated the response ({@code host:port} of its cluster address). */
    public static final String NODE_HEADER = "X-Troupe-Node";
    /** The version label of requests refused before a version was chosen. */
    static final String NO_VERSION = "none";
    /** The model label of requests refused before their model was known. */
    static final String NO_MODEL = "none";

    private final ActorSystem<?> system;
    private final Materializer materializer;
    private final ModelCatalog models;
    private final HttpSettings settings;
    private final NodeMetrics metrics;
    private final TenantGate gate;
    private final MetricsAccess metricsAccess;
    private final BrowserGuard browserGuard;
    private final Cors cors;
    private final Gateway gateway;
    /** Requests accepted (past the draining check) and not yet answered completely: the gateway's, shared with the embedded API. */
    private final AtomicInteger inFlight;
    /** Accepted requests not yet handed to a replica: a drain waits for them before it drains the replicas. */
    private final AtomicInteger starting;

    /**
     * The HTTP front end of the node's request path, served as {@code bound} says (its address decides the
     * Host names a loopback server answers); tenant-labelled metrics only to whom metricsAccess lets see them.
     */
    public HttpApi(Gateway gateway, HttpSettings bound, MetricsAccess metricsAccess) {
        this.gateway = gateway;
        this.gate = gateway.gate();
        this.system = gateway.system();
        this.metricsAccess = metricsAccess;
        this.browserGuard = new BrowserGuard(bound.host(), bound.allowedHosts());
        this.cors = new Cors(bound.corsOrigins());
        this.materializer = Materializer.matFromSystem(system);
        this.models = gateway.models();
        this.settings = gateway.settings();
        this.metrics = gateway.metrics();
        this.inFlight = gateway.inFlight;
        this.starting = gateway.starting;
    }

    /**
     * The server's per-connection handler for these routes: each connection gets a {@link ConnectionScope},
     * so requests still waiting for their answer are cancelled when their client goes away.
     */
    public org.apache.pekko.stream.javadsl.Flow<org.apache.pekko.http.javadsl.model.HttpRequest, HttpResponse, ?> handler(Route routes) {
        return ConnectionScope.watching(guarded(routes).flow(system));
    }

    /**
     * Every route behind the Host check (DNS rebinding: {@link BrowserGuard}), admin bodies bounded like the
     * API's, and every rejection and exception answered with an OpenAI error body.
     */
    Route guarded(Route routes) {
        return withRequestId(() -> cors(() -> handleExceptions(exceptions(), () -> handleRejections(rejections(), () -> hostChecked(routes)))));
    }

    /**
     * Every response carries X-Request-Id: the client's (when it is a sane token) or a fresh one. The routes
     * see that id in the request's own X-Request-Id header (an insane one is replaced), for their logs.
     */
    private Route withRequestId(java.util.function.Supplier<Route> inner) {
        return optionalHeaderValueByName(REQUEST_ID_HEADER, given -> {
            String id = given.filter(HttpApi::saneRequestId).orElseGet(() -> "req-" + randomId());
            return mapRequest(q -> given.isPresent() && given.get().equals(id) ? q
                            : q.removeHeader(REQUEST_ID_HEADER).addHeader(RawHeader.create(REQUEST_ID_HEADER, id)),
                    () -> mapResponse(r -> r.getHeader(REQUEST_ID_HEADER).isPresent() ? r : r.addHeader(RawHeader.create(REQUEST_ID_HEADER, id)),
                    inner));
        });
    }

    /**
     * W3C trace context for a request: the caller's traceparent (when valid) is the parent of this request's
     * span, whose own traceparent every response carries (a new trace when the caller sent none).
     */
    private Route traced(java.util.function.BiFunction<TraceContext, TraceContext, Route> inner) {
        return optionalHeaderValueByName(TraceContext.HEADER, header -> {
            TraceContext parent = TraceContext.parse(header.orElse(null));
            TraceContext self = TraceContext.childOf(parent);
            return mapResponse(r -> r.addHeader(RawHeader.create(TraceContext.HEADER, self.traceparent())), () -> inner.apply(parent, self));
        });
    }

    static boolean saneRequestId(String id) {
        return !id.isEmpty() && id.length() <= 128 && id.chars().allMatch(c -> c > 0x20 && c < 0x7f);
    }

    /**
     * CORS for the origins {@link Cors} allows: preflights answered here (204, or 403 for any other origin), and
     * the allow headers on every answer to an allowed origin.
     */
    private Route cors(java.util.function.Supplier<Route> inner) {
        return optionalHeaderValueByName("Origin", origin -> extractRequest(req -> {
            boolean allowed = cors.allowed(origin);
            boolean preflight = req.method().value().equals("OPTIONS") && req.getHeader("Access-Control-Request-Method").isPresent();
            if (preflight) {
                if (!allowed) {
                    return complete(error(new ApiError(403, "permission_error", "origin " + origin.orElse("(none)")
                            + " may not call this API (troupe.http.cors.allowed-origins)", null, "origin_not_allowed")));
                }
                return complete(HttpResponse.create().withStatus(StatusCodes.NO_CONTENT).addHeaders(List.of(
                        RawHeader.create("Access-Control-Allow-Origin", origin.get()),
                        RawHeader.create("Access-Control-Allow-Methods", Cors.ALLOW_METHODS),
                        RawHeader.create("Access-Control-Allow-Headers", Cors.ALLOW_HEADERS),
                        RawHeader.create("Access-Control-Max-Age", "600"),
                        RawHeader.create("Vary", "Origin"))));
            }
            if (!allowed) return inner.get();
            return mapResponse(r -> r.addHeaders(List.of(
                    RawHeader.create("Access-Control-Allow-Origin", origin.get()),
                    RawHeader.create("Access-Control-Expose-Headers", Cors.EXPOSE_HEADERS),
                    RawHeader.create("Vary", "Origin"))), inner);
        }));
    }

    private Route hostChecked(Route routes) {
        return optionalHeaderValueByName("Host", host -> {
            if (!browserGuard.hostAllowed(host)) {
                return complete(error(new ApiError(403, "permission_error", "this node answers only requests addressed to "
                        + settings.host() + " or localhost (Host header; troupe.http.allowed-hosts)", null, "host_not_allowed")));
            }
            // The admin and internal routes read their bodies whole: within the same size and time bounds as the API's.
            return extractUri(uri -> uri.path().startsWith("/admin") || uri.path().startsWith("/internal")
                    ? toStrictEntity(settings.bodyTimeout(), settings.maxBodyBytes(), () -> routes)
                    : routes);
        });
    }

    public Route route() {
        return route(true);
    }

    /**
     * The routes; a node without the gateway role (troupe.cluster.roles) answers only health and metrics, and
     * sends API clients to a gateway with a 404.
     */
    public Route route(boolean gateway) {
        Route api = gateway ? concat(
                path(segment("v1").slash("completions"), () -> post(() -> generate(false))),
                path(segment("v1").slash("chat").slash("completions"), () -> post(() -> generate(true))),
                path(segment("v1").slash("models"), () -> get(this::models)),
                path(segment("v1").slash("models").slash(segment()), id -> get(() -> model(id))),
                path(segment("v1").slash("embeddings"), () -> post(this::embeddings)),
                path("tokenize", () -> post(this::tokenize)),
                path("detokenize", () -> post(this::detokenize)))
                : pathPrefix("v1", () -> complete(error(ApiError.notFound("This node is a worker only (troupe.cluster.roles): "
                        + "send API requests to a gateway node.", null, "not_a_gateway"))));
        // Rejections (404, 405) and exceptions are answered once for all routes, in handler(): a 404 here would
        // hide another route's method rejection.
        return concat(
                api,
                path(segment("health").slash("live"), () -> get(() -> complete(json(StatusCodes.OK, "{\"status\":\"live\"}")))),
                path(segment("health").slash("ready"), () -> get(this::ready)),
                // Tenant-labelled series only for a scraper with the scrape (or admin) token: docs/tenants.md.
                path("metrics", () -> get(() -> optionalHeaderValueByName("Authorization", auth -> complete(HttpResponse.create().withEntity(
                        HttpEntities.create(ContentTypes.parse(metrics.contentType()),
                                ByteString.fromString(metrics.scrape(metricsAccess.tenants(auth)))))))))
        );
    }

    // ------------------------------------------------------------------ completions and chat

    private Route generate(boolean chat) {
        String endpoint = chat ? "chat" : "completions";
        return extractRequest(http -> traced((parent, self) -> optionalHeaderValueByName(REQUEST_ID_HEADER, clientId -> tenantHeaders((auth, idempotencyKey) -> withBody(body -> {
            long accepted = System.nanoTime();
            if (gateway.draining()) throw ApiError.unavailable("the server is shutting down");
            TenantDirectory.Principal who = gate.authenticate(auth);
            CompletionRequest req = chat ? RequestParser.parseChat(body) : RequestParser.parseCompletion(body);
            String id = (chat ? "chatcmpl-" : "cmpl-") + randomId();
            // withRequestId gave every request an id: the client's when it sent one.
            String requestId = clientId.filter(x -> !x.isBlank()).orElse(id);
            RequestRecord record = gateway.open(requestId, id, who, req.model(), endpoint, req, parent, self, accepted);
            Gateway.Prepared prepared;
            List<Gateway.Prepared> choices;
            try {
                // The canary split hashes the request id, so a client's retries with its own id stay on one version.
                prepared = gateway.prepare(who, req, id, requestId, System.nanoTime() + settings.requestTimeout().toNanos(), record);
                choices = Gateway.choices(prepared, req.n());
            } catch (ApiError e) {
                // Counted by withBody, like the refusals before it; its log line and span end here.
                gateway.refused(record, e.status());
                throw e;
            }
            ServedModel served = prepared.served();
            return admitted(record, gate.admit(who, idempotencyKey, id, req.model()),
                    admission -> run(choices, req, record, admission, ConnectionScope.of(http)))
                    .thenApply(r -> served(r, served));
        }, endpoint)))));
    }

    /** A response of the replica's: which version it is and which node generated it. */
    private static HttpResponse served(HttpResponse r, ServedModel model) {
        return r.addHeader(RawHeader.create(VERSION_HEADER, model.version())).addHeader(RawHeader.create(NODE_HEADER, model.replica().node()));
    }

    private static ServedModel routed(ServedModel version, int[] prompt) {
        return Gateway.routed(version, prompt);
    }

    private static ServedModel pick(String model, VersionRouter router, String requestKey) {
        return Gateway.pick(model, router, requestKey);
    }

    /** The headers the tenant gate needs: Authorization and Idempotency-Key. */
    private Route tenantHeaders(java.util.function.BiFunction<Optional<String>, Optional<String>, Route> inner) {
        return optionalHeaderValueByName("Authorization", auth ->
                optionalHeaderValueByName("Idempotency-Key", key -> inner.apply(auth, key)));
    }

    /**
     * Runs the request on its version's replica, on this node or another (one path for both). Until its
     * response has started (queued, or generating a plain response), the request is cancelled if its
     * client's connection closes; a started stream cancels itself when the client goes away.
     */
    private CompletionStage<HttpResponse> run(List<Gateway.Prepared> choices, CompletionRequest req, RequestRecord record,
                                              TenantGate.Admission admission, ConnectionScope connection) {
        Runnable cancel = () -> {
            for (Gateway.Prepared c : choices) c.served().replica().cancel(c.request().requestId());
        };
        ConnectionScope.Registration untilAnswered = connection.onClose(cancel);
        CompletionStage<HttpResponse> response = req.stream()
                ? streamed(choices, req, record, admission, cancel, untilAnswered::remove)
                : collected(choices, req, record, admission, cancel);
        // A stream's own end releases the registration (see stream); any other response ends the request.
        return response.whenComplete((r, t) -> {
            if (t != null || !r.entity().isChunked()) untilAnswered.remove();
        });
    }

    /**
     * A plain (non-streaming) request through the gateway's collecting path (the replica's thread only
     * accumulates); the response is rendered on the actor system's dispatcher and completes once its usage
     * is recorded. Several choices run side by side; the first to fail cancels the others and answers.
     */
    private CompletionStage<HttpResponse> collected(List<Gateway.Prepared> choices, CompletionRequest req,
                                                    RequestRecord record, TenantGate.Admission admission, Runnable cancel) {
        ServedModel model = choices.get(0).served();
        List<CompletableFuture<Gateway.Collected>> each = new ArrayList<>(choices.size());
        for (int i = 0; i < choices.size(); i++) {
            CompletableFuture<Gateway.Collected> c = gateway.collect(choices.get(i), admission,
                    req.logprobs() >= 0, record, i == 0).toCompletableFuture();
            c.thenAccept(x -> {
                if (x.end() instanceof GenerationEvent.Failed) cancel.run();
            });
            each.add(c);
        }
        return CompletableFuture.allOf(each.toArray(new CompletableFuture[0])).thenCompose(x -> {
            GenerationEvent.Failed failed = null;
            for (CompletableFuture<Gateway.Collected> f : each) {
                // The choice that failed first, not the others it cancelled.
                if (f.join().end() instanceof GenerationEvent.Failed one && (failed == null || failed.kind() == GenerationEvent.FailureKind.CANCELLED)) {
                    failed = one;
                }
            }
            if (failed != null) return CompletableFuture.completedFuture(error(failure(failed)));
            List<String> bodies = new ArrayList<>(each.size());
            List<GenerationEvent.Finished> ends = new ArrayList<>(each.size());
            for (CompletableFuture<Gateway.Collected> f : each) {
                Gateway.Collected c = f.join();
                ends.add((GenerationEvent.Finished) c.end());
                bodies.add(render(model, c.request(), req, c.tokens(), (GenerationEvent.Finished) c.end()));
            }
            GenerationEvent.Finished all = Gateway.allChoices(ends);
            String body = bodies.size() == 1 ? bodies.get(0) : ResponseRenderer.merged(bodies, all.promptTokens(), all.completionTokens());
            Gateway.Collected first = each.get(0).join();
            return gateway.finished(record, all, admission).thenApply(v -> json(StatusCodes.OK, body).addHeader(RawHeader.create(
                    "Server-Timing", serverTiming(record.accepted, first.submitted(), first.ended(), first.handedOff(), System.nanoTime()))));
        });
    }

    private <T> CompletableFuture<T> backstop(CompletableFuture<T> f) {
        return gateway.backstop(f);
    }

    /**
     * A request that ended before its response could start (t: no event in time, e: a refusal or failure):
     * the error response, with the request's accounting closed; null when it goes on.
     */
    private HttpResponse endedBeforeResponse(ServedModel model, GenerationRequest request, RequestRecord record, TenantGate.Admission admission,
                                             GenerationEvent e, Throwable t) {
        if (t != null) {
            model.replica().cancel(request.requestId());
            admission.ended(0);
            gateway.finish(record, 504);
            return error(ApiError.timeout("the request did not finish in time"));
        }
        if (e instanceof GenerationEvent.Failed f) {
            // A refused request used nothing.
            admission.ended(f.kind() == GenerationEvent.FailureKind.QUEUE_FULL ? 0 : f.promptTokens() + f.completionTokens());
            gateway.failedWith(record, f);
            gateway.finish(record, statusOf(f));
            return error(failure(f));
        }
        return null;
    }

    /**
     * A streaming request: its events go from the replica's delivering thread (the local step loop, or this
     * node's stream receiver) into the response through a {@link ResponseEventSource} per choice (tokens merged
     * while the response is behind), without an actor per request. The response starts once every choice has
     * started (its prefill runs) or sent its first event; a refusal of any cancels the others and answers.
     */
    private CompletionStage<HttpResponse> streamed(List<Gateway.Prepared> choices, CompletionRequest req,
                                                   RequestRecord record, TenantGate.Admission admission, Runnable cancel,
                                                   Runnable streamEnded) {
        ServedModel model = choices.get(0).served();
        List<ResponseEventSource> sources = new ArrayList<>(choices.size());
        List<CompletableFuture<GenerationEvent>> firsts = new ArrayList<>(choices.size());
        for (Gateway.Prepared c : choices) {
            ResponseEventSource events = new ResponseEventSource();
            c.served().replica().submit(c.request(), events);
            sources.add(events);
            firsts.add(backstop(events.first()));
        }
        // Off the delivering thread (the first event completes there) before anything is built.
        return CompletableFuture.allOf(firsts.toArray(new CompletableFuture[0])).handleAsync((x, ignored) -> {
            for (int i = 0; i < choices.size(); i++) {
                CompletableFuture<GenerationEvent> f = firsts.get(i);
                Throwable t = f.isCompletedExceptionally() ? f.handle((e, err) -> err).join() : null;
                HttpResponse failed = endedBeforeResponse(choices.get(i).served(), choices.get(i).request(), record, admission,
                        t == null ? f.join() : null, t);
                if (failed != null) {
                    cancel.run();
                    return failed;
                }
            }
            Source<Choice, NotUsed> all = Source.empty();
            for (int i = 0; i < sources.size(); i++) {
                int index = i;
                Source<Choice, NotUsed> one = Source.fromGraph(sources.get(i))
                        .idleTimeout(settings.requestTimeout().plusSeconds(10))
                        .map(e -> new Choice(index, e));
                all = i == 0 ? one : all.merge(one);
            }
            return stream(model, choices, req, record, all, admission, cancel, streamEnded);
        }, system.executionContext());
    }

    /** An event of one of a request's choices. */
    private record Choice(int index, GenerationEvent event) {}

    /**
     * The SSE response over a request's events, its choices' chunks as they come: when every choice has finished,
     * the usage is recorded (the prompt once, all choices' completions) before the last chunks go; a choice that
     * fails ends the response with its error and cancels the others. cancel frees the sequences when the client
     * goes away first, ended runs when the stream is over either way.
     */
    private HttpResponse stream(ServedModel model, List<Gateway.Prepared> requests, CompletionRequest req, RequestRecord record,
                                Source<Choice, NotUsed> events, TenantGate.Admission admission, Runnable cancel, Runnable ended) {
        long created = System.currentTimeMillis() / 1000;
        String id = requests.get(0).request().requestId();
        int n = requests.size();
        ChatTemplate.ToolCallFormat calls = toolCallFormat(model, req);
        ChoiceChunks[] choices = new ChoiceChunks[n];
        for (int i = 0; i < n; i++) {
            choices[i] = new ChoiceChunks(i, req.chat(), id, created, model.name(),
                    new TokenAccumulator(model, metrics, record, req.logprobs() >= 0, i == 0), calls);
        }
        List<GenerationEvent.Finished> ends = new ArrayList<>(n);
        AtomicBoolean finished = new AtomicBoolean();
        AtomicInteger status = new AtomicInteger(499);
        Source<ByteString, NotUsed> sse = events.mapAsync(1, c -> {
            GenerationEvent e = c.event();
            if (finished.get()) return CompletableFuture.completedFuture(List.<ByteString>of()); // after a failure
            if (e instanceof GenerationEvent.Tokens t) return CompletableFuture.completedFuture(toBytes(choices[c.index()].tokens(t)));
            if (e instanceof GenerationEvent.Failed f) {
                finished.set(true);
                cancel.run();
                gateway.failedWith(record, f);
                admission.ended(f.promptTokens() + f.completionTokens());
                status.set(statusOf(f));
                return CompletableFuture.completedFuture(toBytes(List.of(failure(f).toJson())));
            }
            GenerationEvent.Finished f = (GenerationEvent.Finished) e;
            List<String> out = choices[c.index()].finished(f);
            ends.add(f);
            if (ends.size() < n) return CompletableFuture.completedFuture(toBytes(out));
            finished.set(true);
            GenerationEvent.Finished all = Gateway.allChoices(ends);
            if (req.includeUsage()) {
                out.add(ResponseRenderer.usageChunk(id, created, model.name(), req.chat(), all.promptTokens(), all.completionTokens()));
            }
            gateway.finishedWith(record, all);
            status.set(200);
            // The last chunks go on only once the usage is recorded.
            return admission.finished(all.promptTokens(), all.completionTokens()).thenApply(x -> toBytes(out));
        }).mapConcat(b -> b).concat(Source.single(ByteString.fromString(ResponseRenderer.SSE_DONE)))
                .recover(new org.apache.pekko.japi.pf.PFBuilder<Throwable, ByteString>()
                        .matchAny(t -> status.compareAndSet(499, 504) ? ByteString.fromString(ResponseRenderer.sse(
                                ApiError.timeout("the request did not finish in time").toJson()) + ResponseRenderer.SSE_DONE)
                                : ByteString.emptyByteString())
                        .build())
                .watchTermination((mat, done) -> {
                    done.whenComplete((d, t) -> {
                        // The client went away (or the stream broke) before the end: free the sequences.
                        if (!finished.get()) cancel.run();
                        admission.ended(0);
                        gateway.finish(record, status.get());
                        ended.run();
                    });
                    return mat;
                });
        return HttpResponse.create().withStatus(StatusCodes.OK)
                .addHeader(RawHeader.create("Cache-Control", "no-cache"))
                .withEntity(HttpEntities.createChunked(ContentTypes.create(MediaTypes.TEXT_EVENT_STREAM), sse));
    }

    /**
     * Where a plain request's time went inside the node (W3C Server-Timing, ms): {@code prep} parsing,
     * tokenizing and admission; {@code engine} from submission to the replica to its last event (queueing,
     * steps, the network for a remote replica, the delivering thread's wake-up); {@code handoff} from that
     * thread to the dispatcher; {@code finish} rendering and recording usage. Time outside these is Pekko
     * HTTP's and the network's.
     */
    private static String serverTiming(long accepted, long submitted, long ended, long handedOff, long done) {
        return String.format(java.util.Locale.ROOT, "prep;dur=%.3f, engine;dur=%.3f, handoff;dur=%.3f, finish;dur=%.3f",
                (submitted - accepted) / 1e6, (ended - submitted) / 1e6, (handedOff - ended) / 1e6, (done - handedOff) / 1e6);
    }

    /** The JSON body of a finished plain (non-streaming) completion or chat completion. */
    private String render(ServedModel model, GenerationRequest request, CompletionRequest req, TokenAccumulator tokens,
                          GenerationEvent.Finished f) {
        long created = System.currentTimeMillis() / 1000;
        ChatTemplate.ToolCallFormat calls = toolCallFormat(model, req);
        if (calls != ChatTemplate.ToolCallFormat.NONE) {
            ToolCallParser.Parsed parsed = ToolCallParser.parse(tokens.text(), calls);
            return ResponseRenderer.chatCompletion(request.requestId(), created, model.name(), parsed,
                    f.reason(), f.promptTokens(), f.completionTokens(), tokens.logprobs());
        }
        return req.chat()
                ? ResponseRenderer.chatCompletion(request.requestId(), created, model.name(), tokens.text(),
                        f.reason(), f.promptTokens(), f.completionTokens(), tokens.logprobs())
                : ResponseRenderer.completion(request.requestId(), created, model.name(), tokens.text(),
                        f.reason(), f.promptTokens(), f.completionTokens(), tokens.logprobs());
    }

    /**
     * How a chat reply is read for tool calls: a forced call is one JSON object (constrained decoding made it);
     * with tools offered, the form the model's template taught it; otherwise none.
     */
    private static ChatTemplate.ToolCallFormat toolCallFormat(ServedModel model, CompletionRequest req) {
        if (!req.chat() || !req.hasTools()) return ChatTemplate.ToolCallFormat.NONE;
        return req.forcedToolCall() ? ChatTemplate.ToolCallFormat.LLAMA3_JSON : model.chatTemplate().toolCallFormat();
    }

    private static List<ByteString> toBytes(List<String> jsons) {
        List<ByteString> out = new ArrayList<>(jsons.size());
        for (String j : jsons) out.add(ByteString.fromString(ResponseRenderer.sse(j)));
        return out;
    }

    private static int statusOf(GenerationEvent.Failed f) {
        return failure(f).status();
    }

    private static ApiError failure(GenerationEvent.Failed f) {
        return ApiError.forFailure(f.kind(), f.message());
    }

    // ------------------------------------------------------------------ models, embeddings, health

    private Route models() {
        return optionalHeaderValueByName("Authorization", auth -> {
            TenantDirectory.Principal who = gate.authenticate(auth);
            List<dev.troupe.node.openai.ModelEntry> entries = new ArrayList<>();
            for (ModelCatalog.Entry m : models.all()) {
                if (m.deployments().hasLive() && gate.visible(who, m.name())) {
                    entries.add(new dev.troupe.node.openai.ModelEntry(m.name(), created(m.deployments().router())));
                }
            }
            return complete(json(StatusCodes.OK, ResponseRenderer.models(entries)));
        });
    }

    /** {@code GET /v1/models/{id}}: one model the caller may use, else 404 as OpenAI answers it. */
    private Route model(String id) {
        return optionalHeaderValueByName("Authorization", auth -> {
            TenantDirectory.Principal who = gate.authenticate(auth);
            ModelCatalog.Entry m = models.get(id);
            if (m == null || !m.deployments().hasLive() || !gate.visible(who, m.name())) {
                throw ApiError.notFound("The model '" + id + "' does not exist", "model", "model_not_found");
            }
            return complete(json(StatusCodes.OK, ResponseRenderer.model(
                    new dev.troupe.node.openai.ModelEntry(m.name(), created(m.deployments().router())))));
        });
    }

    /** vLLM's {@code POST /tokenize}: parse here, tokenize in {@link Tokenization}. */
    private Route tokenize() {
        return tenantHeaders((auth, idempotencyKey) -> withBody(body -> {
            TenantDirectory.Principal who = gate.authenticate(auth);
            Tokenization.TokenizeRequest req = RequestParser.parseTokenize(body);
            VersionRouter router = requireModel(req.model());
            gate.requireAllowed(who, req.model());
            ServedModel version = pick(req.model(), router, randomId());
            return answered(version, "tokenize",
                    Tokenization.tokenize(req, version.chatTemplate(), version.tokenizer(), version.contextLength()));
        }, "tokenize"));
    }

    /** vLLM's {@code POST /detokenize}. */
    private Route detokenize() {
        return tenantHeaders((auth, idempotencyKey) -> withBody(body -> {
            TenantDirectory.Principal who = gate.authenticate(auth);
            Tokenization.DetokenizeRequest req = RequestParser.parseDetokenize(body);
            VersionRouter router = requireModel(req.model());
            gate.requireAllowed(who, req.model());
            ServedModel version = pick(req.model(), router, randomId());
            return answered(version, "detokenize", Tokenization.detokenize(req, version.tokenizer()));
        }, "detokenize"));
    }

    /** A 200 computed on this node without a replica: ends the request's in-flight count (no canary latency sample). */
    private CompletionStage<HttpResponse> answered(ServedModel model, String endpoint, String body) {
        inFlight.decrementAndGet();
        metrics.requests.labelValues(model.name(), model.version(), endpoint, "ok").inc();
        return CompletableFuture.completedFuture(json(StatusCodes.OK, body));
    }

    private Route embeddings() {
        return extractRequest(http -> traced((parent, self) -> optionalHeaderValueByName(REQUEST_ID_HEADER, requestId -> tenantHeaders((auth, idempotencyKey) -> withBody(body -> {
            long accepted = System.nanoTime();
            if (gateway.draining()) throw ApiError.unavailable("the server is shutting down");
            TenantDirectory.Principal who = gate.authenticate(auth);
            EmbeddingRequest req = RequestParser.parseEmbeddings(body);
            String id = "embd-" + randomId();
            RequestRecord record = gateway.open(requestId.orElse(id), id, who, req.model(), "embeddings", null, parent, self, accepted);
            try {
                return embeddings(who, req, record, idempotencyKey, ConnectionScope.of(http));
            } catch (ApiError e) {
                gateway.refused(record, e.status());
                throw e;
            }
        }, "embeddings")))));
    }

    /** An embeddings request, parsed: its inputs tokenized on the version chosen, then admitted and run. */
    private CompletionStage<HttpResponse> embeddings(TenantDirectory.Principal who, EmbeddingRequest req, RequestRecord record,
                                                     Optional<String> idempotencyKey, ConnectionScope connection) {
        VersionRouter router = requireModel(req.model());
        gate.requireAllowed(who, req.model());
        ServedModel version = pick(req.model(), router, randomId());
        int[][] inputs = new int[req.inputs().size()][];
        int total = 0;
        for (int i = 0; i < inputs.length; i++) {
            int[] t = version.tokenizer().encode(req.inputs().get(i), version.tokenizer().addBosByDefault());
            if (t.length > version.contextLength()) {
                throw ApiError.badRequest("input[" + i + "] has " + t.length + " tokens; this model's maximum context length is "
                        + version.contextLength() + " tokens", "input", "context_length_exceeded");
            }
            inputs[i] = t;
            total += t.length;
        }
        ServedModel model = routed(version, inputs[0]);
        record.served(model);
        record.tokens(total, 0);
        int promptTokens = total;
        return admitted(record, gate.admit(who, idempotencyKey, record.generationId, req.model()),
                admission -> embed(model, inputs, promptTokens, admission, req.base64(), record, connection));
    }

    /**
     * The embeddings of an admitted request's inputs, as one request on the chosen replica (which runs it in
     * step-sized chunks between generation steps); cancelled there if the client's connection closes first.
     */
    private CompletionStage<HttpResponse> embed(ServedModel model, int[][] inputs, int promptTokens, TenantGate.Admission admission,
                                                boolean base64, RequestRecord record, ConnectionScope connection) {
        String id = record.generationId;
        ConnectionScope.Registration untilAnswered = connection.onClose(() -> model.replica().cancel(id));
        return model.replica().embed(id, inputs, settings.requestTimeout()).<CompletionStage<HttpResponse>>handle((vectors, t) -> {
            untilAnswered.remove();
            if (t != null) {
                GenerationEvent.FailureKind kind = Replica.failureKind(t);
                if (kind != GenerationEvent.FailureKind.CANCELLED) model.replica().cancel(id); // a timeout here
                ApiError e = ApiError.forFailure(kind, "embedding failed: " + Replica.rootMessage(t));
                // A refused request used nothing.
                admission.ended(kind == GenerationEvent.FailureKind.QUEUE_FULL || kind == GenerationEvent.FailureKind.SHUTTING_DOWN ? 0 : promptTokens);
                gateway.finish(record, e.status());
                if (e.status() >= 500) log.warn("embedding failed: {}", Replica.rootMessage(t));
                return CompletableFuture.completedFuture(error(e));
            }
            HttpResponse ok = served(json(StatusCodes.OK, ResponseRenderer.embeddings(model.name(), java.util.Arrays.asList(vectors),
                    promptTokens, base64)), model);
            return admission.finished(promptTokens, 0).thenApply(x -> {
                gateway.finish(record, 200);
                return ok;
            });
        }).thenCompose(r -> r);
    }

    /**
     * Goes on with an admitted request; a refused admission (429 over a quota) is answered here, counted
     * like the other refusals before a version serves the request, and ends the request's count.
     */
    private CompletionStage<HttpResponse> admitted(RequestRecord record, CompletionStage<TenantGate.Admission> admission,
                                                   java.util.function.Function<TenantGate.Admission, CompletionStage<HttpResponse>> then) {
        // Still on its way to a replica until admitted: a drain waits for it (see starting()).
        starting.incrementAndGet();
        return admission.handle((a, t) -> {
            try {
                if (t == null) return then.apply(a);
            } finally {
                starting.decrementAndGet();
            }
            Throwable c = t instanceof java.util.concurrent.CompletionException && t.getCause() != null ? t.getCause() : t;
            ApiError e = c instanceof ApiError api ? api : internal(c);
            // Refused before its replica: counted under no version.
            record.served(null);
            gateway.finish(record, e.status());
            return CompletableFuture.completedFuture(error(e));
        }).thenCompose(r -> r);
    }

    /**
     * Ready when every model with a live version has a version serving traffic and every version in each
     * traffic table answers a fresh probe (a node that knows no model yet is ready: it takes admin calls).
     */
    private Route ready() {
        List<CompletableFuture<String>> parts = new ArrayList<>();
        for (ModelCatalog.Entry m : models.all()) {
            if (m.deployments().hasLive()) parts.add(readiness(m.name(), m.deployments().router()));
        }
        return completeWithFuture(CompletableFuture.allOf(parts.toArray(new CompletableFuture[0])).thenApply(x -> {
            List<String> each = new ArrayList<>();
            for (CompletableFuture<String> p : parts) each.add(p.join());
            boolean ok = !gateway.draining() && each.stream().allMatch(p -> p.contains("\"ready\":true"));
            String body = "{\"status\":\"" + (ok ? "ready" : "not ready") + "\"" + (gateway.draining() ? ",\"reason\":\"shutting down\"" : "")
                    + ",\"models\":{" + String.join(",", each) + "}}";
            return json(ok ? StatusCodes.OK : StatusCodes.SERVICE_UNAVAILABLE, body);
        }));
    }

    /** One model's readiness as {@code "name":{"ready":..,"versions":{..}}}: each version it routes to probed afresh. */
    private CompletableFuture<String> readiness(String name, VersionRouter router) {
        List<ServedModel> versions = router.versions();
        String key = com.fasterxml.jackson.databind.node.TextNode.valueOf(name).toString();
        if (versions.isEmpty()) {
            return CompletableFuture.completedFuture(key + ":{\"ready\":false,\"reason\":\"no version is ready\"}");
        }
        List<CompletableFuture<String>> probes = new ArrayList<>();
        for (ServedModel version : versions) {
            ServedModel m = version.routed(new int[0]);
            if (m == null) {
                probes.add(CompletableFuture.completedFuture("\"" + version.version() + "\":{\"ready\":false,\"reason\":\"no replica is ready\"}"));
                continue;
            }
            probes.add(m.replica().probe(Duration.ofSeconds(2)).toCompletableFuture()
                    .thenApply(p -> {
                        boolean ok = !p.draining() && p.heartbeatAgeMillis() <= settings.maxHeartbeatAge().toMillis();
                        return String.format("\"%s\":{\"ready\":%b,\"heartbeat_age_ms\":%d,\"running\":%d,\"waiting\":%d}",
                                m.version(), ok, p.heartbeatAgeMillis(), p.stats() == null ? 0 : p.stats().running(),
                                p.stats() == null ? 0 : p.stats().waiting());
                    })
                    .exceptionally(t -> "\"" + m.version() + "\":{\"ready\":false,\"reason\":\"replica did not answer\"}"));
        }
        return CompletableFuture.allOf(probes.toArray(new CompletableFuture[0])).thenApply(x -> {
            List<String> each = new ArrayList<>();
            for (CompletableFuture<String> p : probes) each.add(p.join());
            boolean ok = each.stream().allMatch(p -> p.contains("\"ready\":true"));
            return key + ":{\"ready\":" + ok + ",\"versions\":{" + String.join(",", each) + "}}";
        });
    }

    /** When the model was first registered (OpenAI's "created"): the oldest version served. */
    private static long created(VersionRouter router) {
        long c = System.currentTimeMillis() / 1000;
        for (ServedModel m : router.versions()) c = Math.min(c, m.created());
        return c;
    }

    // ------------------------------------------------------------------ plumbing

    /** Reads the body (413 beyond the limit), runs handler, turns ApiErrors into OpenAI error responses. */
    private Route withBody(BodyHandler handler, String endpoint) {
        return extractRequestEntity(entity -> {
            // JSON only: a web page can send text/plain or a form cross-origin without a preflight (BrowserGuard).
            if (!entity.getContentType().mediaType().equals(MediaTypes.APPLICATION_JSON)) {
                metrics.requests.labelValues(NO_MODEL, NO_VERSION, endpoint, "415").inc();
                return complete(error(new ApiError(415, "invalid_request_error", "the request body must be JSON (Content-Type: "
                        + "application/json), got " + entity.getContentType().mediaType(), null, "unsupported_media_type")));
            }
            java.util.OptionalLong declared = entity.getContentLengthOption();
            if (declared.isPresent() && declared.getAsLong() > settings.maxBodyBytes()) {
                metrics.requests.labelValues(NO_MODEL, NO_VERSION, endpoint, "413").inc();
                // Read and drop the body (up to a bound), then answer: closing a connection with the client's
                // bytes unread resets it, and the client loses the response it was sent (ServeIT saw "received
                // no bytes"). Pekko also closes a connection whose request body is still unread when the
                // response goes out, so the 413 waits for the drain. Beyond the bound: the 413 and a close.
                if (declared.getAsLong() > DRAIN_OVERSIZE_BODY_UP_TO) return complete(error(tooLarge()));
                // Within the body timeout: a declared body that never arrives must not hold the connection.
                return completeWithFuture(entity.getDataBytes().takeWithin(settings.bodyTimeout()).runWith(
                                org.apache.pekko.stream.javadsl.Sink.ignore(), materializer)
                        .handle((done, t) -> error(tooLarge())));
            }
            // A body that arrived whole is already strict: no stream to materialise for it.
            CompletionStage<HttpEntity.Strict> body = entity instanceof HttpEntity.Strict whole
                    ? CompletableFuture.completedFuture(whole)
                    : entity.toStrict(settings.bodyTimeout().toMillis(), settings.maxBodyBytes(), materializer);
            return completeWithFuture(
                body
                        .thenCompose(strict -> {
                            // Counted from here, before the draining check, so that a drain waits for every
                            // request it did not refuse ({@link #starting}); finish() ends the count.
                            inFlight.incrementAndGet();
                            starting.incrementAndGet();
                            boolean handedOff = false;
                            try {
                                if (gateway.draining()) throw ApiError.unavailable("the server is shutting down");
                                CompletionStage<HttpResponse> r = handler.handle(strict.getData().toArray());
                                handedOff = true;
                                return r;
                            } catch (ApiError e) {
                                metrics.requests.labelValues(NO_MODEL, NO_VERSION, endpoint, String.valueOf(e.status())).inc();
                                return CompletableFuture.completedFuture(error(e));
                            } finally {
                                starting.decrementAndGet();
                                if (!handedOff) inFlight.decrementAndGet();
                            }
                        })
                        .exceptionally(t -> {
                            ApiError e = bodyFailure(t);
                            metrics.requests.labelValues(NO_MODEL, NO_VERSION, endpoint, String.valueOf(e.status())).inc();
                            return error(e);
                        }));
        });
    }

    /**
     * Why a request failed while its body was read: 413 over the limit, 408 when it did not arrive within the
     * body timeout, 400 for a malformed one (bad chunked framing, a body cut short); else what the handler threw.
     */
    private ApiError bodyFailure(Throwable t) {
        // The precise causes first: Pekko wraps a size overflow in more general exceptions.
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof ApiError api) return api;
            if (c instanceof org.apache.pekko.http.scaladsl.model.EntityStreamSizeException) return tooLarge();
            // Pekko reports toStrict's size limit and timeout, and a chunked body over the limit, only by their
            // summaries (IllegalRequestException, EntityStreamException).
            String summary = c instanceof org.apache.pekko.http.scaladsl.model.ExceptionWithErrorInfo e ? String.valueOf(e.info().summary()) : "";
            if (summary.startsWith("Request too large")) return tooLarge();
            if (c instanceof java.util.concurrent.TimeoutException || summary.startsWith("Request timed out")) {
                return new ApiError(408, "invalid_request_error", "the request body did not arrive within "
                        + settings.bodyTimeout().toMillis() + " ms", null, "request_timeout");
            }
        }
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof org.apache.pekko.http.scaladsl.model.EntityStreamException
                    || c instanceof org.apache.pekko.http.scaladsl.model.ParsingException
                    || c instanceof org.apache.pekko.http.scaladsl.model.IllegalRequestException) {
                log.debug("malformed request body: {}", c.getClass().getName());
                return ApiError.badRequest("the request body is malformed", null);
            }
        }
        return internal(t);
    }

    /** An oversize body up to this size is read and dropped so that its 413 arrives; larger ones get the 413 and a close. */
    private static final long DRAIN_OVERSIZE_BODY_UP_TO = 16L << 20;

    private ApiError tooLarge() {
        return ApiError.tooLarge("the request body is larger than " + settings.maxBodyBytes() + " bytes");
    }

    @FunctionalInterface
    private interface BodyHandler {
        CompletionStage<HttpResponse> handle(byte[] body);
    }

    private VersionRouter requireModel(String name) {
        return gateway.requireModel(name);
    }

    private static ApiError internal(Throwable t) {
        log.error("request failed", t);
        return ApiError.internal("internal error");
    }

    static HttpResponse json(org.apache.pekko.http.javadsl.model.StatusCode status, String body) {
        return HttpResponse.create().withStatus(status).withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON, body));
    }

    /** nginx's status for a request whose client went away: the response is only logged and counted. */
    private static final org.apache.pekko.http.javadsl.model.StatusCode CLIENT_CLOSED_REQUEST =
            StatusCodes.custom(499, "Client Closed Request", "The client closed the connection before the response.", false, true);

    static HttpResponse error(ApiError e) {
        HttpResponse r = json(e.status() == 499 ? CLIENT_CLOSED_REQUEST : StatusCodes.get(e.status()), e.toJson());
        if (e.status() == 429 || e.status() == 503) {
            r = r.addHeader(RawHeader.create("Retry-After", String.valueOf(Math.max(1, e.retryAfterSeconds()))));
        }
        return r;
    }

    private ExceptionHandler exceptions() {
        return ExceptionHandler.newBuilder()
                .match(ApiError.class, e -> complete(error(e)))
                .matchAny(t -> complete(error(bodyFailure(t))))
                .build();
    }

    /** 405 with Allow for a known path and a wrong method, 404 for an unknown one, Pekko's others as OpenAI JSON. */
    private RejectionHandler rejections() {
        return RejectionHandler.newBuilder()
                .handleAll(org.apache.pekko.http.javadsl.server.MethodRejection.class, rs -> extractRequest(req -> {
                    List<String> allowed = rs.stream().map(r -> r.supported().value()).distinct().toList();
                    return complete(error(new ApiError(405, "invalid_request_error", "method " + req.method().value() + " is not allowed on "
                            + req.getUri().path() + "; use " + String.join(" or ", allowed), null, "method_not_allowed"))
                            .addHeader(RawHeader.create("Allow", String.join(", ", allowed))));
                }))
                .handleNotFound(extractRequest(req -> complete(error(ApiError.notFound(
                        "Unknown request URL: " + req.method().value() + " " + req.getUri().path(), null, "unknown_url")))))
                .build()
                .withFallback(RejectionHandler.defaultHandler())
                .mapRejectionResponse(HttpApi::asOpenAiError);
    }

    /** Pekko's plain-text rejection answers as OpenAI error bodies (ours are JSON already). */
    static HttpResponse asOpenAiError(HttpResponse r) {
        if (r.entity().getContentType().mediaType().equals(MediaTypes.APPLICATION_JSON) || r.status().intValue() < 400) return r;
        String text = r.entity() instanceof HttpEntity.Strict strict ? strict.getData().utf8String() : r.status().reason();
        int status = r.status().intValue();
        String type = status >= 500 ? "server_error" : "invalid_request_error";
        return r.withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON,
                new ApiError(status, type, text.isBlank() ? r.status().reason() : text, null, null).toJson()));
    }

    static String randomId() {
        byte[] b = new byte[12];
        IDS.nextBytes(b);
        return HEX.formatHex(b);
    }
}
