package dev.troupe.actors.replica;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A histogram with fixed upper bounds, written by one thread (a step loop's) and read by any (a scrape).
 * Observing allocates nothing and takes no lock, so the loop can observe every step; a reader sees each
 * bucket's count as of some recent moment (the total is the sum of the buckets it read, so it always
 * agrees with them).
 */
public final class LoopHistogram {
    private final double[] bounds;
    /** Per bucket, not cumulative; the last one is above every bound (+Inf). */
    private final AtomicLongArray counts;
    private final AtomicLong sumBits = new AtomicLong(Double.doubleToRawLongBits(0));
    private double sum; // the writer's own copy

    /** bounds: ascending upper bounds, +Inf implied. */
    public LoopHistogram(double... bounds) {
        for (int i = 1; i < bounds.length; i++) {
            if (!(bounds[i] > bounds[i - 1])) throw new IllegalArgumentException("bounds must ascend");
        }
        this.bounds = bounds.clone();
        this.counts = new AtomicLongArray(bounds.length + 1);
    }

    /** One observation; from the single writer thread only. */
    public void observe(double value) {
        int i = 0;
        while (i < bounds.length && value > bounds[i]) i++;
        counts.lazySet(i, counts.get(i) + 1);
        sum += value;
        sumBits.lazySet(Double.doubleToRawLongBits(sum));
    }

    /** The upper bounds, +Inf not included (a copy). */
    public double[] bounds() {
        return bounds.clone();
    }

    /** What was observed so far. */
    public Snapshot snapshot() {
        long[] c = new long[counts.length()];
        long total = 0;
        for (int i = 0; i < c.length; i++) {
            c[i] = counts.get(i);
            total += c[i];
        }
        return new Snapshot(bounds.clone(), c, total, Double.longBitsToDouble(sumBits.get()));
    }

    /** bucketCounts: per bucket (not cumulative), one more than bounds (the +Inf bucket last). */
    public record Snapshot(double[] bounds, long[] bucketCounts, long count, double sum) {}
}
