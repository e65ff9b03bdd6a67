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

    /**
     * Since this node started: requests submitted again before any token, continued after some, and lost for
     * good; in all and per model version.
     */
    public static final class Counters {
        public final AtomicLong retried = new AtomicLong();
        public final AtomicLong continued = new AtomicLong();
        public final AtomicLong lost = new AtomicLong();
        private final java.util.concurrent.ConcurrentHashMap<Version, Version.Moves> byVersion = new java.util.concurrent.ConcurrentHashMap<>();

        /** A model version whose requests moved. */
        public record Version(String model, String version) {
            /** Its requests retried, continued and lost. */
            public record Moves(AtomicLong retried, AtomicLong continued, AtomicLong lost) {}
        }

        /** This version's counters (created at its first move). */
        Version.Moves of(String model, String version) {
            return byVersion.computeIfAbsent(new Version(model, version), v -> new Version.Moves(new AtomicLong(), new AtomicLong(), new AtomicLong()));
        }

        public void retried(String model, String version) {
            retried.incrementAndGet();
            of(model, version).retried().incrementAndGet();
        }

        public void continued(String model, String version) {
            continued.incrementAndGet();
            of(model, version).continued().incrementAndGet();
        }

        public void lost(String model, String version) {
            lost.incrementAndGet();
            of(model, version).lost().incrementAndGet();
        }

        /** The versions whose requests moved so far, with their counts. */
        public java.util.Map<Version, Version.Moves> byVersion() {
            return java.util.Collections.unmodifiableMap(byVersion);
        }
    }
}
