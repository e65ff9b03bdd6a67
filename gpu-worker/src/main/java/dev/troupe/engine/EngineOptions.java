package dev.troupe.engine;

/**
 * Settings of one engine instance.
 *
 * @param threads        CPU threads for the forward pass; 0 = all available processors
 * @param backend        "auto" (best available), "vector" or "scalar"
 * @param kvCacheTokens  size of the paged KV pool in tokens, shared by all sequences; 0 = 8 full contexts
 * @param kvBlockSize    tokens per KV block
 * @param maxBatchTokens most tokens one step may carry (prefill chunks + decode tokens)
 * @param maxSequences   most sequences open at once (each may want one logits row per step)
 */
public record EngineOptions(int threads, String backend, int kvCacheTokens, int kvBlockSize, int maxBatchTokens, int maxSequences) {

    public static EngineOptions defaults() {
        return new EngineOptions(0, "auto", 0, 16, 512, 64);
    }

    public EngineOptions {
        if (threads < 0) throw new IllegalArgumentException("threads must be >= 0, got " + threads);
        if (!backend.equals("auto") && !backend.equals("vector") && !backend.equals("scalar")) {
            throw new IllegalArgumentException("backend must be auto, vector or scalar, got '" + backend + "'");
        }
        if (kvCacheTokens < 0) throw new IllegalArgumentException("kvCacheTokens must be >= 0, got " + kvCacheTokens);
        if (kvBlockSize < 1) throw new IllegalArgumentException("kvBlockSize must be >= 1, got " + kvBlockSize);
        if (maxBatchTokens < 1) throw new IllegalArgumentException("maxBatchTokens must be >= 1, got " + maxBatchTokens);
        if (maxSequences < 1) throw new IllegalArgumentException("maxSequences must be >= 1, got " + maxSequences);
    }

    public int effectiveThreads() {
        return threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
    }

    public EngineOptions withThreads(int t) { return new EngineOptions(t, backend, kvCacheTokens, kvBlockSize, maxBatchTokens, maxSequences); }

    public EngineOptions withBackend(String b) { return new EngineOptions(threads, b, kvCacheTokens, kvBlockSize, maxBatchTokens, maxSequences); }

    public EngineOptions withKvCacheTokens(int n) { return new EngineOptions(threads, backend, n, kvBlockSize, maxBatchTokens, maxSequences); }

    public EngineOptions withKvBlockSize(int n) { return new EngineOptions(threads, backend, kvCacheTokens, n, maxBatchTokens, maxSequences); }

    public EngineOptions withMaxBatchTokens(int n) { return new EngineOptions(threads, backend, kvCacheTokens, kvBlockSize, n, maxSequences); }

    public EngineOptions withMaxSequences(int n) { return new EngineOptions(threads, backend, kvCacheTokens, kvBlockSize, maxBatchTokens, n); }
}
