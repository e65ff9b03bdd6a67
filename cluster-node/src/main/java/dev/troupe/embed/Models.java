package dev.troupe.embed;

import dev.troupe.actors.registry.ModelRegistry;
import dev.troupe.node.ServeCommand;
import dev.troupe.node.TroupeNode;
import dev.troupe.node.deploy.ModelDeployments;
import dev.troupe.node.deploy.Sha256;
import dev.troupe.node.http.AdminApi;
import dev.troupe.node.openai.ApiError;
import org.apache.pekko.actor.typed.ActorRef;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;

/**
 * The model registry's operations, typed: the same commands and checks as the admin API's
 * {@code /admin/models} (docs/registry.md), journaled with {@code actor} as who made the change. Each
 * completes with the model's registry state after the change, or fails with a {@link TroupeException}
 * (404 unknown version, 400 invalid value, 409 conflict with the current state).
 */
public final class Models {
    private final TroupeNode node;

    Models(TroupeNode node) {
        this.node = node;
    }

    /** Registers a GGUF file on this member as a version of the model (its sha256 is computed here). */
    public CompletionStage<ModelRegistry.State> register(String actor, String model, String version, Path file) {
        Path path = file.toAbsolutePath().normalize();
        if (!Files.isRegularFile(path)) return failed(400, "no model file at '" + path + "'");
        String sha;
        ServeCommand.ModelFacts facts;
        try {
            sha = Sha256.of(path);
            facts = ServeCommand.modelFacts(path);
        } catch (Exception e) {
            return failed(400, "'" + path + "' is not a GGUF model Troupe can serve: " + e.getMessage());
        }
        return change(model, to -> new ModelRegistry.RegisterVersion(actor, version, path.toString(), sha, facts.architecture(),
                facts.parameters(), to));
    }

    /** Deploys a registered version on {@code replicas} replicas (placement puts them on worker members). */
    public CompletionStage<ModelRegistry.State> deploy(String actor, String model, String version, int replicas) {
        ModelDeployments d = deployments(model);
        return change(model, to -> new ModelRegistry.Deploy(actor, version, replicas, 1, null, to)).thenApply(s -> {
            d.ensureLoaded(version);
            return s;
        });
    }

    /** Makes a deployed version live (all traffic). */
    public CompletionStage<ModelRegistry.State> promote(String actor, String model, String version) {
        return change(model, to -> new ModelRegistry.Promote(actor, version, to));
    }

    /** Splits traffic between deployed versions: percentages summing to 100. */
    public CompletionStage<ModelRegistry.State> setTraffic(String actor, String model, Map<String, Integer> weights) {
        return change(model, to -> new ModelRegistry.SetTraffic(actor, weights, to));
    }

    /** Rolls back to {@code to} (null: the previous live version), instantly when it is still loaded. */
    public CompletionStage<ModelRegistry.State> rollback(String actor, String model, String to, String reason) {
        return change(model, r -> new ModelRegistry.Rollback(actor, to, reason, r));
    }

    /** Retires a version that takes no traffic. */
    public CompletionStage<ModelRegistry.State> retire(String actor, String model, String version) {
        return change(model, to -> new ModelRegistry.Retire(actor, version, to));
    }

    /** The model's registry state: versions, deployments, traffic, live version, history. */
    public CompletionStage<ModelRegistry.State> state(String model) {
        return deployments(model).state();
    }

    private ModelDeployments deployments(String model) {
        return node.models().follow(model).deployments();
    }

    private CompletionStage<ModelRegistry.State> change(String model, Function<ActorRef<ModelRegistry.Reply>, ModelRegistry.Command> command) {
        return deployments(model).command(command::apply).thenApply(r -> {
            if (r instanceof ModelRegistry.Reply.Rejected rej) {
                ApiError e = AdminApi.refusal(rej.message());
                throw new TroupeException(e.status(), e.code(), e.getMessage());
            }
            return ((ModelRegistry.Reply.Accepted) r).state();
        });
    }

    private static <T> CompletionStage<T> failed(int status, String message) {
        return CompletableFuture.failedFuture(new TroupeException(status, "invalid_request", message));
    }
}
