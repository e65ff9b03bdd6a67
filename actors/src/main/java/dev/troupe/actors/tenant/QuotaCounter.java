package dev.troupe.actors.tenant;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Where a gateway counts a tenant's requests and tokens against its {@link Quotas}: this node alone
 * ({@link #local}), or the tenant's one quota entity for the whole cluster, so that N gateways do not give a
 * tenant N times its quota.
 */
public interface QuotaCounter {
    /** Admits one request (counted, one more in flight) or says which limit refuses it. */
    CompletionStage<QuotaLimiter.Decision> acquire(String tenant, Quotas quotas);

    /** Ends an admitted request: one fewer in flight, its tokens charged. */
    void release(String tenant, long tokens);

    /** Counts on this node only. */
    static QuotaCounter local(QuotaLimiter limiter) {
        return new QuotaCounter() {
            @Override
            public CompletionStage<QuotaLimiter.Decision> acquire(String tenant, Quotas quotas) {
                return CompletableFuture.completedFuture(limiter.acquire(tenant, quotas));
            }

            @Override
            public void release(String tenant, long tokens) {
                limiter.release(tenant, tokens);
            }
        };
    }
}
