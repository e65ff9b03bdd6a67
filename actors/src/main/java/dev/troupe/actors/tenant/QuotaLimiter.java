package dev.troupe.actors.tenant;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * Per-tenant admission against {@link Quotas}: requests per minute, tokens per minute and concurrent
 * requests. Pure and thread-safe; time comes from a nanosecond clock, so tests need no sleeping.
 *
 * <p>The minute slides in one-second steps: each tenant has 60 one-second buckets of requests admitted
 * and tokens charged, and "the last minute" is the buckets of the last 60 seconds.
 *
 * <p>Tokens are charged when a request ends, with its actual prompt + completion tokens (they are not
 * known at admission). Admission refuses once the tokens charged in the last minute have reached the
 * limit, so one minute can overshoot by the requests already running, and the next ones wait until
 * the window has slid far enough. Requests are counted at admission, refused ones included nowhere.
 *
 * <p>Retry-After is when the oldest counted bucket that keeps the tenant at its limit leaves the window
 * (whole seconds, at least 1); for the concurrency limit it is 1 second.
 */
public final class QuotaLimiter {
    private static final int BUCKETS = 60;
    private static final long SECOND = 1_000_000_000L;

    public enum Limit { REQUESTS_PER_MINUTE, TOKENS_PER_MINUTE, CONCURRENT_REQUESTS }

    /** {@code limit} and {@code retryAfterSeconds} are set when refused. */
    public record Decision(boolean allowed, Limit limit, long retryAfterSeconds) {
        public static final Decision ALLOWED = new Decision(true, null, 0);
    }

    private final LongSupplier nanos;
    private final Map<String, Window> windows = new ConcurrentHashMap<>();

    /** @param nanos a monotonic nanosecond clock, e.g. {@code System::nanoTime} */
    public QuotaLimiter(LongSupplier nanos) {
        this.nanos = nanos;
    }

    /** Admits one request (counted, and one more in flight) or says which limit refuses it. */
    public Decision acquire(String tenant, Quotas quotas) {
        return windows.computeIfAbsent(tenant, t -> new Window()).acquire(quotas, nanos.getAsLong());
    }

    /** Ends an admitted request: one fewer in flight, and its tokens charged to the current second. */
    public void release(String tenant, long tokens) {
        Window w = windows.get(tenant);
        if (w != null) w.release(Math.max(0, tokens), nanos.getAsLong());
    }

    /** Requests of this tenant in flight now. */
    public int concurrent(String tenant) {
        Window w = windows.get(tenant);
        return w == null ? 0 : w.concurrentNow();
    }

    private static final class Window {
        private final long[] second = new long[BUCKETS];   // the absolute second a bucket holds
        private final long[] requests = new long[BUCKETS];
        private final long[] tokens = new long[BUCKETS];
        private int concurrent;

        Window() {
            java.util.Arrays.fill(second, Long.MIN_VALUE);
        }

        synchronized int concurrentNow() {
            return concurrent;
        }

        synchronized Decision acquire(Quotas q, long now) {
            long sec = Math.floorDiv(now, SECOND);
            if (q.requestsPerMinute() > 0) {
                long retry = retryAfter(requests, q.requestsPerMinute(), sec, now);
                if (retry > 0) return new Decision(false, Limit.REQUESTS_PER_MINUTE, retry);
            }
            if (q.tokensPerMinute() > 0) {
                long retry = retryAfter(tokens, q.tokensPerMinute(), sec, now);
                if (retry > 0) return new Decision(false, Limit.TOKENS_PER_MINUTE, retry);
            }
            if (q.maxConcurrent() > 0 && concurrent >= q.maxConcurrent()) {
                return new Decision(false, Limit.CONCURRENT_REQUESTS, 1);
            }
            requests[slot(sec)]++;
            concurrent++;
            return Decision.ALLOWED;
        }

        synchronized void release(long used, long now) {
            if (concurrent > 0) concurrent--;
            tokens[slot(Math.floorDiv(now, SECOND))] += used;
        }

        /** The bucket for this second, emptied first if it still holds a second that left the window. */
        private int slot(long sec) {
            int i = (int) Math.floorMod(sec, (long) BUCKETS);
            if (second[i] != sec) {
                second[i] = sec;
                requests[i] = 0;
                tokens[i] = 0;
            }
            return i;
        }

        /** 0 when the window's sum is under the limit; else the whole seconds until it will be. */
        private long retryAfter(long[] counts, long limit, long sec, long now) {
            long used = 0;
            for (int i = 0; i < BUCKETS; i++) if (live(i, sec)) used += counts[i];
            if (used < limit) return 0;
            // Walk the live buckets oldest first until enough has left the window.
            for (long s = sec - BUCKETS + 1; s <= sec; s++) {
                int i = (int) Math.floorMod(s, (long) BUCKETS);
                if (second[i] != s) continue;
                used -= counts[i];
                if (used < limit) {
                    long freeAt = (s + BUCKETS) * SECOND;   // when second s leaves the window
                    return Math.max(1, (freeAt - now + SECOND - 1) / SECOND);
                }
            }
            return BUCKETS;   // a single second holds more than the limit: the full minute
        }

        private boolean live(int i, long sec) {
            return second[i] > sec - BUCKETS && second[i] <= sec;
        }
    }
}
