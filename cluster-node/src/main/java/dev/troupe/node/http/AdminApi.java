package dev.troupe.node.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.troupe.actors.registry.ModelRegistry;
import dev.troupe.node.ServeCommand;
import dev.troupe.node.deploy.ModelCatalog;
import dev.troupe.node.deploy.ModelDeployments;
import dev.troupe.node.openai.ApiError;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCode;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.japi.function.Function;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

import static org.apache.pekko.http.javadsl.server.PathMatchers.segment;

/**
 * The admin API over the model registry and this node's deployments. Every call needs
 * {@code Authorization: Bearer <troupe.admin.token>} (with no token configured the admin API is off).
 * Changes are recorded in the model's history under the actor named by {@code X-Troupe-Actor} (default
 * "admin").
 * <ul>
 *   <li>{@code GET /admin/models}, {@code GET /admin/models/{name}} (registry state plus each version's
 *       phase on this node and the split actually served), {@code .../history}, {@code .../state?at=ISO-8601}</li>
 *   <li>{@code POST .../versions} {"version","path","sha256"} → 201; {@code DELETE .../versions/{v}} retires</li>
 *   <li>{@code POST .../deployments} {"version","replicas"?,"tensorParallel"?,"continuation"?} → 202 (tensorParallel: the slices each replica is
 *       split over; absent or 0 = the fewest that fit), the version loads in
 *       the background; continuation (true/false) overrides troupe.routing.continuation for its requests</li>
 *   <li>{@code PUT .../traffic} {"weights":{"v1":90,"v2":10}}, {@code POST .../promote} {"version"},
 *       {@code POST .../rollback} {"to"?,"reason"?} → 200</li>
 * </ul>
 * Registry refusals map to 404 (unknown version), 400 (invalid values) or 409 (conflicts with the current
 * state), each with the registry's precise message.
 */
public final class AdminApi extends AllDirectives {
    private static final ObjectMapper JSON = new ObjectMapper();
    public static final String ACTOR_HEADER = "X-Troupe-Actor";

    private final ActorSystem<?> system;
    private final ModelCatalog models;
    private final AdminAuth auth;

    private final dev.troupe.node.deploy.ModelPaths paths;

    public AdminApi(ActorSystem<?> system, ModelCatalog models, String adminToken, dev.troupe.node.deploy.ModelPaths paths) {
        this.paths = paths;
        this.system = system;
        this.models = models;
        this.auth = new AdminAuth(adminToken);
    }

    public Route route() {
        return pathPrefix("admin", () -> optionalHeaderValueByName("Authorization", header -> {
            ApiError denied = auth.check(header);
            if (denied != null) return complete(HttpApi.error(denied));
            return optionalHeaderValueByName(ACTOR_HEADER, actorHeader -> {
                String actor = actorHeader.filter(a -> !a.isBlank()).map(String::trim).orElse(AdminAuth.ACTOR);
                return concat(
                        get(() -> concat(
                                path(segment("models"), () -> completeWithFuture(models())),
                                path(segment("models").slash(segment()), name -> completeWithFuture(state(name))),
                                path(segment("models").slash(segment()).slash("history"), name -> completeWithFuture(history(name))),
                                path(segment("models").slash(segment()).slash("state"), name ->
                                        parameterOptional("at", at -> completeWithFuture(stateAt(name, at)))))),
                        post(() -> concat(
                                path(segment("models").slash(segment()).slash("versions"), name -> withJson(name, true, (m, b) -> register(m, actor, b))),
                                path(segment("models").slash(segment()).slash("deployments"), name -> withJson(name, false, (m, b) -> deploy(m, actor, b))),
                                path(segment("models").slash(segment()).slash("promote"), name -> withJson(name, false, (m, b) -> promote(m, actor, b))),
                                path(segment("models").slash(segment()).slash("rollback"), name -> withJson(name, false, (m, b) -> rollback(m, actor, b))))),
                        put(() -> path(segment("models").slash(segment()).slash("traffic"), name -> withJson(name, false, (m, b) -> traffic(m, actor, b)))),
                        delete(() -> path(segment("models").slash(segment()).slash("versions").slash(segment()), (name, version) ->
                                completeWithFuture(requireModel(name).thenCompose(m -> change(m, StatusCodes.OK,
                                        to -> new ModelRegistry.Retire(actor, version, to))).exceptionally(AdminApi::failure)))));
            });
        }));
    }

    // ------------------------------------------------------------------ reads

