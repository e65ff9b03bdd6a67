package dev.troupe.node.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.troupe.actors.registry.ModelRegistry.HistoryEntry;
import dev.troupe.actors.tenant.ApiKeys;
import dev.troupe.actors.tenant.Quotas;
import dev.troupe.actors.tenant.Tenant;
import dev.troupe.actors.tenant.TenantDirectory;
import dev.troupe.actors.tenant.UsageLedger;
import dev.troupe.node.openai.ApiError;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCode;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.japi.function.Function;

import java.io.IOException;
import java.time.Duration;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

import static org.apache.pekko.http.javadsl.server.PathMatchers.segment;

/**
 * The tenant admin API under {@code /admin/tenants}: create, list, read, update, suspend/resume, issue and
 * revoke keys, usage and history. Every call needs the admin token, except {@code GET .../{id}/usage} which
 * a tenant may also read with its own key (another tenant's key gets 403, whether or not the tenant
 * exists). Admin changes are recorded in the tenant's event log as actor {@value AdminAuth#ACTOR}.
 * An issued key is in the 201 response of {@code POST .../keys} and nowhere else.
 */
public final class TenantAdminApi extends AllDirectives {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final Set<String> CREATE_FIELDS = Set.of("id", "weight", "quotas", "models");
    private static final Set<String> UPDATE_FIELDS = Set.of("weight", "quotas", "models");

    private final ActorSystem<?> system;
    private final AdminAuth admin;
    private final TenantGate gate;
    private final java.util.function.Function<String, RecipientRef<Tenant.Command>> tenants;
    private final java.util.function.Function<String, RecipientRef<UsageLedger.Command>> ledgers;

    public TenantAdminApi(ActorSystem<?> system, AdminAuth admin, TenantGate gate,
                          java.util.function.Function<String, RecipientRef<Tenant.Command>> tenants,
                          java.util.function.Function<String, RecipientRef<UsageLedger.Command>> ledgers) {
        this.system = system;
        this.admin = admin;
        this.gate = gate;
        this.tenants = tenants;
        this.ledgers = ledgers;
    }

    public Route route() {
        return pathPrefix(segment("admin").slash("tenants"), () -> optionalHeaderValueByName("Authorization", auth -> concat(
                // Usage first: the one call a tenant key may make.
                path(segment().slash("usage"), id -> get(() -> completeWithFuture(usage(auth, id)))),
                adminOnly(auth, () -> concat(
                        pathEndOrSingleSlash(() -> concat(
                                post(() -> entityAsString(body -> completeWithFuture(create(body)))),
                                get(() -> complete(list())))),
                        path(segment(), id -> concat(
                                get(() -> completeWithFuture(show(id))),
                                put(() -> entityAsString(body -> completeWithFuture(update(id, body)))))),
                        path(segment().slash("history"), id -> get(() -> completeWithFuture(history(id)))),
                        path(segment().slash("suspend"), id -> post(() -> entityAsString(body -> completeWithFuture(suspend(id, body))))),
                        path(segment().slash("resume"), id -> post(() -> completeWithFuture(change(id, StatusCodes.OK,
                                r -> new Tenant.Resume(AdminAuth.ACTOR, r))))),
                        path(segment().slash("keys"), id -> post(() -> completeWithFuture(issueKey(id)))),
                        path(segment().slash("keys").slash(segment()), (id, keyId) -> delete(() -> completeWithFuture(revokeKey(id, keyId)))),
                        extractRequest(req -> complete(HttpApi.error(ApiError.notFound(
                                "Unknown request URL: " + req.method().value() + " " + req.getUri().path(), null, "unknown_url")))))))));
    }

    private Route adminOnly(Optional<String> auth, java.util.function.Supplier<Route> inner) {
        ApiError denied = admin.check(auth);
        return denied != null ? complete(HttpApi.error(denied)) : inner.get();
    }

    private Route entityAsString(java.util.function.Function<String, Route> inner) {
        return extractStrictEntity(Duration.ofSeconds(10), 1 << 20, e -> inner.apply(e.getData().utf8String()));
    }

    // ------------------------------------------------------------------ calls

