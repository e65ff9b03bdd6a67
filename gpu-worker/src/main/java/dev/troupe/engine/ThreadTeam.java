package dev.troupe.engine;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed team of threads that runs one data-parallel task at a time, the caller taking share 0.
 * A forward step has a few dozen parallel regions of tens of microseconds each, far too short for an
 * executor hand-off: idle workers spin briefly on a generation counter before parking, and a region
 * costs no allocation.
 */
public final class ThreadTeam implements AutoCloseable {
    /** One data-parallel region: called once per team member with its index. */
    public interface Task {
        void run(int worker, int workers);
    }

    private static final long SPIN_NANOS = 30_000;

    private final int size;
    private final Thread[] threads;
    private final boolean[] parked;
    private final AtomicInteger pending = new AtomicInteger();
    private volatile Task task;
    private volatile long generation;
    private volatile boolean closed;
    private volatile Throwable failure;

    public ThreadTeam(int size, String namePrefix) {
        if (size < 1) throw new IllegalArgumentException("thread count must be at least 1, got " + size);
        this.size = size;
        this.threads = new Thread[size - 1];
        this.parked = new boolean[size];
        for (int i = 1; i < size; i++) {
            int worker = i;
            Thread t = new Thread(() -> workerLoop(worker), namePrefix + "-" + i);
            t.setDaemon(true);
            threads[i - 1] = t;
            t.start();
        }
    }

    public int size() { return size; }

    /** Runs task on every member and returns when all are done; rethrows the first failure. */
    public void run(Task t) {
        if (closed) throw new IllegalStateException("thread team is closed");
        if (size == 1) {
            t.run(0, 1);
            return;
        }
        task = t;
        pending.set(size - 1);
        generation++;
        for (int i = 1; i < size; i++) {
            if (isParked(i)) LockSupport.unpark(threads[i - 1]);
        }
        Throwable own = null;
        try {
            t.run(0, size);
        } catch (Throwable e) {
            own = e;
        }
        int spins = 0;
        while (pending.get() != 0) {
            if (++spins < 10_000) Thread.onSpinWait();
            else Thread.yield();
        }
        task = null;
        Throwable f = failure;
        if (own != null || f != null) {
            failure = null;
            Throwable e = own != null ? own : f;
            if (e instanceof RuntimeException) throw (RuntimeException) e;
            if (e instanceof Error) throw (Error) e;
            throw new IllegalStateException(e);
        }
    }

    private synchronized boolean isParked(int i) { return parked[i]; }

    private synchronized void setParked(int i, boolean p) { parked[i] = p; }

    private void workerLoop(int worker) {
        long seen = 0;
        while (!closed) {
            long spinStart = System.nanoTime();
            int spins = 0;
            while (generation == seen && !closed) {
                Thread.onSpinWait();
                if ((++spins & 255) == 0 && System.nanoTime() - spinStart > SPIN_NANOS) {
                    setParked(worker, true);
                    if (generation == seen && !closed) LockSupport.park(this);
                    setParked(worker, false);
                    spinStart = System.nanoTime();
                }
            }
            if (closed) return;
            seen = generation;
            try {
                task.run(worker, size);
            } catch (Throwable e) {
                failure = e;
            }
            pending.decrementAndGet();
        }
    }

    /** The range [start, end) of {@code units} work units that member {@code worker} of {@code workers} takes. */
    public static int splitStart(int units, int worker, int workers) {
        return (int) ((long) units * worker / workers);
    }

    @Override
    public void close() {
        closed = true;
        for (Thread t : threads) LockSupport.unpark(t);
    }
}