    /** The model's deployments on this node; 404 for a model with no version registered anywhere in the cluster. */
    private CompletionStage<ModelDeployments> requireModel(String name) {
        ModelCatalog.Entry e = models.get(name);
        if (e == null) return CompletableFuture.failedFuture(unknownModel(name));
        return e.deployments().state().thenApply(s -> {
            if (s.versions().isEmpty()) throw unknownModel(name);
            return e.deployments();
        });
    }

    private static ApiError unknownModel(String name) {
        return ApiError.notFound("no model named '" + name + "' in the cluster", null, "model_not_found");
    }

    private CompletionStage<HttpResponse> models() {
        List<CompletableFuture<ModelRegistry.State>> states = new ArrayList<>();
        List<ModelCatalog.Entry> all = models.all();
        for (ModelCatalog.Entry e : all) states.add(e.deployments().state().toCompletableFuture());
        return CompletableFuture.allOf(states.toArray(new CompletableFuture[0])).thenApply(x -> {
            ObjectNode root = JSON.createObjectNode().put("object", "list");
            ArrayNode data = root.putArray("data");
            for (int i = 0; i < all.size(); i++) {
                ModelRegistry.State s = states.get(i).join();
                if (s.versions().isEmpty()) continue;
                ObjectNode m = data.addObject().put("name", all.get(i).name()).put("live", s.live());
                m.putPOJO("versions", s.versions().keySet());
                m.putPOJO("serving", all.get(i).deployments().router().effectiveWeights());
            }
            return ok(StatusCodes.OK, root);
        }).exceptionally(AdminApi::failure);
    }

    private CompletionStage<HttpResponse> state(String name) {
        return requireModel(name).thenCompose(m -> m.state().thenApply(s -> ok(StatusCodes.OK, stateJson(m, s, true))))
                .exceptionally(AdminApi::failure);
    }

    private CompletionStage<HttpResponse> history(String name) {
        return requireModel(name).thenCompose(ModelDeployments::state).thenApply(s -> {
            ObjectNode root = JSON.createObjectNode().put("model", name);
            ArrayNode events = root.putArray("events");
            for (ModelRegistry.HistoryEntry e : s.history()) {
                ObjectNode ev = events.addObject().put("seq", e.seq()).put("at", e.at().toString()).put("actor", e.actor()).put("type", e.type());
                for (Map.Entry<String, String> f : e.fields().entrySet()) ev.put(f.getKey(), f.getValue());
            }
            return ok(StatusCodes.OK, root);
        }).exceptionally(AdminApi::failure);
    }

    private CompletionStage<HttpResponse> stateAt(String name, Optional<String> at) {
        if (at.isEmpty()) return state(name);
        Instant when;
        try {
            when = Instant.parse(at.get());
        } catch (DateTimeParseException e) {
            return CompletableFuture.completedFuture(HttpApi.error(ApiError.badRequest(
                    "'at' must be an ISO-8601 instant such as 2026-11-23T12:00:00Z, got '" + at.get() + "'", "at")));
        }
        return requireModel(name).thenCompose(m -> ModelRegistry.stateAt(system, name, when).thenApply(s -> {
            ObjectNode root = stateJson(m, s, false);
            root.put("at", when.toString());
            return ok(StatusCodes.OK, root);
        })).exceptionally(AdminApi::failure);
    }

    /** The registry's state; with {@code node}, also each version's phase here and the split served now. */
    private static ObjectNode stateJson(ModelDeployments deployments, ModelRegistry.State s, boolean node) {
        ObjectNode root = JSON.createObjectNode().put("model", deployments.model());
        root.put("live", s.live());
        root.put("previous", s.previousLive());
        ObjectNode versions = root.putObject("versions");
        Map<String, ModelDeployments.VersionStatus> phases = node ? deployments.status() : Map.of();
        Map<String, String> following = node ? deployments.followerStatus() : Map.of();
        for (ModelRegistry.VersionInfo v : s.versions().values()) {
            ObjectNode o = versions.putObject(v.version()).put("path", v.path()).put("sha256", v.sha256())
                    .put("architecture", v.architecture()).put("registered_at", v.registeredAt().toString())
                    .put("registered_by", v.registeredBy()).put("retired", v.retired());
            ObjectNode params = o.putObject("parameters");
            v.parameters().forEach(params::put);
            ModelDeployments.VersionStatus st = phases.get(v.version());
            if (st != null) {
                o.putObject("node").put("phase", st.phase().name().toLowerCase(java.util.Locale.ROOT)).put("detail", st.detail())
                        .put("since", st.since().toString());
            }
            // The follower slices of the version's tensor-parallel groups that run on this node, by rank.
            ObjectNode followers = null;
            for (Map.Entry<String, String> f : following.entrySet()) {
                if (!f.getKey().startsWith(v.version() + "#")) continue;
                if (followers == null) followers = o.putObject("follower_slices");
                followers.put(f.getKey().substring(v.version().length() + 1), f.getValue());
            }
        }
        ObjectNode deps = root.putObject("deployments");
        for (ModelRegistry.Deployment d : s.deployments().values()) {
            ObjectNode o = deps.putObject(d.version()).put("replicas", d.replicas()).put("tensor_parallel", d.tensorParallel());
            if (d.continuation() != null) o.put("continuation", d.continuation());
        }
        ObjectNode traffic = root.putObject("traffic");
        s.traffic().forEach(traffic::put);
        if (node) {
            ObjectNode serving = root.putObject("serving");
            deployments.router().effectiveWeights().forEach(serving::put);
        }
        return root;
    }

