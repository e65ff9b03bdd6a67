package dev.troupe.engine.sampling;

import dev.troupe.engine.kernel.Argmax;

import java.security.SecureRandom;

/**
 * Picks the next token of one sequence from the model's raw logits.
 *
 * <p>Pipeline, in order:
 * <ol>
 *   <li>copy the logits into a private scratch buffer (the caller's array is never modified; NaN logits are
 *       treated as {@code -inf}); plain greedy (no penalties, no logprobs) skips the copy and takes the
 *       vectorised {@link Argmax} of the row itself, with the same result;</li>
 *   <li>penalties over the last {@code penaltyLastN} tokens of the history: repetition (llama.cpp:
 *       {@code logit > 0 ? logit / p : logit * p}), then frequency and presence (OpenAI:
 *       {@code logit -= count * frequency + (count > 0 ? presence : 0)});</li>
 *   <li>if {@code temperature == 0}: argmax, ties to the lowest token id;</li>
 *   <li>otherwise: divide by the temperature, top-k, softmax, top-p (smallest set of most likely tokens whose
 *       cumulative probability is {@code >= topP}, at least one token), min-p (keep {@code p >= minP * pmax}),
 *       renormalise, and draw with a uniform number that depends only on the seed and the token's position in
 *       the completion (the n-th {@code sample} call; {@link #resumeAt}).</li>
 * </ol>
 * Candidates are ordered by probability, ties broken by lower token id, so results are fully determined by the
 * seed and the sequence of logits; a completion continued on another replica from position n (the same
 * prompt and tokens so far, {@link #resumeAt}(n)) draws exactly what the uninterrupted one would have.
 *
 * <p>All scratch buffers are allocated in the constructor or come from a shared {@link Workspace};
 * {@code sample} allocates nothing on the heap.
 * A sampler belongs to one sequence and is not thread-safe.
 */
public final class Sampler {
    /** Top-k up to this size is found in one pass with an insertion buffer; larger k uses quickselect. */
    private static final int SMALL_TOP_K = 64;
    /** Ranges at most this long are insertion-sorted. */
    private static final int INSERTION_THRESHOLD = 24;
    /** Probability thresholds tried, in order, to gather top-p candidates without sorting the whole vocab. */
    private static final double[] TOP_P_PROBE = {1e-3, 1e-5, 0.0};

    private final SamplingParams params;
    private final int vocabSize;
    private final long seed;
    /** Position in the completion of the next token sampled. */
    private long position;

    private final float temperature;
    private final double invTemperature;
    private final int topK;
    private final float topP;
    private final float minP;
    private final boolean penalties;
    private final float repetitionPenalty;
    private final float frequencyPenalty;
    private final float presencePenalty;
    private final int penaltyLastN;
    private final int topLogprobs;

    /** Logits after penalties, indexed by token id. Never changed after the penalty step. */
    private final float[] scratch;
    /** Unnormalised probabilities, indexed by token id (only used when top-k is off). */
    private final float[] weights;
    /** Candidate keys and token ids, kept in parallel. */
    private final float[] candKey;
    private final int[] candIdx;
    /** Occurrence counts for the penalty window; all zero between calls. */
    private final int[] counts;
    /** Distinct tokens seen in the penalty window (the indices of {@link #counts} to reset). */
    private final int[] touched;

    /** Largest penalised logit of the current call, recorded by whichever path computed it. */
    private float rowMax;
    /**
     * How many leading entries of {@link #candIdx} hold the overall best tokens, best first, in the current call
     * (the sorted top-k); lets the logprobs step skip its own top-N pass.
     */
    private int rankedPrefix;

    /**
     * The vocab-sized buffers a {@code sample} call works in (~0.5 MB for a 32k vocab). Nothing in them
     * carries from one call to the next, so samplers that one thread calls one at a time can share one:
     * a step loop keeps a single workspace instead of allocating one per request.
     */
    public static final class Workspace {
        final int vocabSize;
        final float[] scratch, weights, candKey;
        final int[] candIdx, counts, touched;

        public Workspace(int vocabSize) {
            this(vocabSize, true);
        }

