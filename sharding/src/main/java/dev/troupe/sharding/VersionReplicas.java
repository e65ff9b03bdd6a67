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
    private final String model;
    private final String version;
    private final ReplicaSharding sharding;
    private final ReplicaRouter router;
    private final ConcurrentHashMap<String, AtomicInteger> outstanding = new ConcurrentHashMap<>();

    public VersionReplicas(String model, String version, ReplicaSharding sharding, ReplicaRouter router) {
        this.model = model;
        this.version = version;
        this.sharding = sharding;
        this.router = router;
    }

    /** Whether some replica of the version is ready now. */
    public boolean any() {
        return !sharding.directory().ready(model, version).isEmpty();
    }

    /**
     * The replica for a request with this prompt, or null when none is ready. The returned client serves
     * one request: if the replica refuses it as shutting down before anything was generated (a node
     * leaving, a version unloading), it is submitted again to another ready replica, up to
     * {@link #MAX_ATTEMPTS} replicas in all.
     */
    public ReplicaClient pick(int[] prompt) {
        Pick first = choose(prompt, java.util.Set.of());
        return first == null ? null : new Routed(prompt, first);
    }

    /** Most replicas one request is submitted to before its refusal stands. */
    static final int MAX_ATTEMPTS = 3;

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
     * it to another replica when it is refused as shutting down before its first token.
     */
    private final class Routed implements ReplicaClient {
        private final int[] prompt;
        private volatile Pick current;
        private final java.util.Set<String> tried = ConcurrentHashMap.newKeySet();

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
            Pick p = current;
            tried.add(p.id());
            p.outstanding().incrementAndGet();
            p.replica().submit(request, new GenerationSink() {
                private boolean started;

                @Override
                public void onEvent(GenerationEvent e) {
                    if (e instanceof GenerationEvent.Tokens) {
                        started = true;
                        sink.onEvent(e);
                        return;
                    }
                    p.outstanding().decrementAndGet();
                    if (!started && e instanceof GenerationEvent.Failed f && f.kind() == GenerationEvent.FailureKind.SHUTTING_DOWN
                            && tried.size() < MAX_ATTEMPTS) {
                        Pick next = choose(prompt, tried);
                        if (next != null) {
                            current = next;
                            submit(request, sink);
                            return;
                        }
                    }
                    sink.onEvent(e);
                }
            });
        }

        @Override
        public void cancel(String requestId) {
            current.replica().cancel(requestId);
        }

        @Override
        public CompletionStage<float[]> embed(int[] tokens, Duration timeout) {
            return current.replica().embed(tokens, timeout);
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