    private CompletionStage<HttpResponse> create(String body) {
        try {
            JsonNode root = object(body, CREATE_FIELDS);
            JsonNode idNode = root.get("id");
            if (idNode == null || !idNode.isTextual()) throw ApiError.badRequest("'id' is required and must be a string", "id");
            String id = idNode.asText();
            if (!Tenant.ID.matcher(id).matches()) {
                throw ApiError.badRequest("'id' must be 1 to 63 of a-z, 0-9, '-', '_', starting with a letter or digit", "id");
            }
            if (id.equals(TenantGate.ANONYMOUS.tenant())) {
                throw ApiError.badRequest("'id' may not be '" + id + "': requests without a key run under that name", "id");
            }
            int weight = root.has("weight") ? intField(root.get("weight"), "weight") : 1;
            Quotas quotas = root.has("quotas") ? quotas(root.get("quotas"), Quotas.UNLIMITED) : Quotas.UNLIMITED;
            List<String> models = root.has("models") ? models(root.get("models")) : List.of();
            return change(id, StatusCodes.CREATED, r -> new Tenant.Create(AdminAuth.ACTOR, weight, quotas, models, r));
        } catch (ApiError e) {
            return done(HttpApi.error(e));
        }
    }

    private CompletionStage<HttpResponse> update(String id, String body) {
        if (!Tenant.ID.matcher(id).matches()) return done(HttpApi.error(noTenant(id)));
        try {
            JsonNode root = object(body, UPDATE_FIELDS);
            Integer weight = root.has("weight") ? intField(root.get("weight"), "weight") : null;
            List<String> models = root.has("models") ? models(root.get("models")) : null;
            return ask(id).thenCompose(current -> {
                // Quotas merge field by field into the current ones, so one limit can change alone.
                Quotas quotas = root.has("quotas") ? quotas(root.get("quotas"), current.quotas()) : null;
                return change(id, StatusCodes.OK, r -> new Tenant.Update(AdminAuth.ACTOR, weight, quotas, models, r));
            }).exceptionally(this::failure);
        } catch (ApiError e) {
            return done(HttpApi.error(e));
        }
    }

    private CompletionStage<HttpResponse> suspend(String id, String body) {
        String reason = null;
        try {
            if (!body.isBlank()) {
                JsonNode root = object(body, Set.of("reason"));
                if (root.has("reason")) {
                    if (!root.get("reason").isTextual()) throw ApiError.badRequest("'reason' must be a string", "reason");
                    reason = root.get("reason").asText();
                }
            }
        } catch (ApiError e) {
            return done(HttpApi.error(e));
        }
        String why = reason;
        return change(id, StatusCodes.OK, r -> new Tenant.Suspend(AdminAuth.ACTOR, why, r));
    }

    private HttpResponse list() {
        ObjectNode root = JSON.createObjectNode().put("object", "list");
        ArrayNode data = root.putArray("data");
        List<Tenant.State> all = new ArrayList<>(gate.directory().all());
        all.sort(Comparator.comparing(Tenant.State::id));
        for (Tenant.State s : all) data.add(tenantJson(s));
        return ok(StatusCodes.OK, root);
    }

    private CompletionStage<HttpResponse> show(String id) {
        return ask(id).thenApply(s -> ok(StatusCodes.OK, tenantJson(s))).exceptionally(this::failure);
    }

    private CompletionStage<HttpResponse> history(String id) {
        return ask(id).thenApply(s -> {
            ObjectNode root = JSON.createObjectNode().put("tenant", id);
            ArrayNode events = root.putArray("events");
            for (HistoryEntry e : s.history()) {
                ObjectNode ev = events.addObject().put("seq", e.seq()).put("at", e.at().toString()).put("actor", e.actor()).put("type", e.type());
                for (Map.Entry<String, String> f : e.fields().entrySet()) ev.put(f.getKey(), f.getValue());
            }
            return ok(StatusCodes.OK, root);
        }).exceptionally(this::failure);
    }

    private CompletionStage<HttpResponse> issueKey(String id) {
        // The key is made here and leaves only in this response; the entity gets its id, salt and hash.
        ApiKeys.Issued key = ApiKeys.issue();
        return send(id, r -> new Tenant.IssueKey(AdminAuth.ACTOR, key.keyId(), key.salt(), key.hash(), r)).thenApply(s -> {
            ObjectNode root = JSON.createObjectNode().put("tenant", id).put("keyId", key.keyId()).put("key", key.key());
            return ok(StatusCodes.CREATED, root);
        }).exceptionally(this::failure);
    }

    private CompletionStage<HttpResponse> revokeKey(String id, String keyId) {
        return send(id, r -> new Tenant.RevokeKey(AdminAuth.ACTOR, keyId, r)).thenApply(s -> {
            Tenant.KeyInfo k = s.keys().get(keyId);
            return ok(StatusCodes.OK, keyJson(JSON.createObjectNode().put("tenant", id), k));
        }).exceptionally(this::failure);
    }

