package dev.troupe.embed;

import java.util.List;

/**
 * One completion to generate: the tenant it runs as (its quotas, fair share and usage ledger, exactly as an
 * HTTP request with that tenant's key), the model, the prompt and the sampling settings of
 * {@code /v1/completions}. Immutable; start with {@link #of} and change fields with the {@code with} methods.
 *
 * @param tenant      the tenant id; null runs as the anonymous tenant, which Troupe allows exactly when it would
 *                    allow an HTTP request without a key (no tenant exists yet, or {@code troupe.auth.allow-anonymous})
 * @param model       the model name in the cluster's registry
 * @param prompt      the prompt text (the model's tokenizer adds BOS as it does for /v1/completions)
 * @param maxTokens   the most tokens to generate (default 16)
 * @param temperature 0 for greedy decoding; default 1
 * @param seed        a sampling seed, or null
 * @param stop        up to 4 stop strings (none by default)
 * @param requestId   the request's key: its usage is recorded once per key in the tenant's ledger and
 *                    {@link Generator.Cancel} names it; null lets Troupe assign one
 */
public record GenerateRequest(String tenant, String model, String prompt, int maxTokens, float temperature, Long seed,
                              List<String> stop, String requestId) {
    public GenerateRequest {
        if (model == null || model.isEmpty()) throw new IllegalArgumentException("model is required");
        if (prompt == null) throw new IllegalArgumentException("prompt is required (may be empty)");
        stop = stop == null ? List.of() : List.copyOf(stop);
    }

    /** A request with the defaults of {@code /v1/completions}: 16 tokens at temperature 1. */
    public static GenerateRequest of(String tenant, String model, String prompt) {
        return new GenerateRequest(tenant, model, prompt, 16, 1f, null, List.of(), null);
    }

    public GenerateRequest withMaxTokens(int n) {
        return new GenerateRequest(tenant, model, prompt, n, temperature, seed, stop, requestId);
    }

    public GenerateRequest withTemperature(float t) {
        return new GenerateRequest(tenant, model, prompt, maxTokens, t, seed, stop, requestId);
    }

    public GenerateRequest withSeed(long s) {
        return new GenerateRequest(tenant, model, prompt, maxTokens, temperature, s, stop, requestId);
    }

    public GenerateRequest withStop(String... strings) {
        return new GenerateRequest(tenant, model, prompt, maxTokens, temperature, seed, List.of(strings), requestId);
    }

    public GenerateRequest withRequestId(String id) {
        return new GenerateRequest(tenant, model, prompt, maxTokens, temperature, seed, stop, id);
    }
}
