package dev.troupe.sharding;

import java.util.concurrent.atomic.AtomicLong;

/**
 * What a gateway does when the replica serving a request is lost or refuses it as shutting down, and how
 * often it did each: a request with nothing delivered yet is retried on another replica of its version; a
 * request under way is continued there (prefill of the prompt and the tokens delivered, then the rest) when
 * continuation is on, and fails otherwise; at most maxAttempts replicas serve one request.
 *
 * @param continuation whether requests under way move to another replica (else they fail with the replica)
 * @param maxAttempts  most replicas one request is submitted to (the first included)
 */
public record Failover(boolean continuation, int maxAttempts, Counters counters) {
    /** Continuation on, three replicas at most. */
    public static final Failover DEFAULT = new Failover(true, 3);

    public Failover {
        if (maxAttempts < 1) throw new IllegalArgumentException("troupe.routing.max-attempts must be >= 1, got " + maxAttempts);
    }

    public Failover(boolean continuation, int maxAttempts) {
        this(continuation, maxAttempts, new Counters());
    }

    /** Since this node started: requests submitted again before any token, continued after some, and lost for good. */
    public static final class Counters {
        public final AtomicLong retried = new AtomicLong();
        public final AtomicLong continued = new AtomicLong();
        public final AtomicLong lost = new AtomicLong();
    }
}