    private CompletionStage<HttpResponse> usage(Optional<String> auth, String id) {
        if (admin.check(auth) != null) {
            // Not the admin: only the tenant's own key may read its usage.
            TenantDirectory.Principal who;
            try {
                if (auth.isEmpty() || !auth.get().trim().regionMatches(true, 0, "Bearer tk-", 0, 10)) {
                    return done(HttpApi.error(admin.check(auth)));
                }
                who = gate.authenticate(auth);
            } catch (ApiError e) {
                return done(HttpApi.error(e));
            }
            if (!who.tenant().equals(id)) {
                return done(HttpApi.error(new ApiError(403, "permission_error", "this key may read only its own tenant's usage", null, null)));
            }
        }
        return ask(id).thenCompose(s -> AskPattern.<UsageLedger.Command, UsageLedger.Reply>ask(ledgers.apply(id),
                UsageLedger.GetUsage::new, TIMEOUT, system.scheduler())).thenApply(r -> {
            UsageLedger.Reply.Usage u = (UsageLedger.Reply.Usage) r;
            ObjectNode root = JSON.createObjectNode().put("tenant", id).put("object", "usage");
            ArrayNode data = root.putArray("data");
            long requests = 0, prompt = 0, completion = 0;
            for (Map.Entry<LocalDate, Map<String, UsageLedger.Totals>> day : u.byDay().entrySet()) {
                for (Map.Entry<String, UsageLedger.Totals> m : day.getValue().entrySet()) {
                    UsageLedger.Totals t = m.getValue();
                    data.addObject().put("day", day.getKey().toString()).put("model", m.getKey()).put("requests", t.requests())
                            .put("prompt_tokens", t.promptTokens()).put("completion_tokens", t.completionTokens())
                            .put("total_tokens", t.promptTokens() + t.completionTokens());
                    requests += t.requests();
                    prompt += t.promptTokens();
                    completion += t.completionTokens();
                }
            }
            root.putObject("total").put("requests", requests).put("prompt_tokens", prompt).put("completion_tokens", completion)
                    .put("total_tokens", prompt + completion);
            return ok(StatusCodes.OK, root);
        }).exceptionally(this::failure);
    }

    // ------------------------------------------------------------------ entity plumbing

    /** The tenant's state, failing with 404 when it does not exist. */
    private CompletionStage<Tenant.State> ask(String id) {
        if (!Tenant.ID.matcher(id).matches()) return CompletableFuture.failedFuture(noTenant(id));
        return AskPattern.<Tenant.Command, Tenant.Reply>ask(tenants.apply(id), Tenant.GetState::new, TIMEOUT, system.scheduler())
                .thenApply(r -> {
                    Tenant.State s = ((Tenant.Reply.Current) r).state();
                    if (!s.exists()) throw noTenant(id);
                    return s;
                });
    }

    /** Sends a change; the accepted state, or the rejection as an ApiError (400/404/409). */
    private CompletionStage<Tenant.State> send(String id, Function<ActorRef<Tenant.Reply>, Tenant.Command> command) {
        if (!Tenant.ID.matcher(id).matches()) return CompletableFuture.failedFuture(noTenant(id));
        return AskPattern.ask(tenants.apply(id), command, TIMEOUT, system.scheduler()).thenApply(r -> {
            if (r instanceof Tenant.Reply.Rejected rej) {
                throw switch (rej.why()) {
                    case NOT_FOUND -> ApiError.notFound(rej.message(), null, "not_found");
                    case CONFLICT -> new ApiError(409, "invalid_request_error", rej.message(), null, "conflict");
                    case INVALID -> ApiError.badRequest(rej.message(), paramOf(rej.message()));
                };
            }
            Tenant.State s = ((Tenant.Reply.Accepted) r).state();
            gate.directory().update(s);   // this node sees its own change at once, before the pub-sub echo
            return s;
        });
    }

    private CompletionStage<HttpResponse> change(String id, StatusCode status, Function<ActorRef<Tenant.Reply>, Tenant.Command> command) {
        return send(id, command).thenApply(s -> ok(status, tenantJson(s))).exceptionally(this::failure);
    }

    /** The field a validation message starts with (the entity names it first). */
    private static String paramOf(String message) {
        int space = message.indexOf(' ');
        return space > 0 ? message.substring(0, space) : null;
    }

    private static ApiError noTenant(String id) {
        return ApiError.notFound("no tenant '" + id + "'", null, "not_found");
    }

