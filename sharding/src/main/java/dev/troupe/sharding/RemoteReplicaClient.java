package dev.troupe.sharding;

import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.actors.replica.GenerationRequest;
import dev.troupe.actors.replica.GenerationSink;
import dev.troupe.actors.replica.Replica;
import dev.troupe.actors.replica.ReplicaClient;
import dev.troupe.actors.replica.ReplicaException;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;

import java.time.Duration;
import java.util.concurrent.CompletionStage;

/**
 * A replica on another node, through its pinned entity. Events come back to this node's
 * {@link StreamReceiver} in acknowledged batches; the request's deadline travels as the time left.
 */
final class RemoteReplicaClient implements ReplicaClient {
    private final EntityRef<Replica.Command> entity;
    private final String node;
    private final ActorRef<Replica.ToGateway> receiver;
    private final StreamReceiver.Sinks sinks;

    RemoteReplicaClient(EntityRef<Replica.Command> entity, String node, ActorRef<Replica.ToGateway> receiver, StreamReceiver.Sinks sinks) {
        this.entity = entity;
        this.node = node;
        this.receiver = receiver;
        this.sinks = sinks;
    }

    @Override
    public String node() {
        return node;
    }

    @Override
    public void submit(GenerationRequest request, GenerationSink sink) {
        if (!sinks.add(request.requestId(), sink, entity, node)) {
            sink.onEvent(new GenerationEvent.Failed(request.requestId(), GenerationEvent.FailureKind.INTERNAL,
                    "request id " + request.requestId() + " is already in flight", request.promptTokens().length, 0));
            return;
        }
        long d = request.deadlineNanos();
        long timeout = d == 0 ? 0 : Math.max(1, d - System.nanoTime());
        entity.tell(new Replica.Generate(request, timeout, receiver));
    }

    @Override
    public void cancel(String requestId) {
        entity.tell(new Replica.Cancel(requestId));
    }

    @Override
    public CompletionStage<float[][]> embed(String id, int[][] inputs, Duration timeout) {
        return entity.<Replica.EmbedReply>ask(to -> new Replica.Embed(id, inputs, timeout.toMillis(), to), timeout.plusSeconds(1))
                .thenApply(r -> {
                    if (r.failure() != null) throw new ReplicaException(r.failure(), r.error());
                    return r.embeddings();
                });
    }

    @Override
    public CompletionStage<Replica.ProbeReply> probe(Duration timeout) {
        return entity.ask(Replica.Probe::new, timeout);
    }

    @Override
    public CompletionStage<Void> drain(Duration grace) {
        return entity.<Replica.Drained>ask(to -> new Replica.Drain(grace.toMillis(), to), grace.plusSeconds(10)).thenApply(x -> null);
    }
}
