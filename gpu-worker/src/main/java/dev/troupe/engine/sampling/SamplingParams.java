package dev.troupe.engine.sampling;

import java.util.List;

/**
 * Per-request sampling parameters, with OpenAI-style ranges and llama.cpp-style extras.
 *
 * <p>Neutral values switch a step off: {@code temperature == 0} means greedy decoding (argmax, ties go to
 * the lowest token id), {@code topK == 0}, {@code topP == 1}, {@code minP == 0}, {@code repetitionPenalty == 1},
 * {@code frequencyPenalty == 0} and {@code presencePenalty == 0}.
 *
 * @param temperature       softmax temperature in [0, 2]; 0 = greedy
 * @param topK              keep only the k most likely tokens; 0 = off; must be &gt;= 0
 * @param topP              nucleus sampling mass in (0, 1]; 1 = off
 * @param minP              keep tokens with {@code p >= minP * pmax}; in [0, 1]; 0 = off
 * @param repetitionPenalty llama.cpp repetition penalty, &gt; 0; 1 = off. For tokens in the penalty window:
 *                          {@code logit > 0 ? logit / penalty : logit * penalty}
 * @param frequencyPenalty  OpenAI frequency penalty in [-2, 2]: {@code logit -= count * frequencyPenalty}
 * @param presencePenalty   OpenAI presence penalty in [-2, 2]: {@code logit -= (count > 0 ? presencePenalty : 0)}
 * @param penaltyLastN      how many of the most recent tokens (prompt + generated) the penalties look at;
 *                          -1 = the whole history, 0 = none
 * @param seed              seed of the sampler's random generator; {@code null} = a random seed chosen when the
 *                          sampler is created
 * @param maxTokens         maximum number of tokens to generate, &gt; 0
 * @param stop              up to 4 non-empty stop strings (copied, immutable)
 * @param topLogprobs       number of most likely alternatives to report per token, in [0, 20]
 * @param ignoreEos         keep generating past the end-of-sequence token
 * @param jsonSchema        constrained decoding: the completion must be JSON matching this JSON Schema (its text,
 *                          compiled by {@link dev.troupe.engine.grammar.JsonSchemaCompiler} where it is sampled;
 *                          {@code {"type":"object"}} for any object); {@code null} = free text
 */
