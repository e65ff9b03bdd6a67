package dev.troupe.sharding;

import dev.troupe.actors.tenant.QuotaCounter;
import dev.troupe.actors.tenant.QuotaLimiter;
import dev.troupe.actors.tenant.Quotas;
import dev.troupe.actors.tenant.TenantQuota;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import java.util.function.IntSupplier;

/**
 * Counts a tenant's requests at its one {@link TenantQuota} entity, wherever it runs, so the quota holds
 * across every gateway. If the entity does not answer in time (its node is being replaced), the gateway
 * admits against its own share of the quota (the quota divided by the gateways), so a partition never
 * multiplies it; such admissions are still released to the entity.
 */
public final class ClusterQuotaCounter implements QuotaCounter {
    private static final Logger log = LoggerFactory.getLogger(ClusterQuotaCounter.class);

    private final Function<String, EntityRef<TenantQuota.Command>> entities;
    private final String node;
    private final Duration timeout;
    private final QuotaLimiter fallback = new QuotaLimiter(System::nanoTime);
    private final IntSupplier gateways;

    /** gateways: how many gateway nodes the cluster has now (for the fallback share). */
    public ClusterQuotaCounter(Function<String, EntityRef<TenantQuota.Command>> entities, String node, Duration timeout, IntSupplier gateways) {
        this.entities = entities;
        this.node = node;
        this.timeout = timeout;
        this.gateways = gateways;
    }

    @Override
    public CompletionStage<QuotaLimiter.Decision> acquire(String tenant, Quotas quotas) {
        return entities.apply(tenant).<TenantQuota.Decision>ask(to -> new TenantQuota.Acquire(node, quotas, to), timeout)
                .thenApply(TenantQuota.Decision::toLimiter)
                .exceptionally(t -> {
                    log.warn("the quota counter of tenant '{}' did not answer in {}: admitting against this gateway's share ({})",
                            tenant, timeout, t.toString());
                    return fallback.acquire(tenant, quotas.share(Math.max(1, gateways.getAsInt())));
                });
    }

    @Override
    public void release(String tenant, long tokens) {
        entities.apply(tenant).tell(new TenantQuota.Release(node, tokens));
        fallback.release(tenant, tokens);
    }
}