        Workspace(int vocabSize, boolean penalties) {
            if (vocabSize <= 0) {
                throw new IllegalArgumentException("vocabSize must be > 0, got " + vocabSize);
            }
            this.vocabSize = vocabSize;
            this.scratch = new float[vocabSize];
            this.weights = new float[vocabSize];
            this.candKey = new float[vocabSize];
            this.candIdx = new int[vocabSize];
            this.counts = penalties ? new int[vocabSize] : null;
            this.touched = penalties ? new int[vocabSize] : null;
        }
    }

    private static final SecureRandom SEEDS = new SecureRandom();

    /** A sampler with its own workspace. */
    public Sampler(SamplingParams p, int vocabSize) {
        this(p, new Workspace(vocabSize, p != null && p.penaltiesEnabled()));
    }

    /** A sampler working in a shared workspace: calls on samplers sharing one must not overlap. */
    public Sampler(SamplingParams p, Workspace ws) {
        if (p == null) {
            throw new IllegalArgumentException("params must not be null");
        }
        this.params = p;
        this.vocabSize = ws.vocabSize;
        long seed = p.seed() != null ? p.seed() : SEEDS.nextLong() ^ System.nanoTime();
        this.seed = seed;

        this.temperature = p.temperature();
        this.invTemperature = p.temperature() > 0f ? 1.0 / p.temperature() : 0.0;
        this.topK = p.topK() > 0 && p.topK() < vocabSize ? p.topK() : 0;
        this.topP = p.topP();
        this.minP = p.minP();
        this.penalties = p.penaltiesEnabled();
        this.repetitionPenalty = p.repetitionPenalty();
        this.frequencyPenalty = p.frequencyPenalty();
        this.presencePenalty = p.presencePenalty();
        this.penaltyLastN = p.penaltyLastN();
        this.topLogprobs = Math.min(p.topLogprobs(), vocabSize);

        this.scratch = ws.scratch;
        this.weights = ws.weights;
        this.candKey = ws.candKey;
        this.candIdx = ws.candIdx;
        this.counts = penalties ? ws.counts : null;
        this.touched = penalties ? ws.touched : null;
    }

    public SamplingParams params() {
        return params;
    }

    public int vocabSize() {
        return vocabSize;
    }

    /**
     * Whether {@code sample} reads nothing of the row but its argmax (plain greedy: no temperature, penalties,
     * logprobs or constraint), so that a split model need not gather the whole row ({@code Batch.onlyArgmax}).
     */
    public boolean readsOnlyArgmax(boolean logprobs, boolean constrained) {
        return temperature == 0f && !penalties && !logprobs && !constrained;
    }

    /**
     * Samples one token.
     *
     * @param logits  raw model logits; {@code logits[offset .. offset + vocabSize)} belong to this sequence.
     *                Not modified.
     * @param offset  start of this sequence's row in {@code logits}
     * @param history prompt + generated tokens so far, for the penalties; may be {@code null} (= empty).
     *                Token ids outside {@code [0, vocabSize)} are ignored.
     * @return the sampled token id
     */
    public int sample(float[] logits, int offset, TokenHistory history) {
        return sample(logits, offset, history, null);
    }

    /**
     * Samples one token and, if {@code out} is non-null, reports log-probabilities into it: the chosen token's
     * logprob and the {@code params().topLogprobs()} most likely tokens in descending order.
     *
     * <p>The reported logprobs are the log-softmax of the logits <em>after penalties and before temperature
     * and truncation</em> (top-k, top-p, min-p), i.e. what the (penalised) model itself assigns; so the chosen
     * token's logprob does not depend on the temperature and is finite even where truncation made other
     * tokens impossible.
     *
     * @see #sample(float[], int, TokenHistory)
     */
    public int sample(float[] logits, int offset, TokenHistory history, Logprobs out) {
        return sample(logits, offset, history, out, null);
    }

