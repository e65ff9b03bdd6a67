package dev.troupe.embed;

import dev.troupe.actors.tenant.Quotas;
import dev.troupe.actors.tenant.Tenant;
import dev.troupe.actors.tenant.UsageLedger;
import dev.troupe.node.TroupeNode;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;

/**
 * Tenants, typed: the operations of the admin API's {@code /admin/tenants} (docs/tenants.md) except API keys,
 * which an embedded host does not need (it names the tenant in each {@link GenerateRequest}). Changes are
 * journaled with {@code actor} as who made them and seen by this member's request path at once. Each
 * completes with the tenant's state after the change, or fails with a {@link TroupeException}
 * (400 invalid, 404 no such tenant, 409 conflict).
 */
public final class Tenants {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private final TroupeNode node;

    Tenants(TroupeNode node) {
        this.node = node;
    }

    /**
     * Creates a tenant: its fair-share weight (1..1000), quotas ({@link Quotas#UNLIMITED}, or requests and
     * tokens per minute and concurrent requests, 0 = no limit) and allowed models (empty: all).
     */
    public CompletionStage<Tenant.State> create(String actor, String id, int weight, Quotas quotas, List<String> models) {
        return send(id, r -> new Tenant.Create(actor, weight, quotas, models, r));
    }

    /** Changes a tenant's weight, quotas or models; null leaves one as it is. */
    public CompletionStage<Tenant.State> update(String actor, String id, Integer weight, Quotas quotas, List<String> models) {
        return send(id, r -> new Tenant.Update(actor, weight, quotas, models, r));
    }

    /** Suspends a tenant: its requests get 403 until it is resumed. */
    public CompletionStage<Tenant.State> suspend(String actor, String id, String reason) {
        return send(id, r -> new Tenant.Suspend(actor, reason, r));
    }

    public CompletionStage<Tenant.State> resume(String actor, String id) {
        return send(id, r -> new Tenant.Resume(actor, r));
    }

    /** The tenant's state (404 when it does not exist). */
    public CompletionStage<Tenant.State> state(String id) {
        if (!Tenant.ID.matcher(id).matches()) return noTenant(id);
        return AskPattern.<Tenant.Command, Tenant.Reply>ask(node.tenants().sharding().tenant(id), Tenant.GetState::new, TIMEOUT,
                node.system().scheduler()).thenApply(r -> {
            Tenant.State s = ((Tenant.Reply.Current) r).state();
            if (!s.exists()) throw new TroupeException(404, "not_found", "no tenant '" + id + "'");
            return s;
        });
    }

    /** The tenant's recorded usage: per day and model, requests and prompt and completion tokens. */
    public CompletionStage<UsageLedger.Reply.Usage> usage(String id) {
        return state(id).thenCompose(s -> AskPattern.<UsageLedger.Command, UsageLedger.Reply>ask(node.tenants().sharding().usage(id),
                UsageLedger.GetUsage::new, TIMEOUT, node.system().scheduler())).thenApply(r -> (UsageLedger.Reply.Usage) r);
    }

    private CompletionStage<Tenant.State> send(String id, Function<ActorRef<Tenant.Reply>, Tenant.Command> command) {
        if (!Tenant.ID.matcher(id).matches()) return noTenant(id);
        return AskPattern.ask(node.tenants().sharding().tenant(id), command::apply, TIMEOUT, node.system().scheduler()).thenApply(r -> {
            if (r instanceof Tenant.Reply.Rejected rej) {
                throw switch (rej.why()) {
                    case NOT_FOUND -> new TroupeException(404, "not_found", rej.message());
                    case CONFLICT -> new TroupeException(409, "conflict", rej.message());
                    case INVALID -> new TroupeException(400, "invalid_request", rej.message());
                };
            }
            Tenant.State s = ((Tenant.Reply.Accepted) r).state();
            node.tenants().directory().update(s); // this member's request path sees the change at once
            return s;
        });
    }

    private static <T> CompletionStage<T> noTenant(String id) {
        return CompletableFuture.failedFuture(new TroupeException(404, "not_found", "no tenant '" + id + "'"));
    }
}
