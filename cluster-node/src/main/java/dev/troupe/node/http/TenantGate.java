package dev.troupe.node.http;

import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.actors.tenant.QuotaCounter;
import dev.troupe.actors.tenant.QuotaLimiter;
import dev.troupe.actors.tenant.Quotas;
import dev.troupe.actors.tenant.TenantDirectory;
import dev.troupe.actors.tenant.TenantDirectory.Principal;
import dev.troupe.actors.tenant.UsageLedger;
import dev.troupe.node.openai.ApiError;
import org.apache.pekko.NotUsed;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;
import org.apache.pekko.stream.javadsl.Flow;

import java.time.Clock;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;

/**
 * Tenant checks on the {@code /v1} request path, in order: {@link #authenticate} (401, or 403 for a
 * suspended tenant), {@link #requireAllowed} (403 when the model is not on the tenant's allow-list) and
 * {@link #admit} (429 with Retry-After over a quota). An admitted request ends through its
 * {@link Admission}, exactly once: the concurrency slot is released, its tokens are charged to the
 * tokens-per-minute window and, when it finished, its usage is recorded in the tenant's ledger under its
 * request id (each run is billed, a repeat with the same {@code Idempotency-Key} too).
 *
 * <p>Anonymous access: while no tenant exists, requests need no key (and any key sent is ignored) if the
 * node listens on loopback or {@code troupe.auth.allow-anonymous} is on; {@code ServeCommand} refuses to
 * start otherwise. Once a tenant exists every request needs a valid key, unless allow-anonymous is on,
 * in which case requests without a key still pass as {@link #ANONYMOUS} (no quota, no ledger).
 */
public final class TenantGate {
    /** Who a request without a key runs as when that is allowed. */
    public static final Principal ANONYMOUS = new Principal("anonymous", null, 1, Quotas.UNLIMITED, List.of());
    private static final int MAX_IDEMPOTENCY_KEY = 255;

    private final TenantDirectory directory;
    private final QuotaCounter quotas;
    private final Function<String, EntityRef<UsageLedger.Command>> ledgers;
    private final boolean anonymousWhileNoTenants;
    private final boolean allowAnonymous;
    private final Clock clock;
    /** Usage lines whose ledger did not answer the first time. */
    private final UsageBacklog backlog = new UsageBacklog(java.time.Duration.ofSeconds(2), java.time.Duration.ofMinutes(10));

    /**
     * @param ledgers                 the usage ledger entity of a tenant
     * @param anonymousWhileNoTenants whether requests need no key while no tenant exists (loopback or allow-anonymous)
     * @param allowAnonymous          whether requests without a key pass even when tenants exist
     */
    public TenantGate(TenantDirectory directory, QuotaCounter quotas, Function<String, EntityRef<UsageLedger.Command>> ledgers,
                      boolean anonymousWhileNoTenants, boolean allowAnonymous, Clock clock) {
        this.directory = directory;
        this.quotas = quotas;
        this.ledgers = ledgers;
        this.anonymousWhileNoTenants = anonymousWhileNoTenants;
        this.allowAnonymous = allowAnonymous;
        this.clock = clock;
    }

    /** A gate that lets every request through as {@link #ANONYMOUS} (embedded use, benchmarks). */
    public static TenantGate open() {
        return new TenantGate(new TenantDirectory(), QuotaCounter.local(new QuotaLimiter(System::nanoTime)), t -> null, true, true,
                Clock.systemUTC());
    }

    public TenantDirectory directory() {
        return directory;
    }

    /** The tenant the {@code Authorization} header's bearer key belongs to, or {@link #ANONYMOUS}; else throws 401/403. */
    public Principal authenticate(Optional<String> authorization) {
        if (directory.isEmpty() && anonymousWhileNoTenants) return ANONYMOUS;
        if (authorization.isEmpty() || authorization.get().isBlank()) {
            if (allowAnonymous) return ANONYMOUS;
            throw new ApiError(401, "invalid_request_error", "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
                    null, "missing_api_key");
        }
        String header = authorization.get().trim();
        if (!header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            throw new ApiError(401, "invalid_request_error", "The Authorization header must be 'Bearer <key>'.", null, "invalid_api_key");
        }
        TenantDirectory.Result r = directory.authenticate(header.substring(7).trim());
        if (r.ok()) return r.principal();
        // Never echo the key: not even a prefix of it.
        switch (r.denial()) {
            case REVOKED:
                throw new ApiError(401, "invalid_request_error", "The API key has been revoked.", null, "invalid_api_key");
            case SUSPENDED:
                throw new ApiError(403, "permission_error", "The tenant of this API key is suspended.", null, "tenant_suspended");
            default:
                throw new ApiError(401, "invalid_request_error", "Incorrect API key provided.", null, "invalid_api_key");
        }
    }

    /**
     * The tenant a trusted caller names by id (the embedded API: the host has authenticated its users
     * itself); null names no tenant and is let through as {@link #ANONYMOUS} exactly when a request without
     * a key would be. 403 for an unknown or suspended tenant.
     */
    public Principal principal(String tenant) {
        if (tenant == null) return authenticate(Optional.empty());
        dev.troupe.actors.tenant.Tenant.State s = directory.get(tenant);
        if (s == null) {
            throw new ApiError(403, "permission_error", "There is no tenant '" + tenant + "'.", null, "unknown_tenant");
        }
        if (s.suspended()) throw new ApiError(403, "permission_error", "The tenant is suspended.", null, "tenant_suspended");
        return new Principal(s.id(), null, s.weight(), s.quotas(), s.models());
    }

