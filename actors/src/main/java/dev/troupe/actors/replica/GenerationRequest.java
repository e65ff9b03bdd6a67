package dev.troupe.actors.replica;

import dev.troupe.engine.sampling.SamplingParams;

/**
 * One completion to generate: prompt token ids (BOS included as the model wants), sampling parameters
 * (max tokens, stop strings, logprobs...), and an optional deadline on the {@link System#nanoTime()}
 * clock (0 = none).
 */
public record GenerationRequest(String requestId, int[] promptTokens, SamplingParams params, long deadlineNanos) {
    public GenerationRequest {
        if (requestId == null || requestId.isEmpty()) throw new IllegalArgumentException("requestId is required");
        if (promptTokens == null || promptTokens.length == 0) throw new IllegalArgumentException("the prompt has no tokens");
        if (params == null) throw new IllegalArgumentException("params are required");
    }
}
