package dev.troupe.engine;

import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.kernel.KernelScratch;
import dev.troupe.engine.kernel.Kernels;
import dev.troupe.engine.kernel.NativeKernels;
import dev.troupe.engine.kernel.ScalarKernels;
import dev.troupe.engine.kernel.StagedInput;
import dev.troupe.engine.kernel.VectorKernels;
import dev.troupe.engine.kv.PagedKvCache;
import dev.troupe.engine.model.LlamaConfig;
import dev.troupe.engine.model.LlamaWeights;
import dev.troupe.engine.model.TensorShard;
import dev.troupe.engine.tp.TensorExchange;
import dev.troupe.engine.tp.TensorGroupLostException;
import dev.troupe.engine.model.WeightMatrix;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;

/**
 * The Llama forward pass over a batch of tokens from many sequences, with a paged KV cache.
 * One step = {@link #forward(Batch)}: every weight is read once for all tokens of the batch.
 * Not thread-safe: one step loop owns a model; the parallelism is inside the step.
 *
 * <p>A model may be one slice of a tensor-parallel group ({@link TensorShard}, {@link TensorExchange}): it
 * then holds its share of the heads, FFN units and vocabulary, and the same pass adds up the slices' partial
 * sums after the embedding lookup, the attention output and the FFN down projection. The leader (rank 0)
 * hands each step to the followers and collects their logits; a follower's steps come from
 * {@link dev.troupe.engine.tp.TensorFollowerAgent}.
 */