public record SamplingParams(float temperature, int topK, float topP, float minP, float repetitionPenalty,
                             float frequencyPenalty, float presencePenalty, int penaltyLastN, Long seed,
                             int maxTokens, List<String> stop, int topLogprobs, boolean ignoreEos,
                             String jsonSchema) {

    /** OpenAI's limit on the number of stop strings. */
    public static final int MAX_STOP_STRINGS = 4;
    /** OpenAI's limit on {@code top_logprobs}. */
    public static final int MAX_TOP_LOGPROBS = 20;
    /** Default for {@link #penaltyLastN()}. */
    public static final int DEFAULT_PENALTY_LAST_N = 64;

    public SamplingParams {
        if (!(temperature >= 0f && temperature <= 2f)) {
            throw bad("temperature must be between 0 and 2", temperature);
        }
        if (topK < 0) {
            throw bad("topK must be >= 0 (0 = disabled)", topK);
        }
        if (!(topP > 0f && topP <= 1f)) {
            throw bad("topP must be in (0, 1]", topP);
        }
        if (!(minP >= 0f && minP <= 1f)) {
            throw bad("minP must be between 0 and 1", minP);
        }
        if (!(repetitionPenalty > 0f && repetitionPenalty < Float.POSITIVE_INFINITY)) {
            throw bad("repetitionPenalty must be > 0 and finite", repetitionPenalty);
        }
        if (!(frequencyPenalty >= -2f && frequencyPenalty <= 2f)) {
            throw bad("frequencyPenalty must be between -2 and 2", frequencyPenalty);
        }
        if (!(presencePenalty >= -2f && presencePenalty <= 2f)) {
            throw bad("presencePenalty must be between -2 and 2", presencePenalty);
        }
        if (penaltyLastN < -1) {
            throw bad("penaltyLastN must be >= -1 (-1 = whole history, 0 = none)", penaltyLastN);
        }
        if (maxTokens <= 0) {
            throw bad("maxTokens must be > 0", maxTokens);
        }
        if (stop == null) {
            throw new IllegalArgumentException("stop must not be null (use an empty list)");
        }
        if (stop.size() > MAX_STOP_STRINGS) {
            throw new IllegalArgumentException(
                    "stop must contain at most " + MAX_STOP_STRINGS + " strings, got " + stop.size());
        }
        for (int i = 0; i < stop.size(); i++) {
            String s = stop.get(i);
            if (s == null || s.isEmpty()) {
                throw new IllegalArgumentException("stop strings must be non-empty, got "
                        + (s == null ? "null" : "\"\"") + " at index " + i);
            }
        }
        stop = List.copyOf(stop);
        if (topLogprobs < 0 || topLogprobs > MAX_TOP_LOGPROBS) {
            throw bad("topLogprobs must be between 0 and " + MAX_TOP_LOGPROBS, topLogprobs);
        }
    }

    private static IllegalArgumentException bad(String rule, Object got) {
        return new IllegalArgumentException(rule + ", got " + got);
    }

    /** Greedy decoding (temperature 0) with every other option at its default. */
    public static SamplingParams greedy(int maxTokens) {
        return builder().temperature(0f).maxTokens(maxTokens).build();
    }

    /** A builder with the defaults documented on {@link Builder}. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder pre-filled with these parameters. */
    public Builder toBuilder() {
        return new Builder().temperature(temperature).topK(topK).topP(topP).minP(minP)
                .repetitionPenalty(repetitionPenalty).frequencyPenalty(frequencyPenalty)
                .presencePenalty(presencePenalty).penaltyLastN(penaltyLastN).seed(seed).maxTokens(maxTokens)
                .stop(stop).topLogprobs(topLogprobs).ignoreEos(ignoreEos).jsonSchema(jsonSchema);
    }

    /** True when any of the repetition, frequency or presence penalties is active. */
    public boolean penaltiesEnabled() {
        return penaltyLastN != 0
                && (repetitionPenalty != 1f || frequencyPenalty != 0f || presencePenalty != 0f);
    }

    /**
     * Builder for {@link SamplingParams}. Defaults: temperature 1.0, topK 0, topP 1, minP 0, repetitionPenalty 1,
     * frequencyPenalty 0, presencePenalty 0, penaltyLastN 64, seed null, maxTokens 16, stop empty,
     * topLogprobs 0, ignoreEos false, jsonSchema null. Validation happens in {@link #build()}.
     */
    public static final class Builder {
        private float temperature = 1f;
        private int topK = 0;
        private float topP = 1f;
        private float minP = 0f;
        private float repetitionPenalty = 1f;
        private float frequencyPenalty = 0f;
        private float presencePenalty = 0f;
        private int penaltyLastN = DEFAULT_PENALTY_LAST_N;
        private Long seed = null;
        private int maxTokens = 16;
        private List<String> stop = List.of();
        private int topLogprobs = 0;
        private boolean ignoreEos = false;
        private String jsonSchema = null;

        private Builder() {
        }

        public Builder temperature(float v) { this.temperature = v; return this; }

        public Builder topK(int v) { this.topK = v; return this; }

        public Builder topP(float v) { this.topP = v; return this; }

        public Builder minP(float v) { this.minP = v; return this; }

        public Builder repetitionPenalty(float v) { this.repetitionPenalty = v; return this; }

        public Builder frequencyPenalty(float v) { this.frequencyPenalty = v; return this; }

        public Builder presencePenalty(float v) { this.presencePenalty = v; return this; }

        public Builder penaltyLastN(int v) { this.penaltyLastN = v; return this; }

        public Builder seed(Long v) { this.seed = v; return this; }

        public Builder seed(long v) { this.seed = v; return this; }

        public Builder maxTokens(int v) { this.maxTokens = v; return this; }

        public Builder stop(List<String> v) { this.stop = v; return this; }

        public Builder stop(String... v) { this.stop = java.util.Arrays.asList(v); return this; }

        public Builder topLogprobs(int v) { this.topLogprobs = v; return this; }

        public Builder ignoreEos(boolean v) { this.ignoreEos = v; return this; }

        public Builder jsonSchema(String v) { this.jsonSchema = v; return this; }

        public SamplingParams build() {
            return new SamplingParams(temperature, topK, topP, minP, repetitionPenalty, frequencyPenalty,
                    presencePenalty, penaltyLastN, seed, maxTokens, stop, topLogprobs, ignoreEos, jsonSchema);
        }
    }
}
