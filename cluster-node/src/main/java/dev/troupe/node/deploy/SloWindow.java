package dev.troupe.node.deploy;

import java.util.Arrays;

/**
 * The recent requests of one version (a ring of the last {@code capacity}): when each ended, how long it
 * took and whether it failed on the server's side. Summarised over a time window for the canary SLO.
 * Thread-safe; no allocation per request.
 */
final class SloWindow {
    record Summary(int requests, int errors, long p99Nanos) {
        double errorRate() {
            return requests == 0 ? 0 : (double) errors / requests;
        }
    }

    private final long[] endedAt;
    private final long[] latency;
    private final boolean[] failed;
    private int next;
    private int size;

    SloWindow(int capacity) {
        endedAt = new long[capacity];
        latency = new long[capacity];
        failed = new boolean[capacity];
    }

    synchronized void record(long nowNanos, long latencyNanos, boolean serverError) {
        endedAt[next] = nowNanos;
        latency[next] = latencyNanos;
        failed[next] = serverError;
        next = (next + 1) % endedAt.length;
        if (size < endedAt.length) size++;
    }

    synchronized void clear() {
        size = 0;
        next = 0;
    }

    /** Requests that ended within {@code windowNanos} before {@code nowNanos}. */
    synchronized Summary summary(long nowNanos, long windowNanos) {
        long[] lat = new long[size];
        int n = 0;
        int errors = 0;
        for (int i = 0; i < size; i++) {
            if (nowNanos - endedAt[i] <= windowNanos) {
                lat[n++] = latency[i];
                if (failed[i]) errors++;
            }
        }
        if (n == 0) return new Summary(0, 0, 0);
        Arrays.sort(lat, 0, n);
        int idx = (int) Math.ceil(0.99 * n) - 1;
        return new Summary(n, errors, lat[Math.max(0, idx)]);
    }
}