    // ------------------------------------------------------------------ JSON

    private static JsonNode object(String body, Set<String> allowed) {
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (IOException e) {
            throw ApiError.badRequest("the body is not valid JSON", null);
        }
        if (root == null || !root.isObject()) throw ApiError.badRequest("the body must be a JSON object", null);
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!allowed.contains(f)) throw ApiError.badRequest("unknown field '" + f + "'; expected one of " + new java.util.TreeSet<>(allowed), f);
        }
        return root;
    }

    private static int intField(JsonNode n, String name) {
        if (n == null || !n.canConvertToInt() || !n.isIntegralNumber()) throw ApiError.badRequest("'" + name + "' must be an integer", name);
        return n.asInt();
    }

    private static long longField(JsonNode n, String name) {
        if (n == null || !n.isIntegralNumber() || !n.canConvertToLong()) throw ApiError.badRequest("'" + name + "' must be an integer", name);
        return n.asLong();
    }

    /** {@code {"requests_per_minute","tokens_per_minute","max_concurrent"}} (camelCase accepted too); missing ones keep {@code base}. */
    private static Quotas quotas(JsonNode n, Quotas base) {
        if (!n.isObject()) throw ApiError.badRequest("'quotas' must be an object", "quotas");
        int rpm = base.requestsPerMinute();
        long tpm = base.tokensPerMinute();
        int conc = base.maxConcurrent();
        for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            switch (f.getKey()) {
                case "requests_per_minute", "requestsPerMinute" -> rpm = intField(f.getValue(), "quotas." + f.getKey());
                case "tokens_per_minute", "tokensPerMinute" -> tpm = longField(f.getValue(), "quotas." + f.getKey());
                case "max_concurrent", "maxConcurrent" -> conc = intField(f.getValue(), "quotas." + f.getKey());
                default -> throw ApiError.badRequest("unknown quota '" + f.getKey()
                        + "'; expected requests_per_minute, tokens_per_minute, max_concurrent", "quotas." + f.getKey());
            }
        }
        Quotas q = new Quotas(rpm, tpm, conc);
        String why = q.invalid();
        if (why != null) throw ApiError.badRequest(why, why.substring(0, why.indexOf(' ')));
        return q;
    }

    private static List<String> models(JsonNode n) {
        if (!n.isArray()) throw ApiError.badRequest("'models' must be a list of model names (empty = every model)", "models");
        List<String> out = new ArrayList<>();
        for (JsonNode m : n) {
            if (!m.isTextual() || m.asText().isBlank()) throw ApiError.badRequest("'models' must hold non-empty strings", "models");
            out.add(m.asText());
        }
        return out;
    }

    static ObjectNode tenantJson(Tenant.State s) {
        ObjectNode t = JSON.createObjectNode().put("id", s.id()).put("weight", s.weight());
        t.putObject("quotas").put("requests_per_minute", s.quotas().requestsPerMinute())
                .put("tokens_per_minute", s.quotas().tokensPerMinute()).put("max_concurrent", s.quotas().maxConcurrent());
        ArrayNode models = t.putArray("models");
        s.models().forEach(models::add);
        t.put("suspended", s.suspended());
        t.put("suspend_reason", s.suspendReason());
        t.put("created_at", s.createdAt() == null ? null : s.createdAt().toString());
        ArrayNode keys = t.putArray("keys");
        for (Tenant.KeyInfo k : s.keys().values()) keyJson(keys.addObject(), k);
        return t;
    }

    /** A key's public facts: never its salt or hash (and the key itself is not stored at all). */
    private static ObjectNode keyJson(ObjectNode o, Tenant.KeyInfo k) {
        o.put("keyId", k.keyId()).put("issued_at", k.issuedAt().toString()).put("issued_by", k.issuedBy())
                .put("revoked", k.revoked());
        o.put("revoked_at", k.revokedAt() == null ? null : k.revokedAt().toString());
        o.put("revoked_by", k.revokedBy());
        return o;
    }

    private static HttpResponse ok(StatusCode status, ObjectNode body) {
        return HttpApi.json(status, body.toString());
    }

    private static CompletionStage<HttpResponse> done(HttpResponse r) {
        return CompletableFuture.completedFuture(r);
    }

    private HttpResponse failure(Throwable t) {
        Throwable c = t;
        while (c instanceof java.util.concurrent.CompletionException && c.getCause() != null) c = c.getCause();
        return HttpApi.error(c instanceof ApiError ? (ApiError) c : ApiError.internal("the tenant entity did not answer"));
    }
}
