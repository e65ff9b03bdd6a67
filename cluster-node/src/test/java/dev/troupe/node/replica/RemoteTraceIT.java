package dev.troupe.node.replica;

import com.fasterxml.jackson.databind.JsonNode;
import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.actors.replica.GenerationRequest;
import dev.troupe.actors.replica.ReplicaClient;
import dev.troupe.actors.replica.StepLoop;
import dev.troupe.engine.EngineOptions;
import dev.troupe.engine.LlamaModel;
import dev.troupe.engine.sampling.SamplingParams;
import dev.troupe.engine.tokenizer.Tokenizer;
import dev.troupe.node.tracing.OtlpHttpExporter;
import dev.troupe.node.tracing.OtlpReceiver;
import dev.troupe.node.tracing.ReplicaSpans;
import dev.troupe.node.tracing.Tracer;
import dev.troupe.sharding.ReplicaSharding;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The trace context crosses nodes with the request: a gateway on node A sends a request carrying its
 * traceparent to a replica on node B (Kryo over Artery), and B's span for it is a child of A's span, in the
 * same trace, exported by B.
 */
class RemoteTraceIT {
    private static final String TRACE = "0af7651916cd43dd8448eb211c80319c";
    private static final String GATEWAY_SPAN = "b7ad6b7169203331";

    @Test
    void theRemoteReplicasSpanIsAChildOfTheGatewaysSpan() throws Exception {
        Assumptions.assumeTrue(ReplicaClientContract.MODEL != null, "../shared/models/stories260K-f32.gguf not found");
        LlamaModel model = LlamaModel.load(ReplicaClientContract.MODEL, EngineOptions.defaults().withThreads(1));
        Tokenizer tokenizer = Tokenizer.fromGguf(model.file());
        try (OtlpReceiver receiver = new OtlpReceiver();
             Tracer tracerB = new Tracer(new OtlpHttpExporter(receiver.endpoint(), "node-b", 64, Duration.ofMillis(20)));
             InProcessCluster cluster = InProcessCluster.start(2);
             StepLoop loop = new StepLoop(model, tokenizer, new StepLoop.Config(2, 64, 4, Duration.ofMillis(5)))) {
            ReplicaSharding a = new ReplicaSharding(cluster.node(0));
            ReplicaSharding b = new ReplicaSharding(cluster.node(1));
            b.observeRemoteRequests(new ReplicaSpans(tracerB, b.selfNode()));
            loop.start();
            b.registerLocal("stories", "v1", loop);
            ReplicaClient client = a.client(b.selfNode(), ReplicaSharding.replicaName("stories", "v1"));

            CompletableFuture<GenerationEvent> end = new CompletableFuture<>();
            client.submit(new GenerationRequest("trace-1", tokenizer.encode("Once upon a time", true), SamplingParams.greedy(6),
                    0, "acme", 1, 0, "00-" + TRACE + "-" + GATEWAY_SPAN + "-01"), e -> {
                if (!(e instanceof GenerationEvent.Tokens)) end.complete(e);
            });
            GenerationEvent.Finished finished = (GenerationEvent.Finished) end.get(30, TimeUnit.SECONDS);

            JsonNode span = receiver.await(s -> s.get("traceId").asText().equals(TRACE));
            assertEquals(GATEWAY_SPAN, span.get("parentSpanId").asText(), "the gateway's span is the parent");
            assertNotEquals(GATEWAY_SPAN, span.get("spanId").asText());
            assertEquals("replica stories@v1", span.get("name").asText());
            Map<String, Object> attributes = OtlpReceiver.attributes(span);
            assertEquals(b.selfNode(), attributes.get("troupe.node"));
            assertNotEquals(a.selfNode(), b.selfNode());
            assertEquals("trace-1", attributes.get("troupe.request_id"));
            assertEquals((long) finished.completionTokens(), attributes.get("gen_ai.usage.output_tokens"));
            assertEquals(List.of(finished.reason().openAi()), attributes.get("gen_ai.response.finish_reasons"));
            assertEquals("gen_ai.first_token", span.get("events").get(0).get("name").asText());

            // A request without trace context gets no span of the replica's (and still runs).
            CompletableFuture<GenerationEvent> plain = new CompletableFuture<>();
            client.submit(new GenerationRequest("plain-1", tokenizer.encode("Hello", true), SamplingParams.greedy(2), 0), e -> {
                if (!(e instanceof GenerationEvent.Tokens)) plain.complete(e);
            });
            assertInstanceOf(GenerationEvent.Finished.class, plain.get(30, TimeUnit.SECONDS));
            Thread.sleep(200);
            assertEquals(1, receiver.spans().size(), receiver.spans().toString());
        } finally {
            model.close();
        }
    }
}
