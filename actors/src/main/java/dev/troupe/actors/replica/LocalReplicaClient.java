package dev.troupe.actors.replica;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * A replica on this node: requests go straight to its step loop, whose thread tells the sink. The fast
 * path for local traffic, and what the replica's entity uses to serve requests from other nodes.
 */
public final class LocalReplicaClient implements ReplicaClient {
    private final String model;
    private final String node;
    private final StepLoop loop;

    /** model: the replica's name in messages (e.g. {@code name@version}); node: this node's {@code host:port}. */
    public LocalReplicaClient(String model, String node, StepLoop loop) {
        this.model = model;
        this.node = node;
        this.loop = loop;
    }

    /** The replica's name (its entity's, without the node). */
    public String name() {
        return model;
    }

    public StepLoop loop() {
        return loop;
    }

    @Override
    public String node() {
        return node;
    }

    @Override
    public void submit(GenerationRequest request, GenerationSink sink) {
        if (loop.submit(request, sink)) return;
        sink.onEvent(loop.draining()
                ? new GenerationEvent.Failed(request.requestId(), GenerationEvent.FailureKind.SHUTTING_DOWN,
                        "the replica of " + model + " is shutting down", request.promptTokens().length, 0)
                : new GenerationEvent.Failed(request.requestId(), GenerationEvent.FailureKind.QUEUE_FULL,
                        "the replica of " + model + " has too many queued requests", request.promptTokens().length, 0));
    }

    @Override
    public void cancel(String requestId) {
        loop.cancel(requestId);
    }

    @Override
    public CompletionStage<float[][]> embed(String id, int[][] inputs, Duration timeout) {
        // A timeout completes the future, which the loop sees and drops the request.
        return loop.embed(id, inputs).orTimeout(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    @Override
    public CompletionStage<Replica.ProbeReply> probe(Duration timeout) {
        long age = (System.nanoTime() - loop.lastHeartbeatNanos()) / 1_000_000;
        return CompletableFuture.completedFuture(new Replica.ProbeReply(model, node, loop.draining(), age, loop.stats()));
    }

    @Override
    public CompletionStage<Void> drain(Duration grace) {
        return loop.drain(grace);
    }
}
