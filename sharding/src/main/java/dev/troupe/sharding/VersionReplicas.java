package dev.troupe.sharding;

import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.actors.replica.GenerationRequest;
import dev.troupe.actors.replica.GenerationSink;
import dev.troupe.actors.replica.Replica;
import dev.troupe.actors.replica.ReplicaClient;
import dev.troupe.scheduler.ReplicaRouter;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The replicas of one model version anywhere in the cluster, as this gateway routes to them: the ready
 * ones from the directory, the choice by the {@link ReplicaRouter} over their announced load and this
 * gateway's own outstanding requests on each (counted here from submission to the terminal event).
 */
public final class VersionReplicas {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(VersionReplicas.class);
    private final String model;
    private final String version;
    private final ReplicaSharding sharding;
    private final ReplicaRouter router;
    private final ConcurrentHashMap<String, AtomicInteger> outstanding = new ConcurrentHashMap<>();
    private final java.util.function.Supplier<Boolean> continuation;

    public VersionReplicas(String model, String version, ReplicaSharding sharding, ReplicaRouter router) {
        this(model, version, sharding, router, () -> null);
    }

    /** continuation: the version's deployment's own switch, read per request (null: the node's {@link Failover}). */
    public VersionReplicas(String model, String version, ReplicaSharding sharding, ReplicaRouter router,
                           java.util.function.Supplier<Boolean> continuation) {
        this.continuation = continuation;
        this.model = model;
        this.version = version;
        this.sharding = sharding;
        this.router = router;
        sharding.failover().counters().of(model, version); // its moves are counted from 0, before the first
    }

    /** Whether some replica of the version is ready now. */
    public boolean any() {
        return !sharding.directory().ready(model, version).isEmpty();
    }

    /**
     * The replica for a request with this prompt, or null when none is ready. The returned client serves
     * one request and owns it until its terminal event: when its replica is lost or refuses it as shutting
     * down, it is submitted again to another ready replica (before its first token), or continued there
     * from the tokens already delivered (after), as {@link Failover} says.
     */
    public ReplicaClient pick(int[] prompt) {
        Pick first = choose(prompt, java.util.Set.of());
        return first == null ? null : new Routed(prompt, first);
    }

    private record Pick(String id, ReplicaClient replica, AtomicInteger outstanding) {}

    private Pick choose(int[] prompt, java.util.Set<String> excluded) {
        List<ReplicaStatus> ready = new ArrayList<>(sharding.directory().ready(model, version));
        ready.removeIf(s -> excluded.contains(s.id()));
        if (ready.isEmpty()) return null;
        List<ReplicaRouter.Candidate> candidates = new ArrayList<>(ready.size());
        for (ReplicaStatus s : ready) {
            candidates.add(new ReplicaRouter.Candidate(s.id(), s.queued() + s.running(), counter(s.id()).get(), s.kvFree(), s.kvTotal()));
        }
        int i = router.pick(candidates, router.prefixKey(prompt), System.nanoTime(), n -> ThreadLocalRandom.current().nextInt(n));
        ReplicaStatus s = ready.get(i);
        return new Pick(s.id(), sharding.client(s.node(), s.name()), counter(s.id()));
    }

    private AtomicInteger counter(String replicaId) {
        return outstanding.computeIfAbsent(replicaId, k -> new AtomicInteger());
    }

    /**
     * One request's replica: counts the request as outstanding there until its terminal event, and moves
     * it to another replica when its replica is lost or shutting down. The client's sink sees one stream:
     * the tokens of every attempt in order, each once, then one terminal event with the whole request's counts.
     */
    private final class Routed implements ReplicaClient {
        private final int[] prompt;
        private volatile Pick current;
        private final java.util.Set<String> tried = ConcurrentHashMap.newKeySet();
        /** Token ids delivered to the client so far, over all attempts (one attempt's thread at a time). */
        private int[] delivered = new int[16];
        private int deliveredCount;

        Routed(int[] prompt, Pick first) {
            this.prompt = prompt;
            this.current = first;
        }

        @Override
        public String node() {
            return current.replica().node();
        }

        @Override
        public void submit(GenerationRequest request, GenerationSink sink) {
            attempt(current, request, sink);
        }

        private void attempt(Pick p, GenerationRequest original, GenerationSink sink) {
            current = p;
            tried.add(p.id());
            p.outstanding().incrementAndGet();
            int[] sent = java.util.Arrays.copyOf(delivered, deliveredCount);
            GenerationRequest request = sent.length == 0 ? original : original.continuedAfter(sent);
            p.replica().submit(request, new GenerationSink() {
                @Override
                public void onEvent(GenerationEvent e) {
                    if (e instanceof GenerationEvent.Tokens t) {
                        add(t.tokenIds());
                        sink.onEvent(e);
                        return;
                    }
                    p.outstanding().decrementAndGet();
                    if (e instanceof GenerationEvent.Failed f && (f.kind() == GenerationEvent.FailureKind.REPLICA_LOST
                            || f.kind() == GenerationEvent.FailureKind.SHUTTING_DOWN)) {
                        moveOrFail(p, original, sink, f);
                        return;
                    }
                    sink.onEvent(e);
                }

                @Override
                public void onStarted() { sink.onStarted(); }
            });
        }

        /** The replica of attempt p is lost or shutting down: the next replica takes the request, else it fails. */
        private void moveOrFail(Pick p, GenerationRequest original, GenerationSink sink, GenerationEvent.Failed f) {
            Failover failover = sharding.failover();
            boolean started = deliveredCount > 0;
            Boolean own = continuation.get();
            if (tried.size() < failover.maxAttempts() && (!started || (own != null ? own : failover.continuation()))) {
                Pick next = choose(prompt, tried);
                if (next != null) {
                    if (started) failover.counters().continued(model, version);
                    else failover.counters().retried(model, version);
                    log.info("request {}: replica {} on {} {} ({}); {} on {} after {} tokens", original.requestId(), p.id(),
                            p.replica().node(), f.kind() == GenerationEvent.FailureKind.REPLICA_LOST ? "lost" : "shutting down",
                            f.message(), started ? "continued" : "retried", next.replica().node(), deliveredCount);
                    attempt(next, original, sink);
                    return;
                }
            }
            if (f.kind() == GenerationEvent.FailureKind.REPLICA_LOST) {
                failover.counters().lost(model, version);
                log.warn("request {}: replica {} on {} lost after {} tokens and no other replica took it ({} tried)",
                        original.requestId(), p.id(), p.replica().node(), deliveredCount, tried.size());
            }
            // The client's counts: its own prompt, every token it was sent.
            sink.onEvent(new GenerationEvent.Failed(f.requestId(), f.kind(), f.message(),
                    original.promptTokens().length - original.resumed(), deliveredCount));
        }

        private void add(int[] ids) {
            if (deliveredCount + ids.length > delivered.length) {
                delivered = java.util.Arrays.copyOf(delivered, Math.max(delivered.length * 2, deliveredCount + ids.length));
            }
            System.arraycopy(ids, 0, delivered, deliveredCount, ids.length);
            deliveredCount += ids.length;
        }

        @Override
        public void cancel(String requestId) {
            current.replica().cancel(requestId);
        }

        @Override
        public CompletionStage<float[][]> embed(String id, int[][] inputs, Duration timeout) {
            return current.replica().embed(id, inputs, timeout);
        }

        @Override
        public CompletionStage<Replica.ProbeReply> probe(Duration timeout) {
            return current.replica().probe(timeout);
        }

        @Override
        public CompletionStage<Void> drain(Duration grace) {
            return current.replica().drain(grace);
        }
    }
}
