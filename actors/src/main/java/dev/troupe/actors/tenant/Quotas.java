package dev.troupe.actors.tenant;

import dev.troupe.actors.registry.JsonSerializable;

/**
 * A tenant's limits; 0 means unlimited for each. Requests and tokens are counted over a sliding minute
 * (see {@link QuotaLimiter}); {@code maxConcurrent} bounds the requests in flight at once.
 */
public record Quotas(int requestsPerMinute, long tokensPerMinute, int maxConcurrent) implements JsonSerializable {
    public static final Quotas UNLIMITED = new Quotas(0, 0, 0);

    /** One of n equal shares (rounded up; unlimited stays unlimited): what one of n gateways may use on its own. */
    public Quotas share(int n) {
        if (n <= 1) return this;
        return new Quotas((int) ceil(requestsPerMinute, n), ceil(tokensPerMinute, n), (int) ceil(maxConcurrent, n));
    }

    private static long ceil(long v, int n) {
        return v == 0 ? 0 : (v + n - 1) / n;
    }

    /** Null when every limit is 0 or more; otherwise which one is wrong. */
    public String invalid() {
        if (requestsPerMinute < 0) return "quotas.requests_per_minute must be 0 (unlimited) or more, got " + requestsPerMinute;
        if (tokensPerMinute < 0) return "quotas.tokens_per_minute must be 0 (unlimited) or more, got " + tokensPerMinute;
        if (maxConcurrent < 0) return "quotas.max_concurrent must be 0 (unlimited) or more, got " + maxConcurrent;
        return null;
    }
}
