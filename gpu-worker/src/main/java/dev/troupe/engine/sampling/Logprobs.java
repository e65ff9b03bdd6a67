package dev.troupe.engine.sampling;

/**
 * Reusable, preallocated holder for the log-probabilities of one sampled position, filled by
 * {@link Sampler#sample(float[], int, TokenHistory, Logprobs)}: the chosen token with its logprob, and the
 * top {@code count()} alternatives in descending order of logprob (ties: lower token id first).
 *
 * <p>Logprobs are the log-softmax of the logits after penalties, before temperature and truncation
 * (top-k / top-p / min-p). Not thread-safe; reuse one instance per decoding loop.
 */
public final class Logprobs {
    /** Maximum number of alternatives held, equal to OpenAI's {@code top_logprobs} limit. */
    public static final int CAPACITY = SamplingParams.MAX_TOP_LOGPROBS;

    final int[] tokens = new int[CAPACITY];
    final float[] logprobs = new float[CAPACITY];
    int count;
    int chosenToken = -1;
    float chosenLogprob = Float.NaN;

    /** The token that was sampled, or -1 before the first fill. */
    public int chosenToken() {
        return chosenToken;
    }

    /** Logprob of {@link #chosenToken()}. */
    public float chosenLogprob() {
        return chosenLogprob;
    }

    /** Number of alternatives held (equals {@code params.topLogprobs()}, capped by the vocabulary size). */
    public int count() {
        return count;
    }

    /** Token id of the i-th most likely alternative. */
    public int token(int i) {
        check(i);
        return tokens[i];
    }

    /** Logprob of the i-th most likely alternative. */
    public float logprob(int i) {
        check(i);
        return logprobs[i];
    }

    /** Resets to the empty state. */
    public void clear() {
        count = 0;
        chosenToken = -1;
        chosenLogprob = Float.NaN;
    }

    private void check(int i) {
        if (i < 0 || i >= count) {
            throw new IndexOutOfBoundsException("index " + i + " out of bounds for count " + count);
        }
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("Logprobs{chosen=").append(chosenToken).append(':').append(chosenLogprob)
                .append(", top=[");
        for (int i = 0; i < count; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(tokens[i]).append(':').append(logprobs[i]);
        }
        return sb.append("]}").toString();
    }
}
