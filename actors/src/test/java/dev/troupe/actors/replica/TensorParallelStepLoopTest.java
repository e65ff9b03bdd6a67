package dev.troupe.actors.replica;

import dev.troupe.engine.EngineOptions;
import dev.troupe.engine.sampling.SamplingParams;
import dev.troupe.engine.tokenizer.Tokenizer;
import dev.troupe.engine.tp.LocalTensorGroup;
import dev.troupe.engine.tp.TensorTransport;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** A step loop over the leader of a split model: continuous batching as usual, and a lost slice loses the replica. */
class TensorParallelStepLoopTest {

    /**
     * Greedy rows (only their argmax crosses between the slices) batched with rows that need every logit
     * (penalties, logprobs, sampling): each completion as on the whole model.
     */
    @Test
    void greedyAndSampledRequestsBatchedOnASplitModelCompleteAsOnTheWholeModel() throws Exception {
        List<TestModels.Reference> refs = TestModels.greedyReferences();
        List<SamplingParams> params = List.of(
                SamplingParams.greedy(refs.get(0).maxTokens()),
                SamplingParams.builder().temperature(0f).repetitionPenalty(1.3f).maxTokens(40).build(),
                SamplingParams.builder().temperature(0f).topLogprobs(3).maxTokens(40).build(),
                SamplingParams.builder().temperature(0.9f).seed(7L).maxTokens(40).build(),
                SamplingParams.greedy(refs.get(1).maxTokens()));
        EngineOptions o = EngineOptions.defaults().withThreads(2).withKvCacheTokens(0).withMaxSequences(8);
        List<String> whole;
        try (dev.troupe.engine.LlamaModel m = dev.troupe.engine.LlamaModel.load(TestModels.require(TestModels.STORIES), o)) {
            whole = completions(m, refs, params);
        }
        try (TensorTransport transport = TensorTransport.start(Files.createTempDirectory("troupe-tp-loop"), TimeUnit.SECONDS.toNanos(2));
             LocalTensorGroup group = LocalTensorGroup.load(TestModels.require(TestModels.STORIES), o, 2, transport, 30,
                     TimeUnit.SECONDS.toNanos(2))) {
            assertEquals(whole, completions(group.leader(), refs, params));
            // Again, the cache warm: each prompt finds all but its last token, mostly as copies of the start of a
            // block, which the follower makes of its own share as the leader's journal tells it.
            long hits = group.leader().kvCache().prefixHitTokens();
            assertEquals(whole, completions(group.leader(), refs, params), "with the prefix cache warm");
            assertTrue(group.leader().kvCache().prefixHitTokens() > hits, "the second run found its prompts");
        }
        assertEquals(refs.get(0).completion(), whole.get(0));
        assertEquals(refs.get(1).completion(), whole.get(4));
    }

    /** The completions of the requests submitted at once: request i has reference i's prompt (the last, reference 1's). */
    private static List<String> completions(dev.troupe.engine.LlamaModel m, List<TestModels.Reference> refs, List<SamplingParams> params)
            throws Exception {
        Tokenizer tokenizer = Tokenizer.fromGguf(m.file());
        StepLoop loop = new StepLoop(m, tokenizer, new StepLoop.Config(8, 64, 16, java.time.Duration.ofMillis(1)));
        loop.start();
        try {
            List<RecordingSink> sinks = new ArrayList<>();
            for (int i = 0; i < params.size(); i++) {
                RecordingSink s = new RecordingSink("r" + i);
                String prompt = refs.get(i < refs.size() ? i : 1).prompt();
                assertTrue(loop.submit(new GenerationRequest(s.id, tokenizer.encode(prompt, true), params.get(i), 0), s));
                sinks.add(s);
            }
            List<String> out = new ArrayList<>();
            for (RecordingSink s : sinks) {
                s.finished();
                s.assertWellFormed();
                out.add(s.text());
            }
            return out;
        } finally {
            loop.close();
        }
    }

    @Test
    void batchedReferencesThenALostSliceFailsRequestsAsReplicaLost() throws Exception {
        List<TestModels.Reference> refs = TestModels.greedyReferences();
        EngineOptions o = EngineOptions.defaults().withThreads(2).withKvCacheTokens(0).withMaxSequences(8);
        try (TensorTransport transport = TensorTransport.start(Files.createTempDirectory("troupe-tp-loop"), TimeUnit.SECONDS.toNanos(2));
             LocalTensorGroup group = LocalTensorGroup.load(TestModels.require(TestModels.STORIES), o, 2, transport, 10,
                     TimeUnit.SECONDS.toNanos(2))) {
            Tokenizer tokenizer = Tokenizer.fromGguf(group.leader().file());
            StepLoop loop = new StepLoop(group.leader(), tokenizer, new StepLoop.Config(8, 64, 16, java.time.Duration.ofMillis(1)));
            loop.start();
            try {
                List<RecordingSink> sinks = new ArrayList<>();
                for (int i = 0; i < refs.size(); i++) {
                    RecordingSink s = new RecordingSink("ref" + i);
                    assertTrue(loop.submit(new GenerationRequest(s.id, tokenizer.encode(refs.get(i).prompt(), true),
                            SamplingParams.greedy(refs.get(i).maxTokens()), 0), s));
                    sinks.add(s);
                }
                for (int i = 0; i < refs.size(); i++) {
                    sinks.get(i).finished();
                    assertEquals(refs.get(i).completion(), sinks.get(i).text(), "reference " + i + ", batched on 2 slices");
                    sinks.get(i).assertWellFormed();
                }

                group.killFollower(1);
                RecordingSink lost = new RecordingSink("lost");
                assertTrue(loop.submit(new GenerationRequest(lost.id, tokenizer.encode("Once upon a time", true), SamplingParams.greedy(20), 0), lost));
                GenerationEvent end = lost.terminal.get(20, TimeUnit.SECONDS);
                assertInstanceOf(GenerationEvent.Failed.class, end);
                assertEquals(GenerationEvent.FailureKind.REPLICA_LOST, ((GenerationEvent.Failed) end).kind());
                lost.assertWellFormed();
                RecordingSink after = new RecordingSink("after");
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
                while (loop.submit(new GenerationRequest(after.id, new int[] {1, 2}, SamplingParams.greedy(2), 0), after)) {
                    assertTrue(System.nanoTime() < until, "the loop stops taking requests once its group is lost");
                    after.terminal.get(5, TimeUnit.SECONDS);
                    after = new RecordingSink("after");
                    Thread.sleep(50);
                }
            } finally {
                loop.close();
            }
        }
    }
}
