package dev.troupe.actors.tenant;

import dev.troupe.actors.wire.CrossNode;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

import java.util.HashMap;
import java.util.Map;

/**
 * One tenant's quota counters for the whole cluster (a sharded entity per tenant, soft state): every
 * gateway's admissions and releases for the tenant come here, so the tenant gets its quota once however
 * many gateways its requests use. A {@link QuotaLimiter} decides, exactly as on a single node; this entity
 * also remembers which gateway node each request in flight came through, so a node that is gone has its
 * requests released.
 * If the entity moves (its node left), the counts start again from zero: at worst one extra minute's quota.
 */
public final class TenantQuota extends AbstractBehavior<TenantQuota.Command> {

    public interface Command extends CrossNode {}

    public record Acquire(String node, Quotas quotas, ActorRef<Decision> replyTo) implements Command {}

    public record Release(String node, long tokens) implements Command {}

    /** A gateway node left the cluster: its requests are no longer in flight. */
    public record NodeGone(String node) implements Command {}

    /** The answer to {@link Acquire}; limit and retryAfterSeconds are set when refused. */
    public record Decision(boolean allowed, QuotaLimiter.Limit limit, long retryAfterSeconds) implements CrossNode {
        public QuotaLimiter.Decision toLimiter() {
            return allowed ? QuotaLimiter.Decision.ALLOWED : new QuotaLimiter.Decision(false, limit, retryAfterSeconds);
        }
    }

    private final String tenant;
    private final QuotaLimiter limiter = new QuotaLimiter(System::nanoTime);
    private final Map<String, Integer> inFlight = new HashMap<>();

    public static Behavior<Command> create(String tenant) {
        return Behaviors.setup(ctx -> new TenantQuota(ctx, tenant));
    }

    private TenantQuota(ActorContext<Command> ctx, String tenant) {
        super(ctx);
        this.tenant = tenant;
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Acquire.class, this::onAcquire)
                .onMessage(Release.class, this::onRelease)
                .onMessage(NodeGone.class, this::onNodeGone)
                .build();
    }

    private Behavior<Command> onAcquire(Acquire a) {
        QuotaLimiter.Decision d = limiter.acquire(tenant, a.quotas());
        if (d.allowed()) inFlight.merge(a.node(), 1, Integer::sum);
        a.replyTo().tell(new Decision(d.allowed(), d.limit(), d.retryAfterSeconds()));
        return this;
    }

    /** The gone node's requests leave the limiter's count of requests in flight (they charged no tokens here). */
    private Behavior<Command> onNodeGone(NodeGone g) {
        Integer running = inFlight.remove(g.node());
        for (int i = 0; running != null && i < running; i++) limiter.release(tenant, 0);
        return this;
    }

    private Behavior<Command> onRelease(Release r) {
        inFlight.computeIfPresent(r.node(), (n, c) -> c > 1 ? c - 1 : null);
        limiter.release(tenant, r.tokens());
        return this;
    }
}