public final class LlamaModel implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LlamaModel.class);

    private final GgufFile file;
    private final LlamaConfig c;
    private final LlamaWeights w;
    private final TensorShard shard;
    private final TensorExchange exchange;     // null when the model is not split
    private final int[] vocabStarts;           // [ranks + 1] first vocabulary row of each slice
    private final Kernels kernels;
    private final ThreadTeam team;
    private final KernelScratch[] scratch;     // [thread]
    private final StagedInput staging;         // the matmul input, staged once for all threads: [T/8][maxCols][8]
    private final PagedKvCache kv;
    private final int maxTokens;               // T: most tokens per step
    private final int maxLogitRows;

    // Activations, allocated once. T = maxTokens, D = dim, KV = kvDim, F = ffnDim, V = vocab.
    private final float[] x;        // [T][D] residual stream
    private final float[] xb;       // [T][D] normalised input of a sub-layer
    private final float[] xb2;      // [T][D] attention output / sub-layer output
    // Split models: Dq = the slice's query heads * headDim, KV and F the slice's share (the whole when not split).
    private final float[] q;        // [T][Dq] queries
    private final float[] k;        // [T][KV] keys of this step
    private final float[] v;        // [T][KV] values of this step
    private final float[] hb;       // [T][F] gate, then SwiGLU output
    private final float[] hb2;      // [T][F] up
    private final float[] att;      // [thread][attStride] attention weights
    private final int attStride;    // contextLength rounded up to whole KV blocks
    private final float[] xLast;    // [R][D] normalised states of the tokens that want logits
    private final float[] logits;   // [R][V], R = maxLogitRows; a follower's: [R][its vocabulary share]
    private final int logitStride;  // V, or a follower's share
    private final float[] ropeCos;  // [contextLength][ropeDim / 2]
    private final float[] ropeSin;  // [contextLength][ropeDim / 2]

    private final MatmulRegion matmul = new MatmulRegion();
    private final AttentionRegion attention = new AttentionRegion();
    private final ResidualNormRegion residualNorm = new ResidualNormRegion();
    private final GateUpRegion gateUp = new GateUpRegion();
    private final RopeAndStoreRegion ropeAndStore = new RopeAndStoreRegion();

    public static LlamaModel load(java.nio.file.Path path, EngineOptions options) throws IOException {
        GgufFile f = GgufFile.open(path);
        try {
            return new LlamaModel(f, options);
        } catch (IOException | RuntimeException e) {
            f.close();
            throw e;
        }
    }

    public LlamaModel(GgufFile file, EngineOptions options) throws IOException {
        this(file, options, 0, 1, null);
    }

    /** Loads slice {@code rank} of a {@code ranks}-way split of the model in {@code path} (see the constructor below). */
    public static LlamaModel loadSlice(java.nio.file.Path path, EngineOptions options, int rank, int ranks, TensorExchange exchange)
            throws IOException {
        GgufFile f = GgufFile.open(path);
        try {
            return new LlamaModel(f, options, rank, ranks, exchange);
        } catch (IOException | RuntimeException e) {
            f.close();
            throw e;
        }
    }

    /** Slice {@code rank} of a {@code ranks}-way tensor-parallel group whose slices talk over {@code exchange}. */
    public LlamaModel(GgufFile file, EngineOptions options, int rank, int ranks, TensorExchange exchange) throws IOException {
        this.file = file;
        this.c = LlamaConfig.from(file);
        this.shard = LlamaWeights.shard(file, c, rank, ranks);
        if (ranks > 1 && exchange == null) throw new IllegalArgumentException("a " + ranks + "-way slice needs an exchange");
        this.exchange = ranks > 1 ? exchange : null;
        this.w = new LlamaWeights(file, c, shard);
        this.vocabStarts = new int[ranks + 1];
        for (int r = 0; r <= ranks; r++) vocabStarts[r] = r == ranks ? c.vocab() : shard.vocabStartOf(r, c.vocab());
        this.kernels = selectKernels(options.backend());
        int threads = options.effectiveThreads();
        this.maxTokens = options.maxBatchTokens();
        this.maxLogitRows = Math.min(maxTokens, Math.max(options.maxSequences(), 1));
        // Sized for the whole model, so every slice of a tensor-parallel group has the same blocks (their block
        // tables follow the leader's); the budget is the replica's, shared out over its slices.
        long kvTokens = options.kvPoolTokens(c.layers(), c.kvDim(), c.contextLength());
        int blocks = (int) Math.min(Integer.MAX_VALUE, (kvTokens + options.kvBlockSize() - 1) / options.kvBlockSize());
        this.kv = new PagedKvCache(options.kvCacheType(), c.layers(), shard.kvHeads(), c.headDim(), options.kvBlockSize(), blocks,
                options.maxSequences(), c.contextLength());
        if (this.exchange != null && shard.isLeader()) kv.recordChanges();

        int maxCols = Math.max(c.dim(), c.ffnDim());
        java.util.List<WeightMatrix> matrices = allMatrices();
        this.team = new ThreadTeam(threads, "troupe-engine");
        try {
            // Repacking is most of a load (a 1B Q4_K_M model: ~3 s on one thread): the team shares the matrices out.
            long bytes = 0;
            for (WeightMatrix m : matrices) bytes += m.bytes();
            LoadProgress progress = LoadProgress.forConsole(file.path().getFileName().toString(), bytes, log);
            java.util.concurrent.atomic.AtomicInteger next = new java.util.concurrent.atomic.AtomicInteger();
            team.run((worker, workers) -> {
                for (int i = next.getAndIncrement(); i < matrices.size(); i = next.getAndIncrement()) {
                    kernels.prepare(matrices.get(i));
                    progress.add(matrices.get(i).bytes());
                }
            });
            progress.finish();
            // The backend's panels now hold the weights: let go of the file's bytes (the token embedding stays
            // mapped, one row read per token), so the mapped pages leave the process instead of doubling it.
            boolean released = false;
            for (WeightMatrix m : matrices) {
                if (m != w.tokenEmbedding && kernels.preparedBytes(m) > 0) {
                    m.releaseData();
                    released = true;
                }
            }
            if (released) {
                for (dev.troupe.engine.gguf.GgufTensor t : file.tensors().values()) t.dropMapping();
                System.gc();   // a mapping is unmapped when its buffer is collected: once here, not at some later step
            }
        } catch (RuntimeException | Error e) {
            team.close();   // its threads would outlive the failed load
            throw e;
        }
        this.scratch = new KernelScratch[threads];
        this.staging = new StagedInput(maxTokens, maxCols);
        for (int i = 0; i < threads; i++) scratch[i] = new KernelScratch(maxCols, staging);

        int T = maxTokens, D = c.dim(), Dq = shard.heads() * c.headDim(), KV = shard.kvHeads() * c.headDim(), F = shard.ffn();
        x = new float[T * D];
        xb = new float[T * D];
        xb2 = new float[T * Dq];
        q = new float[T * Dq];
        k = new float[T * KV];
        v = new float[T * KV];
        hb = new float[T * F];
        hb2 = new float[T * F];
        attStride = (c.contextLength() + options.kvBlockSize() - 1) / options.kvBlockSize() * options.kvBlockSize();
        att = new float[threads * attStride];
        xLast = new float[maxLogitRows * D];
        logitStride = this.exchange == null || shard.isLeader() ? c.vocab() : shard.vocab();
        logits = new float[maxLogitRows * logitStride];

        int half = c.ropeDim() / 2;
        ropeCos = new float[c.contextLength() * half];
        ropeSin = new float[c.contextLength() * half];
        for (int pos = 0; pos < c.contextLength(); pos++) {
            for (int i = 0; i < half; i++) {
                double theta = pos * (double) c.ropeScale() * Math.pow(c.ropeBase(), -2.0 * i / c.ropeDim());
                if (c.ropeFreqFactors() != null) theta /= c.ropeFreqFactors()[i];
                ropeCos[pos * half + i] = (float) Math.cos(theta);
                ropeSin[pos * half + i] = (float) Math.sin(theta);
            }
        }
        log.info("loaded {}{}: {} dim={} layers={} heads={}/{} ffn={} vocab={} ctx={} weights={} ({} KiB); backend {} on {} threads; "
                        + "KV cache {} {} blocks x {} tokens ({} MiB, {} bytes per token)",
                file.path().getFileName(), shard.isWhole() ? "" : " slice " + rank + "/" + ranks, c.architecture(), c.dim(), c.layers(),
                shard.heads(), shard.kvHeads(), shard.ffn(), shard.vocab(), c.contextLength(),
                w.layers[0].wq.type(), w.bytes() >> 10, kernels.name(), threads, kv.type(), blocks, options.kvBlockSize(),
                kv.bytes() >> 20, kv.bytesPerToken());
    }

    private static Kernels selectKernels(String backend) {
        boolean vectorOk;
        try {
            vectorOk = VectorKernels.usable();
        } catch (Throwable e) { // module not added to the JVM
            vectorOk = false;
        }
        switch (backend) {
            case "scalar": return new ScalarKernels();
            case "vector":
                if (!vectorOk) {
                    throw new IllegalStateException("backend 'vector' needs the JVM flag --add-modules jdk.incubator.vector and 256-bit SIMD");
                }
                return new VectorKernels();
            case "native":
            case "native-avx2":
                if (!vectorOk) {
                    throw new IllegalStateException("backend '" + backend + "' runs beside the vector kernels, which need the JVM flag "
                            + "--add-modules jdk.incubator.vector and 256-bit SIMD");
                }
                if (!NativeKernels.usable()) throw new IllegalStateException("backend '" + backend + "': " + NativeKernels.unavailableReason());
                return NativeKernels.create(new VectorKernels(), backend.equals("native-avx2"));
            default:
                if (!vectorOk) return new ScalarKernels();
                return NativeKernels.usable() ? new NativeKernels(new VectorKernels()) : new VectorKernels();
        }
    }

    private java.util.List<WeightMatrix> allMatrices() {
        java.util.List<WeightMatrix> all = new java.util.ArrayList<>();
        all.add(w.output);
        for (LlamaWeights.Layer l : w.layers) {
            all.add(l.wq); all.add(l.wk); all.add(l.wv); all.add(l.wo); all.add(l.wGate); all.add(l.wUp); all.add(l.wDown);
        }
        return all;
    }

    public LlamaConfig config() { return c; }

    /** The part of the model this instance computes (the whole unless it is a tensor-parallel slice). */
    public TensorShard shard() { return shard; }

    /** Bytes of weights this instance holds, in their file encoding. */
    public long weightBytes() { return w.bytes(); }

    public GgufFile file() { return file; }

    public PagedKvCache kvCache() { return kv; }

    public String backendName() { return kernels.name(); }

    /** Bytes of the backend's own copies of the weight matrices (its repacked panels), beside the file. */
    public long preparedWeightBytes() {
        long n = 0;
        for (WeightMatrix m : allMatrices()) n += kernels.preparedBytes(m);
        return n;
    }

    /**
     * Weight bytes one decode step reads for a token: every matrix in the form its kernel reads (its panels, or the
     * file's bytes where it has none) and one embedding row (counted as floats). Single-stream decode is bound by
     * the memory's read bandwidth over this.
     */
    public long weightBytesPerToken() {
        long n = (long) c.dim() * 4;
        for (WeightMatrix m : allMatrices()) {
            long prepared = kernels.preparedBytes(m);
            n += prepared > 0 ? prepared : m.bytes();
        }
        return n;
    }

    public int threads() { return team.size(); }

    public int maxBatchTokens() { return maxTokens; }

    public int maxLogitRows() { return maxLogitRows; }

    /**
     * The logits of the last step: row r at [r * vocab, (r + 1) * vocab). Overwritten by the next step. Of a
     * split model's row marked {@link Batch#onlyArgmax} only the argmax is certain (see there what the row holds).
     */
    public float[] logits() { return logits; }

    public int vocabSize() { return c.vocab(); }

    /**
     * Runs one step. Every sequence in the batch must be open in the KV cache with blocks reserved for
     * its positions; each token attends to its own sequence's positions up to its own (causal).
     * Fills {@link #logits()} with one row per token that asked for logits, in batch order.
     */
    public void forward(Batch b) {
        int T = b.size;
        if (T == 0) return;
        if (b.logitCount > maxLogitRows) {
            throw new IllegalArgumentException("batch asks for " + b.logitCount + " logits rows; this engine has " + maxLogitRows);
        }
        if (T > maxTokens) throw new IllegalArgumentException("batch has " + T + " tokens; this engine takes " + maxTokens);
        int D = c.dim(), Dq = shard.heads() * c.headDim(), KV = shard.kvHeads() * c.headDim(), F = shard.ffn();
        for (int t = 0; t < T; t++) {
            int pos = b.positions[t];
            if (pos < 0 || pos >= c.contextLength() || pos >= kv.capacity(b.sequences[t])) {
                throw new IllegalArgumentException("position " + pos + " of sequence " + b.sequences[t]
                        + " is outside the context (" + c.contextLength() + ") or its reserved KV blocks");
            }
            int tok = b.tokens[t];
            if (tok < 0 || tok >= c.vocab()) throw new IllegalArgumentException("token id " + tok + " outside vocabulary of " + c.vocab());
        }

        // Elementwise regions are not worth waking the team for a handful of tokens.
        boolean wide = T >= 4;

        // 0. A split model's leader hands the step to its followers
        if (exchange != null && shard.isLeader()) check(exchange.sendStep(b, kv));

        // 1. Token embeddings: x[t] = E[token[t]] (each slice has its share of the vocabulary, the others
        //    add zeros); first attention input xb = rmsnorm(x) * attn_norm
        for (int t = 0; t < T; t++) {
            int row = b.tokens[t] - shard.vocabStart();
            if (row >= 0 && row < shard.vocab()) w.tokenEmbedding.dequantizeRow(row, x, t * D);
            else java.util.Arrays.fill(x, t * D, (t + 1) * D, 0f);
        }
        allReduce(x, T * D);
        residualNorm.set(T, false, w.layers[0].attnNorm);
        run(residualNorm, wide);

        for (int l = 0; l < c.layers(); l++) {
            LlamaWeights.Layer layer = w.layers[l];

            // 2. Projections: q = Wq xb [T][Dq], k = Wk xb [T][KV], v = Wv xb [T][KV]
            matmul.set(T, xb, D, layer.wq, q, Dq, layer.wk, k, KV, layer.wv, v, KV);
            team.run(matmul);

            // 3. RoPE on q and k, then store k and v in the paged cache at each token's position
            ropeAndStore.set(b, l);
            run(ropeAndStore, wide);

            // 4. Causal attention of every token (each head) over its own sequence: xb2 [T][Dq]
            attention.set(b, l);
            team.run(attention);

            // 5. Output projection xb = Wo xb2 (summed over the slices); residual x += xb; FFN input xb = rmsnorm(x) * ffn_norm
            matmul.set(T, xb2, Dq, layer.wo, xb, D, null, null, 0, null, null, 0);
            team.run(matmul);
            allReduce(xb, T * D);
            residualNorm.set(T, true, layer.ffnNorm);
            run(residualNorm, wide);

            // 6. hb = silu(Wg xb) * (Wu xb) [T][F], each thread on its own rows of both
            gateUp.set(T, layer);
            team.run(gateUp);

            // 7. Down projection xb = Wd hb (summed over the slices); residual x += xb; next layer's input (or none after the last)
            matmul.set(T, hb, F, layer.wDown, xb, D, null, null, 0, null, null, 0);
            team.run(matmul);
            allReduce(xb, T * D);
            residualNorm.set(T, true, l + 1 < c.layers() ? w.layers[l + 1].attnNorm : null);
            run(residualNorm, wide);
        }

        // 8. Logits only for the tokens that asked: final norm, then the classifier [R][V] (each slice its
        //    vocabulary rows; the followers' go to the leader)
        int R = b.logitCount;
        if (R == 0) return;
        for (int r = 0; r < R; r++) rmsnorm(xLast, r * D, x, b.logitRows[r] * D, w.outputNorm, D);
        matmul.set(R, xLast, D, w.output, logits, logitStride, null, null, 0, null, null, 0);
        team.run(matmul);
        if (exchange != null) check(exchange.gatherLogits(logits, b, c.vocab(), vocabStarts, logits));
    }

    /** A split model's partial sums buf[0, len) become the group's sums; nothing to do when not split. */
    private void allReduce(float[] buf, int len) {
        if (exchange != null) check(exchange.allReduceSum(buf, len));
    }

    /** A failed exchange ends the group: the step cannot be finished by this slice alone. */
    private void check(int status) {
        if (status != TensorExchange.OK) throw new TensorGroupLostException(shard.rank(), status);
    }

    private void run(ThreadTeam.Task task, boolean parallel) {
        if (parallel) team.run(task);
        else task.run(0, 1);
    }

    /**
     * Runs throw-away steps (a prompt-sized one, then single and batched decode steps) for about
     * {@code budget}, so that the JIT has compiled the vector kernels before real requests arrive: until
     * then they run as boxed fallbacks several times slower. Uses and returns free KV slots only.
     */
    public void warmUp(java.time.Duration budget) {
        if (budget.isZero() || budget.isNegative()) return;
        if (exchange != null && !shard.isLeader()) return;   // a follower's steps come from its leader
        int streams = Math.min(8, Math.min(kv.maxSequences() - kv.openSequences(), maxLogitRows));
        int len = Math.min(c.contextLength(), Math.min(64, maxTokens));
        if (streams < 1 || len < 2) return;
        int[] seqs = new int[streams];
        int opened = 0;
        try {
            for (; opened < streams; opened++) {
                seqs[opened] = kv.open();
                if (seqs[opened] < 0 || !kv.reserve(seqs[opened], len)) {
                    if (seqs[opened] >= 0) kv.release(seqs[opened]);
                    break;
                }
            }
            if (opened == 0) return;
            Batch b = new Batch(maxTokens);
            long until = System.nanoTime() + budget.toNanos();
            int[] prompt = new int[len];
            for (int i = 0; i < len; i++) prompt[i] = (i * 7919 + 3) % c.vocab();
            while (System.nanoTime() < until) {
                b.clear();
                b.addChunk(seqs[0], prompt, 0, Math.min(len, maxTokens), 0, true);
                forward(b);
                for (int pos = 0; pos < len && System.nanoTime() < until; pos++) {
                    b.clear();
                    int n = pos % 2 == 0 ? 1 : opened;   // alternate single-token and batched decode
                    for (int s = 0; s < n; s++) b.add(seqs[s], prompt[(pos + s) % len], pos, true);
                    forward(b);
                }
            }
        } finally {
            for (int i = 0; i < opened; i++) kv.release(seqs[i]);
        }
    }

    /**
     * The final normalised hidden state (output_norm applied, before the classifier) of token
     * {@code tokenIndex} of the last step, into dst[0, dim). Valid until the next step.
     */
    public void finalHidden(int tokenIndex, float[] dst) {
        rmsnorm(dst, 0, x, tokenIndex * c.dim(), w.outputNorm, c.dim());
    }

    /** out = x / sqrt(mean(x^2) + eps) * weight, with the sum of squares in double as the reference does. */
    private void rmsnorm(float[] out, int o, float[] in, int i, float[] weight, int n) {
        double ss = 0;
        for (int j = 0; j < n; j++) {
            float e = in[i + j];
            ss += e * e;
        }
        float scale = (float) (1.0 / Math.sqrt(ss / n + c.normEps()));
        for (int j = 0; j < n; j++) out[o + j] = in[i + j] * scale * weight[j];
    }

    /**
     * Rotates pairs of the first ropeDim entries of one head by pos * theta_i: adjacent pairs (x[2i], x[2i+1])
     * for llama, the two halves (x[i], x[i + ropeDim/2]) for NEOX-style models (qwen2).
     */
    private void rope(float[] a, int off, int pos) {
        int half = c.ropeDim() / 2;
        int base = pos * half;
        if (c.neoxRope()) {
            for (int i = 0; i < half; i++) {
                float cos = ropeCos[base + i], sin = ropeSin[base + i];
                float a0 = a[off + i], a1 = a[off + i + half];
                a[off + i] = a0 * cos - a1 * sin;
                a[off + i + half] = a0 * sin + a1 * cos;
            }
            return;
        }
        for (int i = 0; i < half; i++) {
            float cos = ropeCos[base + i], sin = ropeSin[base + i];
            float a0 = a[off + 2 * i], a1 = a[off + 2 * i + 1];
            a[off + 2 * i] = a0 * cos - a1 * sin;
            a[off + 2 * i + 1] = a0 * sin + a1 * cos;
        }
    }

    private static void addBias(float[] a, int off, float[] bias) {
        for (int i = 0; i < bias.length; i++) a[off + i] += bias[i];
    }

    /** Up to three matrix products sharing one input, their rows split evenly over the team. */
    private final class MatmulRegion implements ThreadTeam.Task {
        private int tokens;
        private float[] in;
        private int inStride;
        private final WeightMatrix[] m = new WeightMatrix[3];
        private final float[][] out = new float[3][];
        private final int[] outStride = new int[3];
        private final int[] chunkEnds = new int[3];   // cumulative chunk counts of the matrices
        private final java.util.concurrent.atomic.AtomicInteger cursor = new java.util.concurrent.atomic.AtomicInteger();
        private int count;

        void set(int tokens, float[] in, int inStride,
                 WeightMatrix m0, float[] o0, int s0, WeightMatrix m1, float[] o1, int s1, WeightMatrix m2, float[] o2, int s2) {
            this.tokens = tokens;
            this.in = in;
            this.inStride = inStride;
            m[0] = m0; out[0] = o0; outStride[0] = s0;
            m[1] = m1; out[1] = o1; outStride[1] = s1;
            m[2] = m2; out[2] = o2; outStride[2] = s2;
            staging.newInput();
            count = m2 != null ? 3 : m1 != null ? 2 : 1;
            int chunk = chunkRows(tokens), total = 0;
            for (int i = 0; i < count; i++) {
                total += (m[i].rows() + chunk - 1) / chunk;
                chunkEnds[i] = total;
            }
            cursor.set(0);
        }

        @Override
        public void run(int worker, int workers) {
            // Chunks are taken from a shared cursor: a thread the OS lends to someone else for a while
            // (HTTP, actors, the client on a small machine) slows the step by one chunk, not by half.
            int chunk = chunkRows(tokens);
            int[] ends = chunkEnds;
            for (int c = cursor.getAndIncrement(); c < ends[count - 1]; c = cursor.getAndIncrement()) {
                int i = 0;
                while (c >= ends[i]) i++;
                int r0 = (c - (i == 0 ? 0 : ends[i - 1])) * chunk;
                int r1 = Math.min(m[i].rows(), r0 + chunk);
                kernels.matmul(m[i], in, 0, inStride, tokens, out[i], 0, outStride[i], r0, r1, scratch[worker]);
            }
        }
    }

    /**
     * Rows a thread takes at a time. Single-token steps take four panels, which the decode kernel reads
     * together; batched steps take one panel, which keeps small matrices evenly split. Either way a chunk
     * is whole panels, so the split never changes results.
     */
    private int chunkRows(int tokens) {
        return kernels.rowGranularity() * (tokens == 1 ? 4 : 1);
    }

    /** Per token: optionally x += xb, then optionally xb = rmsnorm(x) * norm. Tokens split over the team. */
    private final class ResidualNormRegion implements ThreadTeam.Task {
        private int tokens;
        private boolean addResidual;
        private float[] norm;

        void set(int tokens, boolean addResidual, float[] norm) {
            this.tokens = tokens;
            this.addResidual = addResidual;
            this.norm = norm;
        }

        @Override
        public void run(int worker, int workers) {
            int D = c.dim();
            int end = ThreadTeam.splitStart(tokens, worker + 1, workers);
            for (int t = ThreadTeam.splitStart(tokens, worker, workers); t < end; t++) {
                if (addResidual) {
                    for (int i = t * D; i < (t + 1) * D; i++) x[i] += xb[i];
                }
                if (norm != null) rmsnorm(xb, t * D, x, t * D, norm, D);
            }
        }
    }

    /** Work on one layer for a batch, whose threads take units (tokens, heads) from a shared cursor. */
    private abstract class BatchLayerRegion implements ThreadTeam.Task {
        Batch b;
        int layer;
        final java.util.concurrent.atomic.AtomicInteger cursor = new java.util.concurrent.atomic.AtomicInteger();

        void set(Batch b, int layer) {
            this.b = b;
            this.layer = layer;
            cursor.set(0);
        }
    }

    /** Per token: RoPE on its query and key heads, then its keys and values into the paged cache. */
    private final class RopeAndStoreRegion extends BatchLayerRegion {

        @Override
        public void run(int worker, int workers) {
            int hd = c.headDim(), Dq = shard.heads() * hd, KV = shard.kvHeads() * hd;
            // Each token writes only its own position's cache slots, so tokens can go in parallel.
            LlamaWeights.Layer lw = w.layers[layer];
            for (int t = cursor.getAndIncrement(); t < b.size; t = cursor.getAndIncrement()) {
                int pos = b.positions[t], seq = b.sequences[t];
                if (lw.bq != null) addBias(q, t * Dq, lw.bq);
                if (lw.bk != null) addBias(k, t * KV, lw.bk);
                if (lw.bv != null) addBias(v, t * KV, lw.bv);
                for (int h = 0; h < shard.heads(); h++) rope(q, t * Dq + h * hd, pos);
                for (int h = 0; h < shard.kvHeads(); h++) {
                    rope(k, t * KV + h * hd, pos);
                    kv.write(layer, seq, pos, h, k, t * KV + h * hd, v, t * KV + h * hd);
                }
            }
        }
    }

    /** Gate and up projections over the same rows per thread, then SwiGLU on those rows: hb [T][F]. */
    private final class GateUpRegion implements ThreadTeam.Task {
        private int tokens;
        private LlamaWeights.Layer layer;

        private final java.util.concurrent.atomic.AtomicInteger cursor = new java.util.concurrent.atomic.AtomicInteger();

        void set(int tokens, LlamaWeights.Layer layer) {
            this.tokens = tokens;
            this.layer = layer;
            cursor.set(0);
            staging.newInput();
        }

        @Override
        public void run(int worker, int workers) {
            int F = shard.ffn(), D = c.dim(), chunk = chunkRows(tokens);
            for (int r0 = cursor.getAndAdd(chunk); r0 < F; r0 = cursor.getAndAdd(chunk)) {
                int r1 = Math.min(F, r0 + chunk);
                kernels.matmul(layer.wGate, xb, 0, D, tokens, hb, 0, F, r0, r1, scratch[worker]);
                kernels.matmul(layer.wUp, xb, 0, D, tokens, hb2, 0, F, r0, r1, scratch[worker]);
                for (int t = 0; t < tokens; t++) kernels.swiglu(hb, hb2, t * F + r0, r1 - r0);
            }
        }
    }

    /** Attention for (token, head) pairs split over the team; reads this layer's cache. */
    private final class AttentionRegion extends BatchLayerRegion {

        @Override
        public void run(int worker, int workers) {
            int heads = shard.heads(), units = b.size * heads;
            int Dq = heads * c.headDim(), hd = c.headDim(), group = c.groupSize();
            float[] keys = kv.keys(layer), values = kv.values(layer);           // F32 cache, else null
            short[] keysH = kv.keysF16(layer), valuesH = kv.valuesF16(layer);   // F16 cache, else null
            int scores = worker * attStride;
            float scale = (float) (1.0 / Math.sqrt(hd));
            int bs = kv.blockSize();
            // Units from a shared cursor: costs grow with the position, and threads may be preempted.
            for (int u = cursor.getAndIncrement(); u < units; u = cursor.getAndIncrement()) {
                int t = u / heads, h = u % heads, kvh = h / group;   // a slice's first head starts a group
                int seq = b.sequences[t], pos = b.positions[t];
                int qo = t * Dq + h * hd;
                int blocks = pos / bs + 1;
                // scores_j = (q / sqrt(hd)) . k_j for j <= pos, a whole block at a time
                for (int blk = 0; blk < blocks; blk++) {
                    if (keysH != null) kernels.blockScores(q, qo, scale, keysH, kv.blockBase(seq, blk, kvh), bs, hd, att, scores + blk * bs);
                    else kernels.blockScores(q, qo, scale, keys, kv.blockBase(seq, blk, kvh), bs, hd, att, scores + blk * bs);
                }
                float max = Float.NEGATIVE_INFINITY;
                for (int j = scores; j <= scores + pos; j++) max = Math.max(max, att[j]);
                float inv = 1f / kernels.expShiftSum(att, scores, pos + 1, max);
                for (int j = scores; j <= scores + pos; j++) att[j] *= inv;
                // out = sum_j softmax_j * v_j
                java.util.Arrays.fill(xb2, qo, qo + hd, 0f);
                for (int blk = 0; blk < blocks; blk++) {
                    int j0 = blk * bs;
                    int n = Math.min(bs, pos + 1 - j0), base = kv.blockBase(seq, blk, kvh);
                    if (valuesH != null) kernels.blockWeightedSum(att, scores + j0, n, valuesH, base, hd, xb2, qo);
                    else kernels.blockWeightedSum(att, scores + j0, n, values, base, hd, xb2, qo);
                }
            }
        }
    }

    @Override
    public void close() throws IOException {
        if (exchange != null && shard.isLeader()) exchange.stop();
        team.close();
        file.close();
    }
}