    // ------------------------------------------------------------------ changes

    @FunctionalInterface
    private interface JsonHandler {
        CompletionStage<HttpResponse> handle(ModelDeployments model, JsonNode body);
    }

    /**
     * Parses the body as a JSON object (400 otherwise), checks the model (a registration may name a new one,
     * which this node then follows), runs the handler.
     */
    private Route withJson(String name, boolean mayCreate, JsonHandler handler) {
        return entity(org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller.entityToString(), text -> {
            CompletionStage<HttpResponse> out;
            try {
                JsonNode body = text.isBlank() ? JSON.createObjectNode() : JSON.readTree(text);
                if (body == null || !body.isObject()) throw ApiError.badRequest("the request body must be a JSON object", null);
                out = mayCreate ? handler.handle(newModel(name), body) : requireModel(name).thenCompose(m -> handler.handle(m, body));
            } catch (ApiError e) {
                out = CompletableFuture.failedFuture(e);
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                out = CompletableFuture.failedFuture(ApiError.badRequest("the request body is not valid JSON: "
                        + e.getOriginalMessage(), null));
            }
            return completeWithFuture(out.exceptionally(AdminApi::failure));
        });
    }

    private static String text(JsonNode body, String field, boolean required) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            if (required) throw ApiError.badRequest("'" + field + "' is required", field);
            return null;
        }
        if (!v.isTextual() || v.asText().isBlank()) throw ApiError.badRequest("'" + field + "' must be a non-empty string", field);
        return v.asText().trim();
    }

    /** A boolean field, or null when absent. */
    private static Boolean optionalBoolean(JsonNode body, String field) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) return null;
        if (!v.isBoolean()) throw ApiError.badRequest("'" + field + "' must be true or false", field);
        return v.asBoolean();
    }

    private static int integer(JsonNode body, String field, int otherwise) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) return otherwise;
        if (!v.isInt()) throw ApiError.badRequest("'" + field + "' must be an integer", field);
        return v.asInt();
    }

    /** A model named by a registration: followed by this node from now on. */
    private ModelDeployments newModel(String name) {
        if (!name.matches(MODEL_NAME)) {
            throw ApiError.badRequest("a model name must be 1-128 letters, digits, '.', '_' or '-' (starting with a letter or digit)", null);
        }
        return models.follow(name).deployments();
    }

    /** Model names appear in URLs, metrics labels and journal ids: a conservative alphabet. */
    private static final String MODEL_NAME = "[A-Za-z0-9][A-Za-z0-9._-]{0,127}";

    private CompletionStage<HttpResponse> register(ModelDeployments model, String actor, JsonNode body) {
        String version = text(body, "version", true);
        if (!version.matches("[A-Za-z0-9][A-Za-z0-9._-]{0,63}")) {
            throw ApiError.badRequest("'version' must be 1-64 letters, digits, '.', '_' or '-' (starting with a letter or digit)", "version");
        }
        String pathText = text(body, "path", true);
        String sha = text(body, "sha256", true).toLowerCase(java.util.Locale.ROOT);
        if (!sha.matches("[0-9a-f]{64}")) throw ApiError.badRequest("'sha256' must be 64 hex digits", "sha256");
        Path path = paths.require(pathText, "path");
        ServeCommand.ModelFacts facts;
        try {
            facts = ServeCommand.modelFacts(path);
        } catch (Exception e) {
            throw ApiError.badRequest("'" + path + "' is not a GGUF model Troupe can serve: " + e.getMessage(), "path");
        }
        // The sha256 is checked against the file when a node loads it (a mismatch refuses the load).
        return change(model, StatusCodes.CREATED, to -> new ModelRegistry.RegisterVersion(actor, version, path.toString(), sha,
                facts.architecture(), facts.parameters(), to));
    }

    private CompletionStage<HttpResponse> deploy(ModelDeployments model, String actor, JsonNode body) {
        String version = text(body, "version", true);
        int replicas = integer(body, "replicas", 1);
        int tp = integer(body, "tensorParallel", 0);   // 0: the fewest slices that fit
        if (tp < 0) throw ApiError.badRequest("tensorParallel must be 0 (the fewest slices that fit) or more, got " + tp, "tensorParallel");
        String refusal = tp > 1 ? model.splitRefusal(version, tp) : null;
        if (refusal != null) {
            throw ApiError.badRequest("version '" + version + "' cannot be split over " + tp + " slices: " + refusal, "tensorParallel");
        }
        String fit = model.fitRefusal(version, tp);
        if (fit != null) throw conflict("version '" + version + "' fits no slice of the cluster: " + fit);
        Boolean continuation = optionalBoolean(body, "continuation");
        return change(model, StatusCodes.ACCEPTED, to -> new ModelRegistry.Deploy(actor, version, replicas, tp, continuation, to))
                .thenApply(r -> {
                    model.ensureLoaded(version);
                    return r;
                });
    }

    private CompletionStage<HttpResponse> traffic(ModelDeployments model, String actor, JsonNode body) {
        JsonNode w = body.get("weights");
        if (w == null || !w.isObject() || w.isEmpty()) {
            throw ApiError.badRequest("'weights' must be an object of version to percent, e.g. {\"v1\":90,\"v2\":10}", "weights");
        }
        Map<String, Integer> weights = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = w.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isInt() || e.getValue().asInt() < 0 || e.getValue().asInt() > 100) {
                throw ApiError.badRequest("weights." + e.getKey() + " must be an integer from 0 to 100", "weights." + e.getKey());
            }
            weights.put(e.getKey(), e.getValue().asInt());
        }
        int sum = weights.values().stream().mapToInt(Integer::intValue).sum();
        if (sum != 100) throw ApiError.badRequest("weights must sum to 100, got " + sum, "weights");
        return change(model, StatusCodes.OK, to -> new ModelRegistry.SetTraffic(actor, weights, to));
    }

    private CompletionStage<HttpResponse> promote(ModelDeployments model, String actor, JsonNode body) {
        String version = text(body, "version", true);
        return change(model, StatusCodes.OK, to -> new ModelRegistry.Promote(actor, version, to));
    }

    private CompletionStage<HttpResponse> rollback(ModelDeployments model, String actor, JsonNode body) {
        String to = text(body, "to", false);
        String reason = text(body, "reason", false);
        return change(model, StatusCodes.OK, r -> new ModelRegistry.Rollback(actor, to, reason, r));
    }

    /** Sends the command; Accepted answers {@code status} with the new state, Rejected a precise error. */
    private static CompletionStage<HttpResponse> change(ModelDeployments model, StatusCode status,
                                                        Function<ActorRef<ModelRegistry.Reply>, ModelRegistry.Command> command) {
        return model.command(command).thenApply(r -> {
            if (r instanceof ModelRegistry.Reply.Rejected rej) throw refusal(rej.message());
            return ok(status, stateJson(model, ((ModelRegistry.Reply.Accepted) r).state(), true));
        });
    }

    /** 404 for an unknown version, 400 for an invalid value, 409 for a conflict with the current state. */
    public static ApiError refusal(String message) {
        if (message.startsWith("unknown version")) return ApiError.notFound(message, "version", "version_not_found");
        if (message.contains(" must ") || message.contains(" is required")) return ApiError.badRequest(message, null);
        return conflict(message);
    }

    static ApiError conflict(String message) {
        return new ApiError(409, "conflict_error", message, null, "conflict");
    }

    private static HttpResponse ok(StatusCode status, ObjectNode body) {
        return HttpApi.json(status, body.toString());
    }

    private static HttpResponse failure(Throwable t) {
        Throwable c = t;
        while (c instanceof java.util.concurrent.CompletionException && c.getCause() != null) c = c.getCause();
        return HttpApi.error(c instanceof ApiError ? (ApiError) c : ApiError.internal("the registry did not answer"));
    }
}
