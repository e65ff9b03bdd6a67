package dev.troupe.node.replica;

import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.actors.replica.GenerationRequest;
import dev.troupe.actors.replica.ReplicaClient;
import dev.troupe.actors.replica.StepLoop;
import dev.troupe.engine.EngineOptions;
import dev.troupe.engine.LlamaModel;
import dev.troupe.engine.sampling.SamplingParams;
import dev.troupe.engine.tokenizer.Tokenizer;
import dev.troupe.scheduler.ReplicaRouter;
import dev.troupe.sharding.ReplicaSharding;
import dev.troupe.sharding.ReplicaStatus;
import dev.troupe.sharding.VersionReplicas;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Routing over a cluster's replicas (three nodes in one JVM, each with a replica of the same version): every
 * gateway's directory sees all of them, traffic spreads over them, a replica that drains moves requests it
 * refused to another replica before their first token, one that shuts down mid-stream has its streams
 * continued elsewhere (or failed with what they sent when no replica is left), and a node that leaves takes
 * its replica out of every directory.
 */
class ClusterRoutingIT {
    private InProcessCluster cluster;
    private final List<ReplicaSharding> shardings = new ArrayList<>();
    private final List<LlamaModel> models = new ArrayList<>();
    private final List<StepLoop> loops = new ArrayList<>();
    private Tokenizer tokenizer;

    @BeforeEach
    void start() throws Exception {
        Assumptions.assumeTrue(ReplicaClientContract.MODEL != null, "../shared/models/stories260K-f32.gguf not found");
        cluster = InProcessCluster.start(3);
        for (int i = 0; i < 3; i++) {
            LlamaModel m = LlamaModel.load(ReplicaClientContract.MODEL, EngineOptions.defaults().withThreads(1));
            models.add(m);
            tokenizer = Tokenizer.fromGguf(m.file());
            StepLoop loop = new StepLoop(m, tokenizer, new StepLoop.Config(4, 64, 64, Duration.ofMillis(5)));
            loop.start();
            loops.add(loop);
            ReplicaSharding s = new ReplicaSharding(cluster.node(i), Duration.ofMillis(100), Duration.ofSeconds(1), List::of,
                    Duration.ofSeconds(2), dev.troupe.sharding.Failover.DEFAULT);
            s.registerLocal("m", "v1", loop);
            shardings.add(s);
        }
    }