    /**
     * Samples one token among those set in {@code allowed} (one bit per token id; {@code null} = all), as if the
     * others' logits were {@code -inf}: constrained decoding. Reported logprobs are those of the constrained
     * distribution. At least one token must be allowed.
     *
     * @see #sample(float[], int, TokenHistory, Logprobs)
     */
    public int sample(float[] logits, int offset, TokenHistory history, Logprobs out, long[] allowed) {
        if (logits == null) {
            throw new IllegalArgumentException("logits must not be null");
        }
        if (offset < 0 || offset > logits.length - vocabSize) {
            throw new IndexOutOfBoundsException("logits row [" + offset + ", " + (offset + (long) vocabSize)
                    + ") out of bounds for length " + logits.length);
        }
        position++;
        if (temperature == 0f && out == null && !(penalties && history != null) && allowed == null) {
            // Plain greedy, the common case at scale: the argmax of the raw row, without the copy.
            return Argmax.firstMax(logits, offset, vocabSize);
        }
        final float[] s = scratch;
        final int n = vocabSize;
        for (int i = 0; i < n; i++) {
            float v = logits[offset + i];
            s[i] = v == v ? v : Float.NEGATIVE_INFINITY;
        }
        if (penalties && history != null) {
            applyPenalties(history);
        }
        if (allowed != null) {
            for (int i = 0; i < n; i++) {
                if ((allowed[i >>> 6] & (1L << i)) == 0) s[i] = Float.NEGATIVE_INFINITY;
            }
        }
        rankedPrefix = 0;
        int token = temperature == 0f ? argmax() : sampleStochastic();
        if (out != null) {
            fillLogprobs(token, out);
        }
        return token;
    }

    /**
     * The next token sampled is the completion's token at position (0 = its first): a completion continued
     * elsewhere after n tokens calls resumeAt(n) and then draws what the original would have.
     */
    public void resumeAt(long position) {
        if (position < 0) throw new IllegalArgumentException("position must be >= 0, got " + position);
        this.position = position;
    }

    /**
     * A number in [0, 1) fixed by the seed and the position of the token being sampled (SplitMix64's
     * finaliser over the pair), so no state but the position carries from one token to the next.
     */
    private double uniform() {
        long z = seed + position * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z = z ^ (z >>> 31);
        return (z >>> 11) * 0x1.0p-53;
    }

    /** Test hook: the logit of {@code token} after penalties, as of the last {@code sample} call that applied them. */
    float penalizedLogit(int token) {
        return scratch[token];
    }

    // ------------------------------------------------------------------ penalties

    private void applyPenalties(TokenHistory history) {
        final int size = history.size();
        final int start = penaltyLastN < 0 ? 0 : Math.max(0, size - penaltyLastN);
        final int[] cnt = counts;
        final int[] seen = touched;
        final int n = vocabSize;
        int distinct = 0;
        for (int i = start; i < size; i++) {
            int t = history.get(i);
            if (t >= 0 && t < n && cnt[t]++ == 0) {
                seen[distinct++] = t;
            }
        }
        final float[] s = scratch;
        final float rep = repetitionPenalty;
        final float freq = frequencyPenalty;
        final float pres = presencePenalty;
        for (int j = 0; j < distinct; j++) {
            int t = seen[j];
            int c = cnt[t];
            cnt[t] = 0;
            float l = s[t];
            if (rep != 1f) {
                l = l > 0f ? l / rep : l * rep;
            }
            l -= c * freq + pres;
            s[t] = l;
        }
    }

    // ------------------------------------------------------------------ greedy

    /** Index of the largest scratch logit, lowest index on ties; 0 if all are -inf. */
    private int argmax() {
        int best = Argmax.firstMax(scratch, 0, vocabSize);
        rowMax = scratch[best];
        return best;
    }

    // ------------------------------------------------------------------ stochastic

    private int sampleStochastic() {
        return topK > 0 ? sampleTopK() : sampleFull();
    }

    /** Top-k on: select the k best logits, sort them, then top-p / min-p on that short sorted list. */
    private int sampleTopK() {
        final float[] key = candKey;
        final int[] idx = candIdx;
        final int n = vocabSize;
        final int k = topK;
        if (k <= SMALL_TOP_K) {
            topN(scratch, n, k, key, idx);
        } else {
            final float[] s = scratch;
            for (int i = 0; i < n; i++) {
                key[i] = s[i];
                idx[i] = i;
            }
            select(0, n, k);
            sort(0, k);
        }
        final float lmax = key[0];
        rowMax = lmax;
        rankedPrefix = k;
        if (lmax == Float.POSITIVE_INFINITY || lmax == Float.NEGATIVE_INFINITY) {
            return idx[0];
        }
        final double invT = invTemperature;
        double z = 0.0;
        for (int j = 0; j < k; j++) {
            float w = (float) FastExp.exp((key[j] - lmax) * invT);
            key[j] = w;
            z += w;
        }
        int m = k;
        if (topP < 1f) {
            m = nucleusLength(m, topP * z);
        }
        if (minP > 0f) {
            // weights are p / pmax (the head has weight exactly 1), so min-p is a threshold on them
            while (m > 1 && key[m - 1] < minP) {
                m--;
            }
        }
        return draw(m);
    }

