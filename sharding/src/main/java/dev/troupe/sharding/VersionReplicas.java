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

    /** The replica for a request with this prompt, or null when none is ready. */
    public ReplicaClient pick(int[] prompt) {
        List<ReplicaStatus> ready = sharding.directory().ready(model, version);
        if (ready.isEmpty()) return null;
        List<ReplicaRouter.Candidate> candidates = new ArrayList<>(ready.size());
        for (ReplicaStatus s : ready) {
            candidates.add(new ReplicaRouter.Candidate(s.id(), s.queued() + s.running(), counter(s.id()).get(), s.kvFree(), s.kvTotal()));
        }
        int i = router.pick(candidates, router.prefixKey(prompt), System.nanoTime(), n -> ThreadLocalRandom.current().nextInt(n));
        ReplicaStatus s = ready.get(i);
        return new Counted(sharding.client(s.node(), s.name()), counter(s.id()));
    }

    private AtomicInteger counter(String replicaId) {
        return outstanding.computeIfAbsent(replicaId, k -> new AtomicInteger());
    }

    /** A replica with this gateway's requests on it counted until their terminal event. */
    private record Counted(ReplicaClient replica, AtomicInteger outstanding) implements ReplicaClient {
        @Override
        public String node() {
            return replica.node();
        }

        @Override
        public void submit(GenerationRequest request, GenerationSink sink) {
            outstanding.incrementAndGet();
            replica.submit(request, e -> {
                if (!(e instanceof GenerationEvent.Tokens)) outstanding.decrementAndGet();
                sink.onEvent(e);
            });
        }

        @Override
        public void cancel(String requestId) {
            replica.cancel(requestId);
        }

        @Override
        public CompletionStage<float[]> embed(int[] tokens, Duration timeout) {
            return replica.embed(tokens, timeout);
        }

        @Override
        public CompletionStage<Replica.ProbeReply> probe(Duration timeout) {
            return replica.probe(timeout);
        }

        @Override
        public CompletionStage<Void> drain(Duration grace) {
            return replica.drain(grace);
        }
    }
}