    @AfterEach
    void stop() throws Exception {
        for (StepLoop l : loops) l.close();
        if (cluster != null) cluster.close();
        for (LlamaModel m : models) m.close();
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < until, what + " within 10 s");
            Thread.sleep(10);
        }
    }

    private VersionReplicas replicasSeenBy(int gateway) {
        return new VersionReplicas("m", "v1", shardings.get(gateway), new ReplicaRouter(ReplicaRouter.Config.defaults()));
    }

    /** Submits a greedy request through a gateway's routing; completes with its node and terminal event. */
    private CompletableFuture<Map.Entry<String, GenerationEvent>> generate(VersionReplicas replicas, String id, int maxTokens) {
        int[] prompt = tokenizer.encode("Once upon a time", true);
        ReplicaClient r = replicas.pick(prompt);
        assertNotNull(r, "a replica is ready");
        CompletableFuture<Map.Entry<String, GenerationEvent>> done = new CompletableFuture<>();
        r.submit(new GenerationRequest(id, prompt, SamplingParams.greedy(maxTokens), 0), e -> {
            if (!(e instanceof GenerationEvent.Tokens)) done.complete(Map.entry(r.node(), e));
        });
        return done;
    }

    @Test
    void everyGatewaySeesEveryReplicaAndSpreadsRequestsOverThem() throws Exception {
        for (ReplicaSharding s : shardings) await(() -> s.directory().ready("m", "v1").size() == 3, "3 replicas in every directory");
        VersionReplicas replicas = replicasSeenBy(0);
        List<CompletableFuture<Map.Entry<String, GenerationEvent>>> all = new ArrayList<>();
        for (int i = 0; i < 60; i++) all.add(generate(replicas, "r" + i, 8));
        Map<String, Integer> byNode = new HashMap<>();
        for (var f : all) {
            var outcome = f.get(60, TimeUnit.SECONDS);
            assertInstanceOf(GenerationEvent.Finished.class, outcome.getValue());
            byNode.merge(outcome.getKey(), 1, Integer::sum);
        }
        assertEquals(3, byNode.size(), "every node served: " + byNode);
    }

    @Test
    void aDrainingReplicasRefusalsGoToAnotherReplicaBeforeTheirFirstToken() throws Exception {
        for (ReplicaSharding s : shardings) await(() -> s.directory().ready("m", "v1").size() == 3, "3 replicas in every directory");
        // Node 2's replica drains; until its next announcement (100 ms) gateways still route to it.
        loops.get(2).drain(Duration.ofSeconds(5));
        VersionReplicas replicas = replicasSeenBy(0);
        List<CompletableFuture<Map.Entry<String, GenerationEvent>>> all = new ArrayList<>();
        for (int i = 0; i < 30; i++) all.add(generate(replicas, "d" + i, 4));
        for (var f : all) {
            var outcome = f.get(60, TimeUnit.SECONDS);
            assertInstanceOf(GenerationEvent.Finished.class, outcome.getValue(), () -> "refused: " + outcome);
            assertNotEquals(shardings.get(2).selfNode(), outcome.getKey());
        }
        await(() -> shardings.get(0).directory().ready("m", "v1").size() == 2, "the drained replica out of the directory");
    }

    @Test
    void aNodeThatLeavesTakesItsReplicaOutOfEveryDirectory() throws Exception {
        for (ReplicaSharding s : shardings) await(() -> s.directory().ready("m", "v1").size() == 3, "3 replicas in every directory");
        String leaving = shardings.get(2).selfNode();
        cluster.node(2).terminate();
        cluster.node(2).getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        cluster.nodes.remove(2);
        for (int i = 0; i < 2; i++) {
            ReplicaSharding s = shardings.get(i);
            await(() -> s.directory().ready("m", "v1").stream().map(ReplicaStatus::node).noneMatch(leaving::equals),
                    "the leaving node's replica out of node " + i + "'s directory");
        }
        var outcome = generate(replicasSeenBy(0), "after", 4).get(30, TimeUnit.SECONDS);
        assertInstanceOf(GenerationEvent.Finished.class, outcome.getValue());
    }

    /** A completion to the context's end, past end-of-text. */
    private static final SamplingParams LONG = SamplingParams.builder().temperature(0f).maxTokens(120).ignoreEos(true).build();

    /** The node index whose replica serves a request routed to node (host:port). */
    private int indexOf(String node) {
        for (int i = 0; i < shardings.size(); i++) if (shardings.get(i).selfNode().equals(node)) return i;
        throw new AssertionError("no node " + node);
    }

    /**
     * Streams a long greedy completion through a gateway whose own replica serves it, and shuts that replica
     * down from the sink at its first token (on the loop's thread: the loop ends after that step, so the cut
     * is mid-stream on any machine); completes with the text delivered and the terminal event.
     */
    private CompletableFuture<Map.Entry<String, GenerationEvent>> streamAndShutDownItsReplica(String id) {
        int[] prompt = tokenizer.encode("Once upon a time", true);
        ReplicaClient r = null;
        int gateway = -1;
        for (int attempt = 0; r == null && attempt < 100; attempt++) {
            for (int g = 0; g < shardings.size() && r == null; g++) {
                if (loops.get(g).draining()) continue;
                ReplicaClient picked = replicasSeenBy(g).pick(prompt);
                if (picked != null && picked.node().equals(shardings.get(g).selfNode())) {
                    r = picked;
                    gateway = g;
                }
            }
        }
        assertNotNull(r, "a gateway picked its own replica");
        StepLoop serving = loops.get(gateway);
        StringBuilder text = new StringBuilder();
        CompletableFuture<Map.Entry<String, GenerationEvent>> done = new CompletableFuture<>();
        int[] events = new int[1];
        r.submit(new GenerationRequest(id, prompt, LONG, 0), e -> {
            if (e instanceof GenerationEvent.Tokens t) {
                text.append(t.text());
                if (events[0]++ == 0) serving.close();
            } else {
                done.complete(Map.entry(text.toString(), e));
            }
        });
        return done;
    }

    @Test
    void aReplicaShutDownMidStreamIsContinuedElsewhereAndWithNoReplicaLeftTheRequestFailsWithWhatItSent() throws Exception {
        for (ReplicaSharding s : shardings) await(() -> s.directory().ready("m", "v1").size() == 3, "3 replicas in every directory");
        var whole = new java.util.concurrent.atomic.AtomicReference<String>();
        {
            int[] prompt = tokenizer.encode("Once upon a time", true);
            StringBuilder text = new StringBuilder();
            CompletableFuture<GenerationEvent> end = new CompletableFuture<>();
            replicasSeenBy(0).pick(prompt).submit(new GenerationRequest("whole", prompt, LONG, 0), e -> {
                if (e instanceof GenerationEvent.Tokens t) text.append(t.text());
                else end.complete(e);
            });
            GenerationEvent.Finished f = assertInstanceOf(GenerationEvent.Finished.class, end.get(60, TimeUnit.SECONDS));
            assertEquals(120, f.completionTokens(), "a long completion: " + f);
            whole.set(text.toString());
        }
        // Its replica shuts down after the first token: the stream goes on elsewhere, the same text.
        long continuedBefore = shardings.get(0).failover().counters().continued.get();
        var continued = streamAndShutDownItsReplica("moved").get(60, TimeUnit.SECONDS);
        assertInstanceOf(GenerationEvent.Finished.class, continued.getValue(), continued::toString);
        assertEquals(whole.get(), continued.getKey());
        assertEquals(continuedBefore + 1, shardings.get(0).failover().counters().continued.get(), "it was continued, not finished first");
        // ... and counted for its model version (troupe_requests_moved_total{model,version,how}).
        var moves = shardings.get(0).failover().counters().byVersion().get(new dev.troupe.sharding.Failover.Counters.Version("m", "v1"));
        assertEquals(continuedBefore + 1, moves.continued().get(), "every move here is of m v1");
        // Now a single replica is left (the one shut down above, and another one, are gone): nowhere to go.
        for (int i = 0; i < 3; i++) {
            if (loops.get(i).draining()) continue;
            loops.get(i).close();
            break;
        }
        await(() -> shardings.get(0).directory().ready("m", "v1").size() == 1, "one replica left");
        for (int i = 0; i < 3; i++) {
            int g = i;
            if (!loops.get(g).draining()) await(() -> shardings.get(g).directory().ready("m", "v1").size() == 1, "one replica left for gateway " + g);
        }
        var lost = streamAndShutDownItsReplica("stranded").get(60, TimeUnit.SECONDS);
        GenerationEvent.Failed failed = assertInstanceOf(GenerationEvent.Failed.class, lost.getValue(), lost::toString);
        assertEquals(GenerationEvent.FailureKind.SHUTTING_DOWN, failed.kind());
        assertTrue(failed.completionTokens() > 0, "counts what the client got: " + failed);
        assertTrue(whole.get().startsWith(lost.getKey()), "what it got is the start of the completion");
    }
}
