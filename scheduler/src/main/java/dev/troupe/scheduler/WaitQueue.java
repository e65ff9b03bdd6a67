package dev.troupe.scheduler;

import java.util.List;

/**
 * Sequences waiting to (re)start, in the order they should be admitted. The scheduler only ever admits
 * the head ({@link #peek}); a preempted sequence is put back with {@link #addFirst}. {@link FifoWaitQueue}
 * admits in arrival order; {@link FairWaitQueue} shares the node between tenants by weight.
 *
 * <p>The scheduler also tells the queue what happens to the sequences it admitted, so that a fair queue
 * can account for them: {@link #poll} = admitted (now running), {@link #addFirst} = preempted (waiting
 * again), {@link #released} = a running one left for good, {@link #charge} = tokens computed for one.
 * Those hooks do nothing by default.
 */
public interface WaitQueue<T> {
    /** A newly arrived sequence. */
    void add(ScheduledSequence<T> seq);

    /**
     * A newly arrived sequence that continues a completion already streaming to its client (its replica was
     * lost): it goes before the newcomers (of its tenant, for a fair queue), whose clients wait for a first
     * token, not in the middle of a stream.
     */
    void addResumed(ScheduledSequence<T> seq);

    /** A preempted sequence: it goes before every newcomer (of its tenant, for a fair queue). */
    void addFirst(ScheduledSequence<T> seq);

    /** The sequence to admit next, or null. */
    ScheduledSequence<T> peek();

    /** Removes and returns {@link #peek()}: the scheduler admits it into the running batch. */
    ScheduledSequence<T> poll();

    /** Removes a sequence wherever it is (cancel, deadline); false when it is not here. */
    boolean remove(ScheduledSequence<T> seq);

    int size();

    /** A running sequence left the batch for good (finished, cancelled, failed). */
    default void released(ScheduledSequence<T> seq) {}

    /** A committed step computed {@code tokens} positions of a running sequence (a prefill chunk or a decode). */
    default void charge(ScheduledSequence<T> seq, int tokens) {}

    /**
     * Called when every running slot is taken and sequences wait: the running sequence to preempt so that
     * the head can start at once, or null to let the head wait for a slot to free up. After a non-null
     * answer the scheduler preempts it ({@link #addFirst}) and {@link #peek} must still return the head
     * that asked for the slot, so the slot cannot bounce back. At most once per plan.
     *
     * @param running the running sequences in ascending arrival order (read only)
     */
    default ScheduledSequence<T> slotVictim(List<ScheduledSequence<T>> running) { return null; }

    /**
     * KV blocks ran out: the running sequence to preempt (recompute-style). By default the youngest; a
     * fair queue takes it from the tenant most above its share, so running out of memory does not undo
     * the weights.
     *
     * @param running the running sequences in ascending arrival order (read only, never empty)
     */
    default ScheduledSequence<T> kvVictim(List<ScheduledSequence<T>> running) { return running.get(running.size() - 1); }
}
