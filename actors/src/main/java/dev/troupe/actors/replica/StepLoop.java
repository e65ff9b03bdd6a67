package dev.troupe.actors.replica;

import dev.troupe.actors.replica.GenerationEvent.FailureKind;
import dev.troupe.actors.replica.GenerationEvent.FinishReason;
import dev.troupe.engine.Batch;
import dev.troupe.engine.LlamaModel;
import dev.troupe.engine.tp.TensorGroupLostException;
import dev.troupe.engine.kv.PagedKvCache;
import dev.troupe.engine.sampling.Logprobs;
import dev.troupe.engine.grammar.GrammarException;
import dev.troupe.engine.grammar.JsonSchemaCompiler;
import dev.troupe.engine.grammar.TokenConstraint;
import dev.troupe.engine.grammar.TokenTrie;
import dev.troupe.engine.sampling.Sampler;
import dev.troupe.engine.sampling.StopMatcher;
import dev.troupe.engine.sampling.TokenHistory;
import dev.troupe.engine.tokenizer.Tokenizer;
import dev.troupe.scheduler.BatchScheduler;
import dev.troupe.scheduler.FairWaitQueue;
import dev.troupe.scheduler.Plan;
import dev.troupe.scheduler.ScheduledSequence;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * The continuous-batching loop of one replica: a dedicated thread that owns the model, asks the pure
 * {@code BatchScheduler} each iteration which sequences prefill (chunked) and which decode, runs one
 * forward step for all of them, samples, decodes text (stop strings, UTF-8 safe) and tells each
 * request's sink. Every accepted request ends in exactly one Finished or Failed event.
 * No Pekko here: the Replica actor wraps it.
 *
 * <p>Lengths: a prompt that fills the whole context (no room for one new token), or whose prompt + max
 * tokens (capped at the context) can never fit the KV pool, ends with Failed(TOO_LONG). A prompt + max
 * tokens beyond the context is <em>not</em> refused here: generation stops at the context end with
 * Finished(LENGTH), exactly as {@code Generator} does; the HTTP layer rejects such requests up front
 * (400) where OpenAI compatibility asks for it. Prompt token ids outside the vocabulary end with
 * Failed(INTERNAL) before they reach the engine.
 *
 * <p>Events: a Tokens event is sent as soon as a step completes some text (usually one per token);
 * tokens whose text is held back (a possible stop string, half a UTF-8 character) ride with the next
 * text. The end-of-generation token is counted in completionTokens but not sent as a token.
 * Logprobs are reported when {@code params.topLogprobs() > 0}, with token texts decoded from the
 * tokens' bytes.
 *
 * <p>Tenants: requests are admitted by a {@link FairWaitQueue} on their tenant and weight, so under
 * contention tenants get tokens in proportion to their weights, and a tenant flooding the replica cannot
 * hold every slot against a newcomer (one of its sequences is preempted, recompute-style, and finishes
 * later with the same output). Generated tokens are counted per tenant ({@link #tenantUsage()}).
 *
 * <p>Sinks run on the loop thread; one that throws is logged and its request dropped (no more events
 * to it). An engine failure in a step fails the requests of that step with INTERNAL; the loop goes on.
 */
public final class StepLoop implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(StepLoop.class);

    /**
     * @param maxNumSeqs        most sequences in the running batch
     * @param maxBatchedTokens  most tokens per step (prefill chunks + decode tokens)
     * @param maxQueued         most requests waiting to start; beyond that submit refuses (429)
     * @param idleWait          how long the loop sleeps with nothing to do before checking again
     */
    /**
     * @param prefixCaching whether KV blocks of prefills and generations are kept for later requests that start
     *                      with the same tokens (their prefill skips the tokens found: PagedKvCache)
     */
    public record Config(int maxNumSeqs, int maxBatchedTokens, int maxQueued, Duration idleWait, boolean prefixCaching) {
        public Config(int maxNumSeqs, int maxBatchedTokens, int maxQueued, Duration idleWait) {
            this(maxNumSeqs, maxBatchedTokens, maxQueued, idleWait, true);
        }

        public static Config defaults() {
            return new Config(32, 512, 256, Duration.ofMillis(50));
        }
    }

    /** A snapshot for metrics and readiness. */
    public record Stats(int running, int waiting, int kvBlocksUsed, int kvBlocksFree, long steps,
                        long promptTokens, long generatedTokens, long preemptions, long fairnessPreemptions,
                        long lastHeartbeatNanos, long prefixQueriedTokens, long prefixHitTokens) {}

    /** Tokens of one tenant so far on this replica: prompts of started requests, and generated tokens. */
    public record TenantUsage(long promptTokens, long generatedTokens) {}

    /** A tenant's live counters: written by the loop thread only, read by any. */
    static final class TenantCounters {
        volatile long promptTokens;
        volatile long generatedTokens;
    }

    /**
     * Per-request and per-step distributions (vLLM's request queue, prefill and decode times, and its
     * iteration sizes), observed by the loop thread without allocating, read by any thread. Times in seconds.
     * The request times are observed when a request finishes normally: queue from its submission to its
     * first step, prefill from then to its first generated token, decode from then to its last.
     */
    public record Histograms(LoopHistogram queueTime, LoopHistogram prefillTime, LoopHistogram decodeTime,
                             LoopHistogram batchSize, LoopHistogram stepTokens) {
        static Histograms create() {
            double[] seconds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
            return new Histograms(new LoopHistogram(seconds), new LoopHistogram(seconds), new LoopHistogram(seconds),
                    new LoopHistogram(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
                    new LoopHistogram(1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192));
        }
    }

    private record Submit(GenerationRequest request, GenerationSink sink, long submittedAt) {}

    private record Cancel(String requestId) {}

    private record Embed(String id, int[][] inputs, CompletableFuture<float[][]> result) {}

    private final LlamaModel model;
    private final Tokenizer tokenizer;
    private final Config config;
    private final PagedKvCache kv;
    private final BatchScheduler<LiveRequest> scheduler;
    private final Batch batch;
    private final int vocab;
    /** Shared by every request's sampler: they run one at a time on this thread (no ~0.5 MB per request). */
    private final Sampler.Workspace samplerWorkspace;
    /** The vocabulary by bytes and the allowed-token mask, for constrained decoding; built on first use. */
    private TokenTrie tokenTrie;
    private TokenConstraint.MaskCache maskCache;
    private long[] allowedTokens;
    private final int contextLength;
    private final long idleWaitNanos;

    // Shared with other threads.
    private final Object lock = new Object();
    private final ConcurrentLinkedQueue<Object> inbox = new ConcurrentLinkedQueue<>();
    private final AtomicInteger queued = new AtomicInteger();         // accepted, not yet in a step
    private final AtomicInteger inboxSubmits = new AtomicInteger();   // accepted, not yet seen by the loop
    private final List<CompletableFuture<Void>> drainWaiters = new ArrayList<>(); // guarded by lock
    private volatile boolean draining;
    private volatile long drainDeadline;
    private volatile boolean closed;
    private volatile Thread thread;
    private volatile long heartbeat = System.nanoTime();
    private volatile Stats stats;
    private final ConcurrentHashMap<String, TenantCounters> tenants = new ConcurrentHashMap<>();
    private final Histograms histograms = Histograms.create();

    // Loop thread only.
    private final HashMap<String, LiveRequest> byId = new HashMap<>();
    /** Embedding requests in arrival order; the first one advances a chunk after each generation step. */
    private final ArrayDeque<EmbeddingJob> embeddings = new ArrayDeque<>();
    private float[] embeddingHidden;
    private final ArrayList<LiveRequest> live = new ArrayList<>();
    private long steps;
    private long promptTokens;
    private long generatedTokens;
    private boolean loopExited;
    /** When the current step's forward pass started and ended (System.nanoTime). */
    private long stepStarted;
    private long stepEnded;

    public StepLoop(LlamaModel model, Tokenizer tokenizer, Config config) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.kv = model.kvCache();
        this.vocab = model.vocabSize();
        this.samplerWorkspace = new Sampler.Workspace(vocab);
        this.contextLength = model.config().contextLength();
        int maxTokens = Math.min(config.maxBatchedTokens(), model.maxBatchTokens());
        int maxSeqs = Math.min(Math.min(config.maxNumSeqs(), kv.maxSequences()), Math.min(model.maxLogitRows(), maxTokens));
        if (maxTokens != config.maxBatchedTokens() || maxSeqs != config.maxNumSeqs()) {
            log.info("step loop limits capped by the engine: maxBatchedTokens {} -> {}, maxNumSeqs {} -> {}",
                    config.maxBatchedTokens(), maxTokens, config.maxNumSeqs(), maxSeqs);
        }
        if (config.maxQueued() < 0) throw new IllegalArgumentException("maxQueued must be >= 0");
        if (config.idleWait().isNegative() || config.idleWait().isZero()) throw new IllegalArgumentException("idleWait must be > 0");
        this.config = new Config(maxSeqs, maxTokens, config.maxQueued(), config.idleWait(), config.prefixCaching());
        this.idleWaitNanos = config.idleWait().toNanos();
        int watermark = Math.max(1, kv.totalBlocks() / 100);
        this.scheduler = new BatchScheduler<>(new BatchScheduler.Config(maxSeqs, maxTokens, contextLength, watermark),
                new PagedKvBlocks(kv, config.prefixCaching()), new FairWaitQueue<>(maxSeqs));
        this.batch = new Batch(model.maxBatchTokens());
        publishStats();
    }

    /** The limits in force (the given ones capped by what the engine can take). */
    public Config config() { return config; }

    /** Starts the loop thread. */
    public void start() {
        synchronized (lock) {
            if (thread != null) throw new IllegalStateException("already started");
            if (closed) throw new IllegalStateException("closed");
            Thread t = new Thread(this::run, "troupe-step-loop");
            t.setDaemon(true);
            thread = t;
            t.start();
        }
    }

    /**
     * Queues a request. Thread-safe, never blocks. Returns false (and tells the sink nothing) when the
     * queue is full or the loop is draining/closed: the caller answers 429/503 itself.
     */
    public boolean submit(GenerationRequest request, GenerationSink sink) {
        if (request == null || sink == null) throw new IllegalArgumentException("request and sink are required");
        synchronized (lock) {
            if (closed || draining) return false;
            if (queued.get() >= config.maxQueued()) return false;
            queued.incrementAndGet();
            inboxSubmits.incrementAndGet();
            inbox.add(new Submit(request, sink, System.nanoTime()));
        }
        LockSupport.unpark(thread);
        return true;
    }

    /** Cancels a request (thread-safe); its slot and KV blocks are free at the next iteration. */
    public void cancel(String requestId) {
        if (requestId == null || closed) return;
        inbox.add(new Cancel(requestId));
        LockSupport.unpark(thread);
    }

    /**
     * Embeddings of token sequences: for each, the final normalised hidden states, mean-pooled over its tokens
     * and L2-normalised. An embedding request counts against the queue bound like a completion (one entry,
     * whatever its number of inputs) and runs on the loop thread in chunks of at most a step's token budget,
     * one chunk after each generation step, so a large request never stalls generation for longer than a
     * step. {@link #cancel} with its id ends it (its KV blocks are freed at once), as does completing the
     * returned future (a caller's timeout). Completes exceptionally with a {@link ReplicaException}
     * ({@code QUEUE_FULL}, {@code SHUTTING_DOWN}, {@code CANCELLED}, {@code TOO_LONG}) or an
     * IllegalArgumentException for inputs that can never be embedded.
     */
    public CompletableFuture<float[][]> embed(String id, int[][] inputs) {
        CompletableFuture<float[][]> f = new CompletableFuture<>();
        if (id == null || inputs == null || inputs.length == 0) {
            f.completeExceptionally(new IllegalArgumentException("nothing to embed: an id and at least one input are required"));
            return f;
        }
        for (int[] tokens : inputs) {
            if (tokens == null || tokens.length == 0) {
                f.completeExceptionally(new IllegalArgumentException("nothing to embed: an input has no tokens"));
                return f;
            }
            if (tokens.length > contextLength) {
                f.completeExceptionally(new ReplicaException(FailureKind.TOO_LONG, "the text has " + tokens.length
                        + " tokens; the model's context holds " + contextLength));
                return f;
            }
        }
        synchronized (lock) {
            if (closed || draining) {
                f.completeExceptionally(new ReplicaException(FailureKind.SHUTTING_DOWN, "the replica is shutting down"));
                return f;
            }
            if (queued.get() >= config.maxQueued()) {
                f.completeExceptionally(new ReplicaException(FailureKind.QUEUE_FULL, "the replica's queue is full"));
                return f;
            }
            queued.incrementAndGet();
            int[][] copy = new int[inputs.length][];
            for (int i = 0; i < inputs.length; i++) copy[i] = inputs[i].clone();
            inbox.add(new Embed(id, copy, f));
        }
        LockSupport.unpark(thread);
        return f;
    }

    /** True once the loop's thread has ended (closed, or stopped by itself when its engine's group was lost). */
    public boolean exited() {
        synchronized (lock) {
            return loopExited;
        }
    }

    /** True once the loop drains or is closed: it takes no more requests. */
    public boolean draining() {
        return draining || closed;
    }

    /** When the loop last completed an iteration (busy or idle), on the System.nanoTime clock. */
    public long lastHeartbeatNanos() {
        return heartbeat;
    }

    public Stats stats() {
        // The inbox count first: the loop publishes a snapshot that counts a submit before it stops counting it
        // in the inbox, so in this order a submit is seen at least once (the other order could miss it).
        int inbox = inboxSubmits.get();
        Stats s = stats;
        return new Stats(s.running(), s.waiting() + inbox, s.kvBlocksUsed(), s.kvBlocksFree(), s.steps(),
                s.promptTokens(), s.generatedTokens(), s.preemptions(), s.fairnessPreemptions(), heartbeat,
                s.prefixQueriedTokens(), s.prefixHitTokens());
    }

    /** The loop's distributions (live: read them at any time). */
    public Histograms histograms() {
        return histograms;
    }

    /** Per tenant that has sent a request here: its tokens so far (a snapshot, sorted by tenant). */
    public Map<String, TenantUsage> tenantUsage() {
        TreeMap<String, TenantUsage> out = new TreeMap<>();
        tenants.forEach((name, c) -> out.put(name, new TenantUsage(c.promptTokens, c.generatedTokens)));
        return out;
    }

    /**
     * Stops accepting; running and queued requests may finish within the grace period; whatever is left
     * then ends with Failed(SHUTTING_DOWN). Completes when nothing is in flight.
     */
    public CompletableFuture<Void> drain(Duration grace) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        boolean idleNow;
        synchronized (lock) {
            long deadline = System.nanoTime() + Math.max(0, grace.toNanos());
            if (!draining || deadline - drainDeadline < 0) drainDeadline = deadline;
            draining = true;
            idleNow = closed && loopExitedOrNeverStarted();
            if (!idleNow) drainWaiters.add(f);
        }
        if (idleNow) f.complete(null);
        LockSupport.unpark(thread);
        return f;
    }

    /** Stops the thread (in-flight requests end with Failed(SHUTTING_DOWN)) and closes nothing else. */
    @Override
    public void close() {
        Thread t;
        synchronized (lock) {
            if (closed) return;
            closed = true;
            t = thread;
        }
        if (t == null) {
            shutdownAll(); // never started: nothing else touches the loop state
            return;
        }
        LockSupport.unpark(t);
        if (t == Thread.currentThread()) return; // from a sink: the loop ends after this iteration
        try {
            t.join(Duration.ofMinutes(1).toMillis());
            if (t.isAlive()) log.warn("step loop thread did not stop within a minute");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private boolean loopExitedOrNeverStarted() {
        Thread t = thread;
        return t == null || !t.isAlive();
    }

    // ---------------------------------------------------------------- the loop thread

    private void run() {
        log.info("step loop started: maxNumSeqs {}, maxBatchedTokens {}, maxQueued {}, KV {} blocks of {}",
                config.maxNumSeqs(), config.maxBatchedTokens(), config.maxQueued(), kv.totalBlocks(), kv.blockSize());
        try {
            while (!closed) {
                boolean worked;
                try {
                    worked = iteration();
                } catch (RuntimeException | AssertionError | StackOverflowError e) {
                    // A bug: fail what is in flight (its state may be inconsistent) rather than hang it; the loop goes on.
                    log.error("step loop iteration failed; failing {} in-flight requests", live.size(), e);
                    failAll(FailureKind.INTERNAL, "internal error in the step loop: " + e);
                    worked = false;
                }
                heartbeat = System.nanoTime();
                publishStats();
                if (!worked && inbox.isEmpty() && !closed) LockSupport.parkNanos(this, idleWaitNanos);
            }
        } catch (Throwable e) {
            log.error("step loop died", e);
        } finally {
            shutdownAll();
            log.info("step loop stopped after {} steps", steps);
        }
    }

    /** One iteration; true when it ran a step. */
    private boolean iteration() {
        boolean drainingNow = draining; // read before the inbox: every submit accepted before draining is in it
        processInbox();
        long now = System.nanoTime();
        for (int i = live.size() - 1; i >= 0; i--) {
            LiveRequest r = live.get(i);
            long d = r.request.deadlineNanos();
            if (d != 0 && now - d >= 0) fail(r, FailureKind.DEADLINE_EXCEEDED, "deadline exceeded");
        }
        if (drainingNow) {
            if ((!live.isEmpty() || !embeddings.isEmpty()) && now - drainDeadline >= 0) {
                failAll(FailureKind.SHUTTING_DOWN, "the replica is shutting down");
            }
            if (live.isEmpty() && embeddings.isEmpty()) completeDrainWaiters();
        }
        boolean stepped = step();
        return embeddingChunk() || stepped;
    }

    private void processInbox() {
        Object m;
        int submits = 0;
        while ((m = inbox.poll()) != null) {
            if (m instanceof Submit s) {
                submits++;
                accept(s.request(), s.sink(), s.submittedAt());
            } else if (m instanceof Cancel c) {
                LiveRequest r = byId.get(c.requestId());
                if (r != null) fail(r, FailureKind.CANCELLED, "cancelled");
                cancelEmbedding(c.requestId());
            } else if (m instanceof Embed e) {
                embeddings.add(new EmbeddingJob(e.id(), e.inputs(), e.result()));
            }
        }
        if (submits > 0) {
            // Published before the inbox count drops, so stats() never misses an accepted request (it may count
            // one twice for an instant): a reader between here and the step's end would otherwise see it nowhere.
            publishStats();
            inboxSubmits.addAndGet(-submits);
        }
    }

    private void accept(GenerationRequest req, GenerationSink sink, long submittedAt) {
        LiveRequest r = new LiveRequest(req, sink, tenants.computeIfAbsent(req.tenant(), t -> new TenantCounters()));
        r.submittedAt = submittedAt;
        if (byId.containsKey(req.requestId())) {
            // Not registered: a second request with a live id would make cancel ambiguous.
            queued.decrementAndGet();
            r.done = true;
            deliver(r, new GenerationEvent.Failed(req.requestId(), FailureKind.INTERNAL,
                    "a request with id " + req.requestId() + " is already in flight", r.promptLength, 0));
            return;
        }
        byId.put(req.requestId(), r);
        live.add(r);
        int[] prompt = req.promptTokens();
        for (int t : prompt) {
            if (t < 0 || t >= vocab) {
                fail(r, FailureKind.INTERNAL, "prompt token id " + t + " is outside the vocabulary of " + vocab);
                return;
            }
        }
        if (prompt.length >= contextLength) {
            fail(r, FailureKind.TOO_LONG, "the prompt has " + prompt.length + " tokens; the context holds "
                    + contextLength + " including at least one generated token");
            return;
        }
        int limit = Math.min(req.params().maxTokens() - req.resumed(), contextLength - prompt.length);
        if (limit <= 0) {
            // A continuation of a completion that had already reached its length.
            end(r);
            deliver(r, new GenerationEvent.Finished(r.id(), FinishReason.LENGTH, r.clientPromptTokens(), r.completionTokens(), 0));
            return;
        }
        String why = scheduler.rejectReason(prompt.length, limit);
        if (why != null) {
            fail(r, FailureKind.TOO_LONG, why);
            return;
        }
        try {
            r.limit = limit;
            r.tokens = new int[prompt.length + limit];
            System.arraycopy(prompt, 0, r.tokens, 0, prompt.length);
            r.history = new TokenHistory(prompt.length + limit);
            r.history.addAll(prompt);
            r.sampler = new Sampler(req.params(), samplerWorkspace);
            r.decoder = tokenizer.streamDecoder();
            r.stops = new StopMatcher(req.params().stop());
            if (req.params().topLogprobs() > 0) r.logprobs = new Logprobs();
            if (req.params().jsonSchema() != null) {
                TokenTrie trie = tokenTrie();
                r.constraint = new TokenConstraint(JsonSchemaCompiler.compile(req.params().jsonSchema()), trie, maskCache);
            }
            if (req.resumed() > 0) {
                // A continuation: the text state (half characters, text held back for stop strings), the JSON
                // parse and the sampler's position become what they were after the completion so far, which was delivered.
                for (int i = prompt.length - req.resumed(); i < prompt.length; i++) {
                    r.stops.accept(r.decoder.push(prompt[i]));
                    if (r.constraint != null && !r.constraint.accept(tokenizer.tokenBytes(prompt[i]))) {
                        throw new GrammarException("the completion so far does not fit the schema");
                    }
                }
                r.sampler.resumeAt(req.resumed());
            }
        } catch (GrammarException e) {
            fail(r, FailureKind.INVALID, "response_format: " + e.getMessage());
            return;
        } catch (RuntimeException e) {
            fail(r, FailureKind.INTERNAL, "cannot start generation: " + e.getMessage());
            return;
        }
        r.seq = scheduler.add(r, prompt.length, limit, req.tenant(), req.weight(), req.resumed() > 0);
    }

    /** Plans and runs one step; false when there was nothing to run. */
    private boolean step() {
        Plan<LiveRequest> plan = scheduler.plan();
        if (plan.isEmpty()) return false;
        batch.clear();
        stepStarted = System.nanoTime();
        for (int i = 0; i < plan.size(); i++) {
            ScheduledSequence<LiveRequest> s = plan.sequence(i);
            LiveRequest r = s.payload();
            if (r.queued) {
                r.queued = false;
                r.scheduledAt = stepStarted;
                queued.decrementAndGet();
                promptTokens += r.promptLength;
                r.usage.promptTokens = r.usage.promptTokens + r.promptLength; // single writer: this thread
                started(r);
            }
            r.logitsRow = batch.addChunk(s.slot(), r.tokens, plan.start(i), plan.count(i), plan.start(i), plan.wantsLogits(i));
            if (r.logitsRow >= 0 && r.sampler.readsOnlyArgmax(r.logprobs != null, r.constraint != null)) batch.onlyArgmax(r.logitsRow);
        }
        try {
            model.forward(batch);
        } catch (TensorGroupLostException e) {
            // A group without one of its slices cannot step again: its requests go on elsewhere, and the loop ends.
            log.error("the replica's tensor-parallel group failed ({}); its {} requests are lost here", e.getMessage(), live.size());
            failAll(FailureKind.REPLICA_LOST, "the replica's tensor-parallel group lost a slice");
            closed = true;
            return true;
        } catch (RuntimeException e) {
            log.error("engine step of {} tokens failed; failing its {} requests", batch.size(), plan.size(), e);
            for (int i = 0; i < plan.size(); i++) {
                fail(plan.sequence(i).payload(), FailureKind.INTERNAL, "engine failure: " + e);
            }
            return true;
        }
        steps++;
        stepEnded = System.nanoTime();
        histograms.batchSize().observe(plan.size());
        histograms.stepTokens().observe(batch.size());
        scheduler.commit(plan);
        float[] logits = model.logits();
        for (int i = 0; i < plan.size(); i++) {
            LiveRequest r = plan.sequence(i).payload();
            if (r.logitsRow >= 0 && !r.done) sampled(r, logits);
        }
        return true;
    }

    /** The step produced logits for r: sample its next token and decide whether it goes on (mirrors Generator). */
    private void sampled(LiveRequest r, float[] logits) {
        int token;
        try {
            long[] allowed = null;
            if (r.constraint != null) {
                allowed = allowedTokens;
                if (r.constraint.allowed(allowed) == 0) {
                    fail(r, FailureKind.INTERNAL, "constrained decoding: no token of the vocabulary continues the JSON");
                    return;
                }
            }
            token = r.sampler.sample(logits, r.logitsRow * vocab, r.history, r.logprobs, allowed);
        } catch (RuntimeException e) {
            log.error("sampling failed for {}", r.id(), e);
            fail(r, FailureKind.INTERNAL, "sampling failed: " + e);
            return;
        }
        r.generated++;
        if (r.generated == 1) r.firstTokenAt = stepEnded;
        generatedTokens++;
        r.usage.generatedTokens = r.usage.generatedTokens + 1; // single writer: this thread
        if (!r.request.params().ignoreEos() && tokenizer.isEndOfGeneration(token)) {
            finish(r, FinishReason.STOP);
            return;
        }
        r.history.add(token);
        r.tokens[r.promptLength + r.generated - 1] = token;
        r.addPendingId(token);
        if (r.logprobs != null) r.addPendingLogprob(toTokenLogprob(r.logprobs));
        r.pendingText.append(r.stops.accept(r.decoder.push(token)));
        if (r.constraint != null) r.constraint.accept(tokenizer.tokenBytes(token));
        if (r.stops.stopped() || (r.constraint != null && r.constraint.finished())) {
            // A JSON value that nothing may follow is the end: no need to wait for the model's end token.
            finish(r, FinishReason.STOP);
        } else if (r.generated == r.limit) {
            finish(r, FinishReason.LENGTH);
        } else {
            scheduler.appendToken(r.seq);
            if (r.pendingText.length() > 0) emitPending(r);
        }
    }

    private TokenTrie tokenTrie() {
        if (tokenTrie == null) {
            tokenTrie = TokenTrie.of(tokenizer);
            maskCache = new TokenConstraint.MaskCache(64);
            allowedTokens = new long[(Math.max(vocab, tokenTrie.vocabSize()) + 63) >>> 6];
        }
        return tokenTrie;
    }

    private GenerationEvent.TokenLogprob toTokenLogprob(Logprobs lp) {
        int n = lp.count();
        int[] top = new int[n];
        String[] texts = new String[n];
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            top[i] = lp.token(i);
            texts[i] = tokenString(top[i]);
            values[i] = lp.logprob(i);
        }
        return new GenerationEvent.TokenLogprob(lp.chosenToken(), tokenString(lp.chosenToken()), lp.chosenLogprob(), top, texts, values);
    }

    private String tokenString(int token) {
        return new String(tokenizer.tokenBytes(token), StandardCharsets.UTF_8);
    }

    /** Sends the pending tokens and text as one Tokens event; false when the sink failed (r is dropped). */
    private boolean emitPending(LiveRequest r) {
        if (!r.hasPending()) return true;
        int[] ids = java.util.Arrays.copyOf(r.pendingIds, r.pendingCount);
        List<GenerationEvent.TokenLogprob> lps = r.pendingLogprobs == null ? List.of() : List.copyOf(r.pendingLogprobs);
        GenerationEvent.Tokens ev = new GenerationEvent.Tokens(r.id(), r.pendingText.toString(), ids, lps);
        r.pendingCount = 0;
        r.pendingText.setLength(0);
        if (r.pendingLogprobs != null) r.pendingLogprobs.clear();
        if (!deliver(r, ev)) {
            end(r);
            return false;
        }
        return true;
    }

    private void finish(LiveRequest r, FinishReason reason) {
        if (!r.stops.stopped()) r.pendingText.append(r.stops.accept(r.decoder.flush())).append(r.stops.flush());
        end(r);
        long queue = r.scheduledAt - r.submittedAt;
        histograms.queueTime().observe(queue / 1e9);
        histograms.prefillTime().observe((r.firstTokenAt - r.scheduledAt) / 1e9);
        histograms.decodeTime().observe((stepEnded - r.firstTokenAt) / 1e9);
        if (!emitPending(r)) return;
        deliver(r, new GenerationEvent.Finished(r.id(), reason, r.clientPromptTokens(), r.completionTokens(), queue));
    }

    private void fail(LiveRequest r, FailureKind kind, String message) {
        if (r.done) return;
        end(r);
        deliver(r, new GenerationEvent.Failed(r.id(), kind, message, r.clientPromptTokens(), r.completionTokens()));
    }

    /** Takes r out of the loop: scheduler (slot and blocks), indexes, queue count. Idempotent. */
    private void end(LiveRequest r) {
        if (r.done) return;
        r.done = true;
        if (r.seq != null) scheduler.finish(r.seq);
        if (r.queued) {
            r.queued = false;
            queued.decrementAndGet();
        }
        byId.remove(r.id(), r);
        live.remove(r);
    }

    /** Tells the sink its request's first step runs; a sink that throws here is logged (its next event drops it). */
    private void started(LiveRequest r) {
        try {
            r.sink.onStarted();
        } catch (Throwable e) {
            log.warn("sink of request {} threw on its start", r.id(), e);
        }
    }

    /** Calls the sink; a sink that throws is logged and gets nothing more. */
    private boolean deliver(LiveRequest r, GenerationEvent ev) {
        try {
            r.sink.onEvent(ev);
            return true;
        } catch (Throwable e) {
            log.warn("sink of request {} threw on {}; dropping the request", r.id(), ev.getClass().getSimpleName(), e);
            return false;
        }
    }

    private void failAll(FailureKind kind, String message) {
        for (int i = live.size() - 1; i >= 0; i--) {
            if (i < live.size()) fail(live.get(i), kind, message);
        }
        EmbeddingJob j;
        while ((j = embeddings.poll()) != null) endEmbedding(j, new ReplicaException(kind, message));
    }

    /** The loop ends: everything in flight or still in the inbox fails with SHUTTING_DOWN. */
    private void shutdownAll() {
        synchronized (lock) {
            if (loopExited) return;
            loopExited = true;
            closed = true; // nothing more gets in
        }
        Object m;
        while ((m = inbox.poll()) != null) {
            if (m instanceof Submit s) {
                inboxSubmits.decrementAndGet();
                accept(s.request(), s.sink(), s.submittedAt());
            } else if (m instanceof Embed e) {
                queued.decrementAndGet();
                e.result().completeExceptionally(new ReplicaException(FailureKind.SHUTTING_DOWN, "the replica is shutting down"));
            }
        }
        failAll(FailureKind.SHUTTING_DOWN, "the replica is shutting down");
        completeDrainWaiters();
        publishStats();
    }

    private void completeDrainWaiters() {
        List<CompletableFuture<Void>> done;
        synchronized (lock) {
            if (drainWaiters.isEmpty()) return;
            publishStats(); // whoever waited sees the empty state
            done = new ArrayList<>(drainWaiters);
            drainWaiters.clear();
        }
        for (CompletableFuture<Void> f : done) f.complete(null);
    }

    private void publishStats() {
        stats = new Stats(scheduler.runningCount(), scheduler.waitingCount(), kv.usedBlocks(), kv.freeBlocks(), steps,
                promptTokens, generatedTokens, scheduler.preemptions(), scheduler.fairnessPreemptions(), heartbeat,
                kv.prefixQueriedTokens(), kv.prefixHitTokens());
    }

    // ---------------------------------------------------------------- embeddings

    /** An embedding request in progress: which input, how far into it, and its running sum. Loop thread only. */
    private static final class EmbeddingJob {
        final String id;
        final int[][] inputs;
        final CompletableFuture<float[][]> result;
        final float[][] vectors;
        boolean queued = true;
        int input;
        int done;           // tokens of the current input already run
        int slot = -1;      // its KV sequence while an input is under way
        double[] sum;

        EmbeddingJob(String id, int[][] inputs, CompletableFuture<float[][]> result) {
            this.id = id;
            this.inputs = inputs;
            this.result = result;
            this.vectors = new float[inputs.length][];
        }
    }

    /**
     * Runs one chunk (at most a step's token budget) of the oldest embedding request; true when it ran one.
     * A request whose future is already complete (its caller timed out) is dropped here.
     */
    private boolean embeddingChunk() {
        EmbeddingJob j = embeddings.peek();
        while (j != null && j.result.isDone()) {
            embeddings.poll();
            endEmbedding(j, null);
            j = embeddings.peek();
        }
        if (j == null) return false;
        if (j.queued) {
            j.queued = false;
            queued.decrementAndGet();
        }
        try {
            int[] tokens = j.inputs[j.input];
            if (j.slot < 0) j.slot = openEmbeddingSlot(tokens);
            int dim = model.config().dim();
            if (j.sum == null) j.sum = new double[dim];
            int n = Math.min(config.maxBatchedTokens(), tokens.length - j.done);
            batch.clear();
            batch.addChunk(j.slot, tokens, j.done, n, j.done, false);
            model.forward(batch);
            if (embeddingHidden == null) embeddingHidden = new float[dim];
            float[] h = embeddingHidden;
            for (int t = 0; t < n; t++) {
                model.finalHidden(t, h);
                for (int d = 0; d < dim; d++) j.sum[d] += h[d];
            }
            j.done += n;
            if (j.done == tokens.length) {
                j.vectors[j.input] = meanNormalised(j.sum, tokens.length);
                kv.release(j.slot);
                j.slot = -1;
                j.sum = null;
                j.done = 0;
                if (++j.input == j.inputs.length) {
                    embeddings.poll();
                    j.result.complete(j.vectors);
                }
            }
        } catch (TensorGroupLostException e) {
            log.error("the replica's tensor-parallel group failed ({}) during an embedding", e.getMessage());
            failAll(FailureKind.REPLICA_LOST, "the replica's tensor-parallel group lost a slice");
            closed = true;
        } catch (RuntimeException e) {
            embeddings.remove(j);
            endEmbedding(j, e instanceof ReplicaException ? e : new ReplicaException(FailureKind.INTERNAL, "embedding failed: " + e.getMessage()));
        }
        return true;
    }

    /** A KV sequence holding all of {@code tokens}, preempting running generations if it must. */
    private int openEmbeddingSlot(int[] tokens) {
        for (int t : tokens) {
            if (t < 0 || t >= vocab) throw new ReplicaException(FailureKind.INVALID, "token id " + t + " is outside the vocabulary of " + vocab);
        }
        long blocks = ((long) tokens.length + kv.blockSize() - 1) / kv.blockSize();
        if (blocks > kv.totalBlocks()) {
            throw new ReplicaException(FailureKind.TOO_LONG, "the text has " + tokens.length + " tokens; the KV pool holds "
                    + (long) kv.totalBlocks() * kv.blockSize());
        }
        int slot;
        while ((slot = kv.open()) < 0) {
            if (!scheduler.preemptYoungest()) throw new ReplicaException(FailureKind.INTERNAL, "no free KV sequence slot");
        }
        while (!kv.reserve(slot, tokens.length)) {
            if (!scheduler.preemptYoungest()) {
                kv.release(slot);
                throw new ReplicaException(FailureKind.INTERNAL, "KV pool too small for " + tokens.length + " tokens");
            }
        }
        return slot;
    }

    private static float[] meanNormalised(double[] sum, int count) {
        double norm = 0;
        for (int d = 0; d < sum.length; d++) {
            sum[d] /= count;
            norm += sum[d] * sum[d];
        }
        norm = Math.sqrt(norm);
        float[] out = new float[sum.length];
        for (int d = 0; d < sum.length; d++) out[d] = (float) (norm > 0 ? sum[d] / norm : 0);
        return out;
    }

    private void cancelEmbedding(String id) {
        for (EmbeddingJob j : embeddings) {
            if (j.id.equals(id)) {
                embeddings.remove(j);
                endEmbedding(j, new ReplicaException(FailureKind.CANCELLED, "cancelled"));
                return;
            }
        }
    }

    /** Frees what an embedding request holds and fails its future with {@code why} (null: it is already complete). */
    private void endEmbedding(EmbeddingJob j, RuntimeException why) {
        if (j.slot >= 0) {
            kv.release(j.slot);
            j.slot = -1;
        }
        if (j.queued) {
            j.queued = false;
            queued.decrementAndGet();
        }
        if (why != null) j.result.completeExceptionally(why);
    }
}