    /** 403 unless the tenant's allow-list has the model. */
    public void requireAllowed(Principal who, String model) {
        if (!who.allows(model)) {
            throw new ApiError(403, "permission_error", "This API key may not use the model '" + model + "'.", "model", "model_not_allowed");
        }
    }

    /** Whether {@code /v1/models} shows this model to the tenant. */
    public boolean visible(Principal who, String model) {
        return who.allows(model);
    }

    /**
     * Admits the request under the tenant's quotas (counted cluster-wide), or fails with 429 and Retry-After;
     * a bad Idempotency-Key throws 400 at once.
     */
    public CompletionStage<Admission> admit(Principal who, Optional<String> idempotencyKey, String requestId, String model) {
        if (idempotencyKey.isPresent()) {
            String k = idempotencyKey.get();
            if (k.isEmpty() || k.length() > MAX_IDEMPOTENCY_KEY) {
                throw ApiError.badRequest("The Idempotency-Key header must be 1 to " + MAX_IDEMPOTENCY_KEY + " characters.", null);
            }
        }
        if (who == ANONYMOUS) return CompletableFuture.completedFuture(Admission.NONE);
        return quotas.acquire(who.tenant(), who.quotas()).thenApply(d -> {
            if (!d.allowed()) {
                String what = switch (d.limit()) {
                    case REQUESTS_PER_MINUTE -> "requests per minute (" + who.quotas().requestsPerMinute() + ")";
                    case TOKENS_PER_MINUTE -> "tokens per minute (" + who.quotas().tokensPerMinute() + ")";
                    case CONCURRENT_REQUESTS -> "concurrent requests (" + who.quotas().maxConcurrent() + ")";
                };
                throw ApiError.rateLimited("Rate limit reached: this tenant's quota of " + what + " is used up. Retry after "
                        + d.retryAfterSeconds() + " s.", d.limit().name().toLowerCase(java.util.Locale.ROOT), d.retryAfterSeconds());
            }
            // Billed per run: a repeat with the same Idempotency-Key runs again, so it is billed again (the key is
            // this request's id, which only the gateway's own retries of the ledger line share).
            return new Admission(this, who.tenant(), requestId, model);
        });
    }

    /** One admitted request; ends exactly once, whichever of its end paths runs first. */
    public static final class Admission {
        static final Admission NONE = new Admission(null, null, null, null);
        private static final CompletionStage<Void> DONE = CompletableFuture.completedFuture(null);
        private static final java.time.Duration LEDGER_TIMEOUT = java.time.Duration.ofSeconds(5);
        private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(TenantGate.class);

        private final TenantGate gate;
        private final String tenant;
        private final String requestKey;
        private final String model;
        private final AtomicBoolean ended = new AtomicBoolean();

        private Admission(TenantGate gate, String tenant, String requestKey, String model) {
            this.gate = gate;
            this.tenant = tenant;
            this.requestKey = requestKey;
            this.model = model;
        }

        /**
         * The request finished: release, charge the tokens and record the usage once. Completes when the
         * usage line is in the journal, so a response is only completed once its usage is recorded; when the
         * ledger does not answer within 5 s (its node died, the entity is moving) the response completes and
         * the line goes to the backlog, sent again until the ledger takes it. The ledger dedupes by request
         * id, so those retries count once; a client's repeat is a new run and is billed.
         */
        public CompletionStage<Void> finished(int promptTokens, int completionTokens) {
            if (gate == null || !ended.compareAndSet(false, true)) return DONE;
            gate.quotas.release(tenant, (long) promptTokens + completionTokens);
            EntityRef<UsageLedger.Command> ledger = gate.ledgers.apply(tenant);
            if (ledger == null) return DONE;
            LocalDate day = LocalDate.now(gate.clock.withZone(ZoneOffset.UTC));
            java.util.function.Supplier<CompletionStage<?>> record = () -> ledger.<UsageLedger.Reply>ask(
                    to -> new UsageLedger.Record(requestKey, model, day, promptTokens, completionTokens, to), LEDGER_TIMEOUT);
            return record.get().<Void>handle((ok, failed) -> {
                if (failed != null) gate.backlog.add(tenant, requestKey, record);
                return null;
            });
        }

        /** The request ended without finishing: release, charging the tokens it used (no usage line). */
        public void ended(int tokensUsed) {
            if (gate == null || !ended.compareAndSet(false, true)) return;
            gate.quotas.release(tenant, tokensUsed);
        }

        /** A pass-through stage that ends this admission from the events (and when the stream stops, whatever the reason). */
        public Flow<GenerationEvent, GenerationEvent, NotUsed> observer() {
            Flow<GenerationEvent, GenerationEvent, NotUsed> pass = Flow.of(GenerationEvent.class);
            if (gate == null) return pass;
            // The Finished event goes on only once its usage is recorded (see finished()).
            return pass.mapAsync(1, e -> {
                if (e instanceof GenerationEvent.Finished f) return finished(f.promptTokens(), f.completionTokens()).thenApply(x -> e);
                if (e instanceof GenerationEvent.Failed f) ended(f.promptTokens() + f.completionTokens());
                return CompletableFuture.completedFuture(e);
            }).watchTermination((mat, done) -> {
                done.whenComplete((d, t) -> ended(0));
                return mat;
            });
        }
    }
}
