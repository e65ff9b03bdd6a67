package dev.troupe.node.http;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.troupe.actors.registry.ModelRegistry;
import dev.troupe.node.openai.ApiError;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;

import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

import static org.apache.pekko.http.javadsl.server.PathMatchers.segment;

/**
 * The admin API's read side over the model registry: {@code GET /admin/models}, {@code /admin/models/{name}},
 * {@code .../history} and {@code .../state?at=ISO-8601}. Every call needs {@code Authorization: Bearer} with
 * the configured admin token ({@code troupe.admin.token}); with no token configured the admin API is off.
 * (Registering, deploying, traffic and rollback over HTTP come next.)
 */
public final class AdminApi extends AllDirectives {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final ActorSystem<?> system;
    private final String model;
    private final ActorRef<ModelRegistry.Command> registry;
    private final AdminAuth auth;

    public AdminApi(ActorSystem<?> system, String model, ActorRef<ModelRegistry.Command> registry, String adminToken) {
        this.system = system;
        this.model = model;
        this.registry = registry;
        this.auth = new AdminAuth(adminToken);
    }

    public Route route() {
        return pathPrefix("admin", () -> optionalHeaderValueByName("Authorization", header -> {
            ApiError denied = auth.check(header);
            if (denied != null) return complete(HttpApi.error(denied));
            return get(() -> concat(
                    path(segment("models"), () -> completeWithFuture(models())),
                    path(segment("models").slash(segment()), name -> completeWithFuture(state(name))),
                    path(segment("models").slash(segment()).slash("history"), name -> completeWithFuture(history(name))),
                    path(segment("models").slash(segment()).slash("state"), name ->
                            parameterOptional("at", at -> completeWithFuture(stateAt(name, at))))));
        }));
    }

    private CompletionStage<ModelRegistry.State> current(String name) {
        if (!model.equals(name)) {
            return CompletableFuture.failedFuture(ApiError.notFound("no model named '" + name + "' on this node", null, "model_not_found"));
        }
        return AskPattern.<ModelRegistry.Command, ModelRegistry.Reply>ask(registry, ModelRegistry.GetState::new,
                Duration.ofSeconds(10), system.scheduler()).thenApply(r -> ((ModelRegistry.Reply.Current) r).state());
    }

    private CompletionStage<HttpResponse> models() {
        return current(model).thenApply(s -> {
            ObjectNode root = JSON.createObjectNode().put("object", "list");
            root.putArray("data").add(summary(model, s));
            return ok(root);
        }).exceptionally(this::failure);
    }

    private CompletionStage<HttpResponse> state(String name) {
        return current(name).thenApply(s -> ok(stateJson(name, s))).exceptionally(this::failure);
    }

    private CompletionStage<HttpResponse> history(String name) {
        return current(name).thenApply(s -> {
            ObjectNode root = JSON.createObjectNode().put("model", name);
            ArrayNode events = root.putArray("events");
            for (ModelRegistry.HistoryEntry e : s.history()) {
                ObjectNode ev = events.addObject().put("seq", e.seq()).put("at", e.at().toString()).put("actor", e.actor()).put("type", e.type());
                for (Map.Entry<String, String> f : e.fields().entrySet()) ev.put(f.getKey(), f.getValue());
            }
            return ok(root);
        }).exceptionally(this::failure);
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
        if (!model.equals(name)) return current(name).thenApply(s -> ok(stateJson(name, s))).exceptionally(this::failure);
        return ModelRegistry.stateAt(system, name, when).thenApply(s -> {
            ObjectNode root = stateJson(name, s);
            root.put("at", when.toString());
            return ok(root);
        }).exceptionally(this::failure);
    }

    private static ObjectNode summary(String name, ModelRegistry.State s) {
        ObjectNode m = JSON.createObjectNode().put("name", name);
        m.put("live", s.live());
        m.putPOJO("versions", s.versions().keySet());
        return m;
    }

    private static ObjectNode stateJson(String name, ModelRegistry.State s) {
        ObjectNode root = JSON.createObjectNode().put("model", name);
        root.put("live", s.live());
        root.put("previous", s.previousLive());
        ObjectNode versions = root.putObject("versions");
        for (ModelRegistry.VersionInfo v : s.versions().values()) {
            ObjectNode o = versions.putObject(v.version()).put("path", v.path()).put("sha256", v.sha256())
                    .put("architecture", v.architecture()).put("registered_at", v.registeredAt().toString())
                    .put("registered_by", v.registeredBy()).put("retired", v.retired());
            ObjectNode params = o.putObject("parameters");
            v.parameters().forEach(params::put);
        }
        ObjectNode deployments = root.putObject("deployments");
        for (ModelRegistry.Deployment d : s.deployments().values()) {
            deployments.putObject(d.version()).put("replicas", d.replicas()).put("tensor_parallel", d.tensorParallel());
        }
        ObjectNode traffic = root.putObject("traffic");
        s.traffic().forEach(traffic::put);
        return root;
    }

    private HttpResponse ok(ObjectNode body) {
        return HttpApi.json(StatusCodes.OK, body.toString());
    }

    private HttpResponse failure(Throwable t) {
        Throwable c = t.getCause() != null && t instanceof java.util.concurrent.CompletionException ? t.getCause() : t;
        return HttpApi.error(c instanceof ApiError ? (ApiError) c : ApiError.internal("registry did not answer"));
    }
}
