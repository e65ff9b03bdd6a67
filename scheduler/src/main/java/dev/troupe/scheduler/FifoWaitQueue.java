package dev.troupe.scheduler;

import java.util.ArrayDeque;

/** First come, first served; preempted sequences go back to the front. */
public final class FifoWaitQueue<T> implements WaitQueue<T> {
    private final ArrayDeque<ScheduledSequence<T>> queue = new ArrayDeque<>();

    @Override public void add(ScheduledSequence<T> seq) { queue.addLast(seq); }

    @Override public void addFirst(ScheduledSequence<T> seq) { queue.addFirst(seq); }

    @Override public void addResumed(ScheduledSequence<T> seq) { queue.addFirst(seq); }

    @Override public ScheduledSequence<T> peek() { return queue.peekFirst(); }

    @Override public ScheduledSequence<T> poll() { return queue.pollFirst(); }

    @Override public boolean remove(ScheduledSequence<T> seq) { return queue.remove(seq); }

    @Override public int size() { return queue.size(); }
}
