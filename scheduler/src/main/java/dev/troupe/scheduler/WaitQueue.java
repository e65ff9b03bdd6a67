package dev.troupe.scheduler;

/**
 * Sequences waiting to (re)start, in the order they should be admitted. The scheduler only ever admits
 * the head ({@link #peek}); a preempted sequence is put back with {@link #addFirst}. FIFO today
 * ({@link FifoWaitQueue}); a per-tenant fair queue can implement the same contract.
 */
public interface WaitQueue<T> {
    /** A newly arrived sequence. */
    void add(ScheduledSequence<T> seq);

    /** A preempted sequence: it goes before every newcomer. */
    void addFirst(ScheduledSequence<T> seq);

    /** The sequence to admit next, or null. */
    ScheduledSequence<T> peek();

    /** Removes and returns {@link #peek()}. */
    ScheduledSequence<T> poll();

    /** Removes a sequence wherever it is (cancel, deadline); false when it is not here. */
    boolean remove(ScheduledSequence<T> seq);

    int size();
}