    /** Top-k off: weights over the whole vocab, then top-p / min-p without sorting everything if possible. */
    private int sampleFull() {
        final float[] s = scratch;
        final float[] w = weights;
        final int n = vocabSize;
        float lmax = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            float v = s[i];
            if (v > lmax) {
                lmax = v;
            }
        }
        rowMax = lmax;
        if (lmax == Float.POSITIVE_INFINITY || lmax == Float.NEGATIVE_INFINITY) {
            return argmax();
        }
        final double invT = invTemperature;
        double z = 0.0;
        for (int i = 0; i < n; i++) {
            float x = (float) FastExp.exp((s[i] - lmax) * invT);
            w[i] = x;
            z += x;
        }
        if (topP >= 1f) {
            if (minP <= 0f) {
                return drawDense(z);
            }
            gather(minP);
            return draw(gatheredCount);
        }
        final double target = topP * z;
        for (double probe : TOP_P_PROBE) {
            // weights are p / pmax and p = weight / z, so probability threshold t is weight threshold t * z
            double wThreshold = probe * z;
            boolean minPBound = minP >= wThreshold;
            double mass = gather(minPBound ? minP : wThreshold);
            int m = gatheredCount;
            if (mass >= target || probe == 0.0) {
                // the nucleus is a prefix of the gathered candidates (which are a prefix of the sorted vocab)
                sort(0, m);
                return draw(nucleusLength(m, target));
            }
            if (minPBound) {
                // every token passing min-p is here and their mass is < topP: min-p is the tighter cut
                return draw(m);
            }
        }
        throw new AssertionError("unreachable");
    }

    private int gatheredCount;

    /** Copies tokens with weight >= threshold into the candidate arrays; returns their total weight. */
    private double gather(double threshold) {
        final float[] w = weights;
        final float[] key = candKey;
        final int[] idx = candIdx;
        final int n = vocabSize;
        int m = 0;
        double mass = 0.0;
        for (int i = 0; i < n; i++) {
            float x = w[i];
            if (x >= threshold) {
                key[m] = x;
                idx[m] = i;
                m++;
                mass += x;
            }
        }
        gatheredCount = m;
        return mass;
    }

    /** Length of the shortest prefix of the sorted candidates whose cumulative weight reaches {@code target}. */
    private int nucleusLength(int m, double target) {
        final float[] key = candKey;
        double cum = 0.0;
        for (int j = 0; j < m; j++) {
            cum += key[j];
            if (cum >= target) {
                return j + 1;
            }
        }
        return m;
    }

    /** Draws from candidates [0, m) proportionally to their weights. */
    private int draw(int m) {
        final float[] key = candKey;
        double total = 0.0;
        for (int j = 0; j < m; j++) {
            total += key[j];
        }
        double u = uniform() * total;
        double acc = 0.0;
        int last = 0;
        for (int j = 0; j < m; j++) {
            float x = key[j];
            if (x > 0f) {
                acc += x;
                last = j;
                if (u < acc) {
                    return candIdx[j];
                }
            }
        }
        return candIdx[last];
    }

    /** Draws from the whole vocab proportionally to {@link #weights}. */
    private int drawDense(double total) {
        final float[] w = weights;
        double u = uniform() * total;
        double acc = 0.0;
        int last = 0;
        for (int i = 0, n = vocabSize; i < n; i++) {
            float x = w[i];
            if (x > 0f) {
                acc += x;
                last = i;
                if (u < acc) {
                    return i;
                }
            }
        }
        return last;
    }

    // ------------------------------------------------------------------ logprobs

    private void fillLogprobs(int token, Logprobs out) {
        final float[] s = scratch;
        final int n = vocabSize;
        final float lmax = rowMax;
        double lse;
        if (lmax == Float.NEGATIVE_INFINITY || lmax == Float.POSITIVE_INFINITY) {
            lse = lmax;
        } else {
            double sum = 0.0;
            for (int i = 0; i < n; i++) {
                sum += FastExp.exp((double) s[i] - lmax);
            }
            lse = lmax + Math.log(sum);
        }
        out.chosenToken = token;
        out.chosenLogprob = (float) (s[token] - lse);

        final int want = topLogprobs;
        final int c;
        if (rankedPrefix >= want) {
            // the sorted top-k already lists the best tokens in order
            for (int j = 0; j < want; j++) {
                int t = candIdx[j];
                out.tokens[j] = t;
                out.logprobs[j] = s[t];
            }
            c = want;
        } else {
            c = topN(s, n, want, out.logprobs, out.tokens);
        }
        for (int j = 0; j < c; j++) {
            out.logprobs[j] = (float) (out.logprobs[j] - lse);
        }
        out.count = c;
    }

    // ------------------------------------------------------------------ primitive select / sort

    /**
     * One pass over {@code src[0, n)} keeping the {@code want} largest values, best first (ties: lower index
     * first), in {@code outKey} / {@code outIdx}, via insertion into a short sorted buffer. Cheap for small
     * {@code want}: most values fail the single comparison against the current worst kept value.
     *
     * @return the number of entries written, {@code min(want, n)}
     */
    static int topN(float[] src, int n, int want, float[] outKey, int[] outIdx) {
        if (want <= 0) {
            return 0;
        }
        int c = 0;
        for (int i = 0; i < n; i++) {
            float v = src[i];
            int j;
            if (c < want) {
                j = c++;
            } else if (v > outKey[want - 1]) {
                j = want - 1;
            } else {
                continue;
            }
            while (j > 0 && v > outKey[j - 1]) {
                outKey[j] = outKey[j - 1];
                outIdx[j] = outIdx[j - 1];
                j--;
            }
            outKey[j] = v;
            outIdx[j] = i;
        }
        return c;
    }

    /** True if candidate a ranks before candidate b: larger key first, then lower token id. */
    private boolean before(int a, int b) {
        float ka = candKey[a];
        float kb = candKey[b];
        return ka > kb || (ka == kb && candIdx[a] < candIdx[b]);
    }

    private void swap(int a, int b) {
        float k = candKey[a];
        candKey[a] = candKey[b];
        candKey[b] = k;
        int t = candIdx[a];
        candIdx[a] = candIdx[b];
        candIdx[b] = t;
    }

    /**
     * Partitions [lo, hi) around a median-of-three pivot; returns the pivot's final position p, with
     * [lo, p) ranking before it and (p, hi) after it.
     */
    private int partition(int lo, int hi) {
        int last = hi - 1;
        int mid = (lo + last) >>> 1;
        if (before(mid, lo)) {
            swap(mid, lo);
        }
        if (before(last, lo)) {
            swap(last, lo);
        }
        if (before(last, mid)) {
            swap(last, mid);
        }
        // lo <= mid <= last in rank order; use mid as pivot, parked at last
        swap(mid, last);
        int store = lo;
        for (int i = lo; i < last; i++) {
            if (before(i, last)) {
                swap(i, store++);
            }
        }
        swap(store, last);
        return store;
    }

    /** Rearranges [lo, hi) so that [lo, k) holds its k - lo best candidates (in no particular order). */
    private void select(int lo, int hi, int k) {
        while (hi - lo > INSERTION_THRESHOLD) {
            int p = partition(lo, hi);
            if (p == k || p == k - 1) {
                return;
            }
            if (p > k) {
                hi = p;
            } else {
                lo = p + 1;
            }
        }
        insertionSort(lo, hi);
    }

    /** Sorts [lo, hi) best first. */
    private void sort(int lo, int hi) {
        while (hi - lo > INSERTION_THRESHOLD) {
            int p = partition(lo, hi);
            if (p - lo < hi - p - 1) {
                sort(lo, p);
                lo = p + 1;
            } else {
                sort(p + 1, hi);
                hi = p;
            }
        }
        insertionSort(lo, hi);
    }

    private void insertionSort(int lo, int hi) {
        final float[] key = candKey;
        final int[] idx = candIdx;
        for (int i = lo + 1; i < hi; i++) {
            float k = key[i];
            int t = idx[i];
            int j = i;
            while (j > lo && (k > key[j - 1] || (k == key[j - 1] && t < idx[j - 1]))) {
                key[j] = key[j - 1];
                idx[j] = idx[j - 1];
                j--;
            }
            key[j] = k;
            idx[j] = t;
        }
    }
}
