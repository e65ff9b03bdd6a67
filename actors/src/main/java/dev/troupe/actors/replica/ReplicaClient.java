package dev.troupe.actors.replica;

import java.time.Duration;
import java.util.concurrent.CompletionStage;

/**
 * The one way to reach a replica, wherever it runs. The gateway generates, cancels, embeds, probes and
 * drains through this interface only: {@link LocalReplicaClient} calls a step loop on this node directly
 * (no actor hop), the remote client goes through the replica's sharded entity and streams the events back.
 * Both keep the same contract, checked by one test suite.
 */
public interface ReplicaClient {

    /** The node whose replica this is, as {@code host:port} of its cluster address. */
    String node();

    /**
     * Submits a request. Never blocks, never throws for a refusal: every outcome reaches the sink, zero or
     * more {@link GenerationEvent.Tokens} then exactly one {@link GenerationEvent.Finished} or
     * {@link GenerationEvent.Failed} (a full queue is {@code QUEUE_FULL}, a draining or absent replica
     * {@code SHUTTING_DOWN}), from one thread at a time. A refusal may be told on the caller's thread.
     */
    void submit(GenerationRequest request, GenerationSink sink);

    /** The client went away: the sequence and its KV blocks are freed at the replica's next iteration. */
    void cancel(String requestId);

    /**
     * Embeddings of token sequences, one request under {@code id} ({@link #cancel} ends it); fails with a
     * {@link ReplicaException} saying why (queue full, shutting down, cancelled, ...) or after the timeout.
     */
    CompletionStage<float[][]> embed(String id, int[][] inputs, Duration timeout);

    /** Readiness: heartbeat age and what the replica is doing. */
    CompletionStage<Replica.ProbeReply> probe(Duration timeout);

    /**
     * Stops taking requests; in-flight ones may finish within the grace period. Completes when nothing is
     * in flight. A request submitted through this client before the drain is submitted before it.
     */
    CompletionStage<Void> drain(Duration grace);
}
