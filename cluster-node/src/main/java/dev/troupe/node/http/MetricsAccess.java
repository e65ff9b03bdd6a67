package dev.troupe.node.http;

import java.util.Optional;

/**
 * Who may see the tenant-labelled metrics: a scraper with {@code troupe.metrics.scrape-token} or the admin
 * token (each compared in constant time). Everyone else gets the aggregate series only.
 */
public final class MetricsAccess {
    private final AdminAuth scrape;
    private final AdminAuth admin;

    public MetricsAccess(String scrapeToken, String adminToken) {
        this.scrape = new AdminAuth(scrapeToken);
        this.admin = new AdminAuth(adminToken);
    }

    /** Whether this Authorization header may see the per-tenant series. */
    public boolean tenants(Optional<String> authorization) {
        return authorization.isPresent() && (scrape.check(authorization) == null || admin.check(authorization) == null);
    }
}
