package dev.troupe.actors.tenant;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Every tenant as this node last heard of it, for the request path: authenticating a bearer key is a map
 * lookup by key id and one SHA-256, with no actor in between. Fed by {@link TenantFeed} (changes published
 * by the entities) and by the start-up load; safe to use from any thread.
 */
public final class TenantDirectory {
    /** The authenticated tenant: what the rest of the request needs. */
    public record Principal(String tenant, String keyId, int weight, Quotas quotas, List<String> models) {
        public boolean allows(String model) {
            return models.isEmpty() || models.contains(model);
        }
    }

    public enum Denial {
        /** No key, or not of the form {@code tk-<keyId>-<secret>}. */
        MALFORMED,
        /** No tenant has this key (or the secret does not match). */
        UNKNOWN,
        REVOKED,
        SUSPENDED
    }

    /** Exactly one of principal and denial is set. */
    public record Result(Principal principal, Denial denial) {
        public boolean ok() {
            return principal != null;
        }
    }

    private final Map<String, Tenant.State> tenants = new ConcurrentHashMap<>();
    private final Map<String, String> tenantByKey = new ConcurrentHashMap<>();

    /** Takes a tenant's newer state (older sequence numbers, e.g. a late load, are ignored). */
    public void update(Tenant.State state) {
        if (state == null || !state.exists()) return;
        tenants.merge(state.id(), state, (old, neu) -> neu.history().size() >= old.history().size() ? neu : old);
        for (String keyId : tenants.get(state.id()).keys().keySet()) tenantByKey.put(keyId, state.id());
    }

    public boolean isEmpty() {
        return tenants.isEmpty();
    }

    public Tenant.State get(String tenant) {
        return tenants.get(tenant);
    }

    public List<Tenant.State> all() {
        return new ArrayList<>(tenants.values());
    }

    /** Checks {@code key} (the bearer token, without "Bearer "). */
    public Result authenticate(String key) {
        ApiKeys.Parsed parsed = ApiKeys.parse(key);
        if (parsed == null) return new Result(null, Denial.MALFORMED);
        String tenant = tenantByKey.get(parsed.keyId());
        Tenant.State s = tenant == null ? null : tenants.get(tenant);
        Tenant.KeyInfo info = s == null ? null : s.keys().get(parsed.keyId());
        if (info == null || !ApiKeys.matches(info.salt(), info.hash(), parsed.secret())) return new Result(null, Denial.UNKNOWN);
        if (info.revoked()) return new Result(null, Denial.REVOKED);
        if (s.suspended()) return new Result(null, Denial.SUSPENDED);
        return new Result(new Principal(s.id(), info.keyId(), s.weight(), s.quotas(), s.models()), null);
    }
}
