package dev.troupe.engine;

import dev.troupe.engine.kv.PagedKvCache;

/**
 * Settings of one engine instance.
 *
 * @param threads        CPU threads for the forward pass; 0 = all available processors
 * @param backend        "auto" (best available), "native" (native matmuls for Q8_0, K-quants, F16 and BF16 on the vector
 *                       kernels), "native-avx2" (the same with the AVX2 kernels only), "vector" or "scalar"
 * @param kvCacheTokens  size of the paged KV pool in tokens, shared by all sequences; 0 = sized by kvCacheBytes
 * @param kvBlockSize    tokens per KV block
 * @param maxBatchTokens most tokens one step may carry (prefill chunks + decode tokens)
 * @param maxSequences   most sequences open at once (each may want one logits row per step)
 * @param kvCacheType    how keys and values are stored: F16 (half the memory) or F32
 * @param kvCacheBytes   memory budget of the KV pool when kvCacheTokens is 0; 0 = {@link #DEFAULT_KV_CACHE_BYTES}
 *                       or a quarter of the maximum heap, whichever is less (the pool lives on the heap)
 */
public record EngineOptions(int threads, String backend, int kvCacheTokens, int kvBlockSize, int maxBatchTokens, int maxSequences,
                            PagedKvCache.Type kvCacheType, long kvCacheBytes) {
    /** The KV pool's budget when none is configured. */
    public static final long DEFAULT_KV_CACHE_BYTES = 256L << 20;
    /** A pool sized by a budget holds at most this many full contexts (more would only hold more cached prefixes). */
    public static final int MAX_DEFAULT_CONTEXTS = 8;

    public static EngineOptions defaults() {
        return new EngineOptions(0, "auto", 0, 16, 512, 64, PagedKvCache.Type.F16, 0);
    }

    /** The previous shape (F16 KV sized by the default budget). */
    public EngineOptions(int threads, String backend, int kvCacheTokens, int kvBlockSize, int maxBatchTokens, int maxSequences) {
        this(threads, backend, kvCacheTokens, kvBlockSize, maxBatchTokens, maxSequences, PagedKvCache.Type.F16, 0);
    }

    public EngineOptions {
        if (threads < 0) throw new IllegalArgumentException("threads must be >= 0, got " + threads);
        if (!java.util.List.of("auto", "native", "native-avx2", "vector", "scalar").contains(backend)) {
            throw new IllegalArgumentException("backend must be auto, native, native-avx2, vector or scalar, got '" + backend + "'");
        }
        if (kvCacheTokens < 0) throw new IllegalArgumentException("kvCacheTokens must be >= 0, got " + kvCacheTokens);
        if (kvBlockSize < 1) throw new IllegalArgumentException("kvBlockSize must be >= 1, got " + kvBlockSize);
        if (maxBatchTokens < 1) throw new IllegalArgumentException("maxBatchTokens must be >= 1, got " + maxBatchTokens);
        if (maxSequences < 1) throw new IllegalArgumentException("maxSequences must be >= 1, got " + maxSequences);
        if (kvCacheType == null) throw new IllegalArgumentException("kvCacheType must be given");
        if (kvCacheBytes < 0) throw new IllegalArgumentException("kvCacheBytes must be >= 0, got " + kvCacheBytes);
    }

    /** The KV budget in effect: kvCacheBytes, else the default (at most a quarter of the maximum heap). */
    public long effectiveKvCacheBytes() {
        return kvCacheBytes > 0 ? kvCacheBytes : Math.min(DEFAULT_KV_CACHE_BYTES, Runtime.getRuntime().maxMemory() / 4);
    }

    /**
     * Tokens of the KV pool for a model (or slice) whose tokens take {@code 2 * layers * kvDim} stored numbers:
     * kvCacheTokens when set; else as many as the budget holds, at least one full context (or no sequence could
     * reach the model's context length) and at most {@link #MAX_DEFAULT_CONTEXTS} of them.
     */
    public long kvPoolTokens(int layers, int kvDim, int contextLength) {
        if (kvCacheTokens > 0) return kvCacheTokens;
        long perToken = PagedKvCache.bytesPerToken(kvCacheType, layers, kvDim);
        long byBudget = effectiveKvCacheBytes() / perToken;
        return Math.max(contextLength, Math.min(byBudget, (long) MAX_DEFAULT_CONTEXTS * contextLength));
    }

    public int effectiveThreads() {
        return threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
    }

    public EngineOptions withThreads(int t) { return new EngineOptions(t, backend, kvCacheTokens, kvBlockSize, maxBatchTokens, maxSequences, kvCacheType, kvCacheBytes); }

    public EngineOptions withBackend(String b) { return new EngineOptions(threads, b, kvCacheTokens, kvBlockSize, maxBatchTokens, maxSequences, kvCacheType, kvCacheBytes); }

    public EngineOptions withKvCacheTokens(int n) { return new EngineOptions(threads, backend, n, kvBlockSize, maxBatchTokens, maxSequences, kvCacheType, kvCacheBytes); }

    public EngineOptions withKvBlockSize(int n) { return new EngineOptions(threads, backend, kvCacheTokens, n, maxBatchTokens, maxSequences, kvCacheType, kvCacheBytes); }

    public EngineOptions withMaxBatchTokens(int n) { return new EngineOptions(threads, backend, kvCacheTokens, kvBlockSize, n, maxSequences, kvCacheType, kvCacheBytes); }

    public EngineOptions withKvCacheType(PagedKvCache.Type t) {
        return new EngineOptions(threads, backend, kvCacheTokens, kvBlockSize, maxBatchTokens, maxSequences, t, kvCacheBytes);
    }

    public EngineOptions withKvCacheBytes(long n) {
        return new EngineOptions(threads, backend, kvCacheTokens, kvBlockSize, maxBatchTokens, maxSequences, kvCacheType, n);
    }

    public EngineOptions withMaxSequences(int n) { return new EngineOptions(threads, backend, kvCacheTokens, kvBlockSize, maxBatchTokens, n, kvCacheType, kvCacheBytes); }
}
