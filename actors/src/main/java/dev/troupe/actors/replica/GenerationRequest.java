package dev.troupe.actors.replica;

import dev.troupe.engine.sampling.SamplingParams;

/**
 * One completion to generate: prompt token ids (BOS included as the model wants), sampling parameters
 * (max tokens, stop strings, logprobs...), an optional deadline on the {@link System#nanoTime()} clock
 * (0 = none), and whose request it is: the tenant and its weight, its share of the replica under
 * contention relative to other tenants' (weight 2 gets about twice the tokens of weight 1).
 *
 * <p>resumed &gt; 0 makes the request the continuation of a completion that another replica began: the
 * last resumed prompt tokens are the completion so far (already delivered to the client). The replica
 * generates the rest as the original would have (the sampler resumes at that position, the text state
 * and stop strings see the tokens so far, max tokens counts them) and reports the original prompt and
 * the whole completion in its counts.
 *
 * <p>traceParent: the W3C {@code traceparent} of the gateway's span for this request (null when none), so
 * that whatever the replica records, on this node or another, joins the caller's trace.
 */
public record GenerationRequest(String requestId, int[] promptTokens, SamplingParams params, long deadlineNanos,
                                String tenant, int weight, int resumed, String traceParent) {
    /** The tenant of requests that name none. */
    public static final String ANONYMOUS = "anonymous";
    public static final int MAX_WEIGHT = 1000;

    public GenerationRequest {
        if (requestId == null || requestId.isEmpty()) throw new IllegalArgumentException("requestId is required");
        if (promptTokens == null || promptTokens.length == 0) throw new IllegalArgumentException("the prompt has no tokens");
        if (params == null) throw new IllegalArgumentException("params are required");
        if (tenant == null || tenant.isBlank()) throw new IllegalArgumentException("tenant is required");
        if (weight < 1 || weight > MAX_WEIGHT) {
            throw new IllegalArgumentException("weight must be between 1 and " + MAX_WEIGHT + ", got " + weight);
        }
        if (resumed < 0 || resumed >= promptTokens.length) {
            throw new IllegalArgumentException("resumed must be in [0, " + promptTokens.length + "), got " + resumed);
        }
    }

    /** No trace context. */
    public GenerationRequest(String requestId, int[] promptTokens, SamplingParams params, long deadlineNanos,
                             String tenant, int weight, int resumed) {
        this(requestId, promptTokens, params, deadlineNanos, tenant, weight, resumed, null);
    }

    /** A new request (nothing generated before). */
    public GenerationRequest(String requestId, int[] promptTokens, SamplingParams params, long deadlineNanos, String tenant, int weight) {
        this(requestId, promptTokens, params, deadlineNanos, tenant, weight, 0);
    }

    /** This request continued after the tokens generated so far (its own resumed ones included). */
    public GenerationRequest continuedAfter(int[] generated) {
        int[] p = java.util.Arrays.copyOf(promptTokens, promptTokens.length + generated.length);
        System.arraycopy(generated, 0, p, promptTokens.length, generated.length);
        return new GenerationRequest(requestId, p, params, deadlineNanos, tenant, weight, resumed + generated.length, traceParent);
    }

    /** A request of the {@link #ANONYMOUS} tenant, weight 1. */
    public GenerationRequest(String requestId, int[] promptTokens, SamplingParams params, long deadlineNanos) {
        this(requestId, promptTokens, params, deadlineNanos, ANONYMOUS, 1);
    }
}
