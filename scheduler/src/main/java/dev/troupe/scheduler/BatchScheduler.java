package dev.troupe.scheduler;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Continuous batching, decided one iteration at a time: which running sequences decode a token and
 * which waiting or partly prefilled ones get a prefill chunk, under a budget of sequences and tokens
 * and the free KV blocks. Pure: no threads, no engine; the caller runs the plan and reports back.
 *
 * <p>Each {@link #plan()}:
 * <ol>
 * <li>every running sequence that has exactly one token not in the cache (its last sampled token)
 *     decodes it, oldest first;</li>
 * <li>running sequences still prefilling get the next chunk of their prompt, oldest first, as large as
 *     the remaining token budget (and the free blocks) allow;</li>
 * <li>then waiting sequences are admitted from the head of the {@link WaitQueue} while slots, token
 *     budget and blocks last (a head that does not fit blocks those behind it: no overtaking, so a
 *     large request is never starved by small ones).</li>
 * </ol>
 * Blocks are reserved before a token is planned. When the pool runs dry for a running sequence, the
 * youngest running sequence (latest arrival) is preempted: its blocks are released and it goes back to
 * the front of the queue with everything it had (prompt + generated tokens), which it recomputes when
 * readmitted. Arrival order survives preemption, so a readmitted sequence is not the next victim.
 *
 * <p>Tenants: each sequence carries a tenant and a weight. The {@link WaitQueue} decides the admission
 * order ({@link FairWaitQueue} shares the node by weight) and is told what runs: admissions, preemptions,
 * releases and the tokens of every committed step ({@link WaitQueue#charge}). When every slot is taken
 * and sequences wait, the queue may name one running sequence to preempt so that an under-served
 * tenant starts now instead of after some other tenant's long generation ({@link WaitQueue#slotVictim});
 * at most one such preemption per plan, recompute-style like the others.
 *
 * <p>A sequence that cannot fit even alone (prompt + max new tokens beyond the context or the whole
 * pool) is refused by {@link #rejectReason} / {@link #add}.
 *
 * <p>The caller's cycle: {@code plan()}, run the step, {@link #commit(Plan)}, then for each entry that
 * {@link Plan#wantsLogits wants logits} either {@link #appendToken} (a token was sampled and goes on) or
 * {@link #finish}. {@link #finish} also serves cancels and deadlines at any time between iterations.
 * Not thread-safe.
 */
public final class BatchScheduler<T> {
    /**
     * @param maxNumSeqs       most running sequences (those holding a KV slot); at most maxBatchedTokens
     * @param maxBatchedTokens most tokens per step
     * @param contextLength    most positions one sequence may have
     * @param watermarkBlocks  free blocks a new admission must leave while others run (head room for their
     *                         decode tokens, so admissions do not immediately cause preemptions)
     */
    public record Config(int maxNumSeqs, int maxBatchedTokens, int contextLength, int watermarkBlocks) {
        public Config {
            if (maxNumSeqs < 1) throw new IllegalArgumentException("maxNumSeqs must be >= 1, got " + maxNumSeqs);
            if (maxBatchedTokens < maxNumSeqs) {
                throw new IllegalArgumentException("maxBatchedTokens (" + maxBatchedTokens
                        + ") must be >= maxNumSeqs (" + maxNumSeqs + ") so every running sequence can decode each step");
            }
            if (contextLength < 2) throw new IllegalArgumentException("contextLength must be >= 2, got " + contextLength);
            if (watermarkBlocks < 0) throw new IllegalArgumentException("watermarkBlocks must be >= 0, got " + watermarkBlocks);
        }
    }

    private final Config config;
    private final KvBlocks kv;
    private final WaitQueue<T> waiting;
    private final ArrayList<ScheduledSequence<T>> running = new ArrayList<>(); // ascending arrival
    private final List<ScheduledSequence<T>> runningView = Collections.unmodifiableList(running);
    private final Plan<T> plan = new Plan<>();
    private long arrivals;
    private long preemptions;
    private long fairnessPreemptions;
    private int budget; // tokens left while planning

    public BatchScheduler(Config config, KvBlocks kv) {
        this(config, kv, new FifoWaitQueue<>());
    }

    public BatchScheduler(Config config, KvBlocks kv, WaitQueue<T> waiting) {
        this.config = config;
        this.kv = kv;
        this.waiting = waiting;
    }

    public Config config() { return config; }

    /**
     * Why a sequence of this size can never run here, or null if it can. It needs positions for its
     * prompt and all but the last of its new tokens (the last sampled token is never fed back).
     */
    public String rejectReason(int promptTokens, int maxNewTokens) {
        if (promptTokens < 1) return "the prompt has no tokens";
        if (maxNewTokens < 1) return "max new tokens must be >= 1";
        if (promptTokens >= config.contextLength()) {
            return "the prompt has " + promptTokens + " tokens; the context holds " + config.contextLength()
                    + " (prompt + at least 1 new token)";
        }
        long positions = (long) promptTokens + maxNewTokens - 1;
        if (positions + 1 > config.contextLength()) {
            return "prompt (" + promptTokens + ") + max tokens (" + maxNewTokens + ") exceed the context of "
                    + config.contextLength() + " tokens";
        }
        long blocks = (positions + kv.blockSize() - 1) / kv.blockSize();
        if (blocks > kv.totalBlocks()) {
            return "prompt (" + promptTokens + ") + max tokens (" + maxNewTokens + ") need " + blocks
                    + " KV blocks; the pool has " + kv.totalBlocks();
        }
        return null;
    }

    /** The tenant of sequences added without one. */
    public static final String DEFAULT_TENANT = "anonymous";

    /** Queues a new sequence of the {@link #DEFAULT_TENANT} (weight 1). */
    public ScheduledSequence<T> add(T payload, int promptTokens, int maxNewTokens) {
        return add(payload, promptTokens, maxNewTokens, DEFAULT_TENANT, 1);
    }

    /**
     * Queues a new sequence of a tenant; where it stands is the wait queue's choice (the back, for FIFO).
     * @throws IllegalArgumentException when {@link #rejectReason} says so, or the tenant is blank or weight < 1
     */
    public ScheduledSequence<T> add(T payload, int promptTokens, int maxNewTokens, String tenant, int weight) {
        return add(payload, promptTokens, maxNewTokens, tenant, weight, false);
    }

    /**
     * The same; resumed: the sequence continues a completion already streaming to its client (from a lost
     * replica), so it waits before its tenant's newcomers ({@link WaitQueue#addResumed}).
     */
    public ScheduledSequence<T> add(T payload, int promptTokens, int maxNewTokens, String tenant, int weight, boolean resumed) {
        String why = rejectReason(promptTokens, maxNewTokens);
        if (why != null) throw new IllegalArgumentException(why);
        if (tenant == null || tenant.isBlank()) throw new IllegalArgumentException("tenant is required");
        if (weight < 1) throw new IllegalArgumentException("weight must be >= 1, got " + weight);
        ScheduledSequence<T> s = new ScheduledSequence<>(payload, arrivals++, promptTokens, maxNewTokens, tenant, weight);
        if (resumed) waiting.addResumed(s);
        else waiting.add(s);
        return s;
    }

    /** Plans the next step; the returned plan is reused by the next call. Empty when there is nothing to do. */
    public Plan<T> plan() {
        plan.clear();
        budget = config.maxBatchedTokens();

        // 0. Every slot taken and someone waits: the queue may free one for an under-served tenant.
        if (running.size() >= config.maxNumSeqs() && waiting.size() > 0) {
            ScheduledSequence<T> victim = waiting.slotVictim(runningView);
            if (victim != null && victim.state == ScheduledSequence.State.RUNNING) {
                preempt(victim);
                fairnessPreemptions++;
            }
        }

        // 1. Decode tokens of running sequences, oldest first.
        for (int i = 0; i < running.size() && budget > 0; i++) {
            ScheduledSequence<T> s = running.get(i);
            if (s.totalTokens - s.computedTokens != 1 || plan.contains(s)) continue;
            int before = running.size();
            boolean reserved = reserveOrPreempt(s, s.computedTokens + 1);
            if (running.size() != before) i = -1; // preemptions shifted the list: scan again (planned ones are skipped)
            if (!reserved) continue;
            plan.add(s, s.computedTokens, 1);
            budget--;
        }

        // 2. Next prefill chunks of running sequences that have more than one token to compute.
        for (int i = 0; i < running.size() && budget > 0; i++) {
            ScheduledSequence<T> s = running.get(i);
            int left = s.totalTokens - s.computedTokens;
            if (left <= 1 || plan.contains(s)) continue;
            int n = fitChunk(s, Math.min(left, budget));
            if (n == 0) continue; // s is the youngest and nothing fits: it waits for blocks
            if (!kv.reserve(s.slot, s.computedTokens + n)) throw new IllegalStateException("KV reserve failed after fit check");
            plan.add(s, s.computedTokens, n);
            budget -= n;
        }

        // 3. Admit from the head of the queue.
        while (budget > 0 && running.size() < config.maxNumSeqs()) {
            ScheduledSequence<T> s = waiting.peek();
            if (s == null) break;
            int slot = kv.open();
            if (slot < 0) break;
            // Leading tokens whose keys and values are cached need no prefill.
            int cached = kv.attachCachedPrefix(slot, s);
            int n = Math.min(s.totalTokens - cached, budget);
            int headroom = running.isEmpty() ? 0 : config.watermarkBlocks();
            if (kv.blocksNeeded(slot, cached + n) + headroom > kv.freeBlocks() || !kv.reserve(slot, cached + n)) {
                kv.release(slot);
                break;
            }
            waiting.poll();
            s.slot = slot;
            s.computedTokens = cached;
            s.cachedTokens += cached;
            s.state = ScheduledSequence.State.RUNNING;
            insertRunning(s);
            plan.add(s, cached, n);
            budget -= n;
        }
        for (int i = 0; i < plan.size(); i++) plan.sequence(i).everScheduled = true;
        return plan;
    }

    /** Records that the plan's step ran: its tokens are now in the cache. */
    public void commit(Plan<T> p) {
        for (int i = 0; i < p.size(); i++) {
            ScheduledSequence<T> s = p.sequence(i);
            if (s.state != ScheduledSequence.State.RUNNING) continue; // finished meanwhile
            s.computedTokens = p.start(i) + p.count(i);
            kv.computed(s.slot, s, s.computedTokens);
            // Only positions never computed before count as service: recomputing after a preemption is the
            // scheduler's waste, and charging it would push the victim's tenant below its share. Positions
            // taken from the prefix cache are not computed (the step starts past them): not charged either.
            int fresh = s.computedTokens - Math.max(p.start(i), s.chargedTokens);
            if (fresh > 0) {
                waiting.charge(s, fresh);
                s.chargedTokens = s.computedTokens;
            }
        }
    }

    /** A token was sampled for a running sequence and it goes on: one more token to compute. */
    public void appendToken(ScheduledSequence<T> s) {
        if (s.state == ScheduledSequence.State.FINISHED) throw new IllegalStateException(s + " has finished");
        if (s.totalTokens != s.computedTokens) throw new IllegalStateException(s + " has uncomputed tokens");
        s.totalTokens++;
    }

    /** Removes a sequence (finished, cancelled, failed) wherever it is; its slot and blocks are freed. Idempotent. */
    public void finish(ScheduledSequence<T> s) {
        switch (s.state) {
            case RUNNING -> {
                running.remove(s);
                kv.release(s.slot);
                s.slot = -1;
                waiting.released(s);
            }
            case WAITING -> waiting.remove(s);
            case FINISHED -> { return; }
        }
        s.state = ScheduledSequence.State.FINISHED;
    }

    /**
     * Preempts the youngest running sequence (for work outside the plan, such as an embedding that needs
     * blocks). False when nothing runs. Call between iterations only.
     */
    public boolean preemptYoungest() {
        if (running.isEmpty()) return false;
        preempt(running.get(running.size() - 1));
        return true;
    }

    public int runningCount() { return running.size(); }

    public int waitingCount() { return waiting.size(); }

    /** All preemptions: for KV blocks, for outside work and for fairness. */
    public long preemptions() { return preemptions; }

    /** Preemptions that freed a slot for an under-served tenant ({@link WaitQueue#slotVictim}). */
    public long fairnessPreemptions() { return fairnessPreemptions; }

    /** Reserves blocks for s to hold {@code tokens} positions, preempting the youngest running sequences as
     *  needed; false when s itself had to be preempted. */
    private boolean reserveOrPreempt(ScheduledSequence<T> s, int tokens) {
        while (!kv.reserve(s.slot, tokens)) {
            ScheduledSequence<T> victim = waiting.kvVictim(runningView);
            preempt(victim);
            if (victim == s) return false;
        }
        return true;
    }

    /**
     * The largest chunk of at most {@code want} tokens s can take now, preempting younger sequences
     * when not even one token fits. 0 when s is the youngest and nothing fits.
     */
    private int fitChunk(ScheduledSequence<T> s, int want) {
        while (true) {
            int free = kv.freeBlocks();
            if (kv.blocksNeeded(s.slot, s.computedTokens + want) <= free) return want;
            int lo = 0, hi = want; // largest n in [0, want] that fits
            while (lo < hi) {
                int mid = (lo + hi + 1) >>> 1;
                if (kv.blocksNeeded(s.slot, s.computedTokens + mid) <= free) lo = mid; else hi = mid - 1;
            }
            if (lo > 0) return lo;
            ScheduledSequence<T> victim = waiting.kvVictim(runningView);
            if (victim == s) return 0;
            preempt(victim);
        }
    }

    private void preempt(ScheduledSequence<T> v) {
        budget += plan.remove(v);
        running.remove(v);
        kv.release(v.slot);
        v.slot = -1;
        v.computedTokens = 0;
        v.state = ScheduledSequence.State.WAITING;
        v.preemptions++;
        preemptions++;
        waiting.addFirst(v);
    }

    private void insertRunning(ScheduledSequence<T> s) {
        int i = running.size();
        while (i > 0 && running.get(i - 1).arrival() > s.arrival()) i--;
        running.add(i, s);
    }
}
