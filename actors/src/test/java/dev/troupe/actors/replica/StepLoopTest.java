package dev.troupe.actors.replica;

import dev.troupe.actors.replica.GenerationEvent.FailureKind;
import dev.troupe.actors.replica.GenerationEvent.FinishReason;
import dev.troupe.engine.EngineOptions;
import dev.troupe.engine.Generator;
import dev.troupe.engine.LlamaModel;
import dev.troupe.engine.sampling.SamplingParams;
import dev.troupe.engine.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.*;

@Timeout(value = 120, unit = TimeUnit.SECONDS)
class StepLoopTest {
    private static final Duration IDLE = Duration.ofMillis(20);

    private LlamaModel model;
    private Tokenizer tokenizer;
    private StepLoop loop;
    private final List<RecordingSink> sinks = new ArrayList<>();

    @AfterEach
    void tearDown() throws Exception {
        if (loop != null) loop.close();
        for (RecordingSink s : sinks) s.assertWellFormed(); // every accepted request: exactly one terminal event
        if (model != null) model.close();
    }

    private void load(int kvCacheTokens) throws Exception {
        EngineOptions o = EngineOptions.defaults().withThreads(1).withKvCacheTokens(kvCacheTokens);
        model = LlamaModel.load(TestModels.require(TestModels.STORIES), o);
        tokenizer = Tokenizer.fromGguf(model.file());
    }

    private StepLoop newLoop(int maxNumSeqs, int maxBatchedTokens, int maxQueued) {
        loop = new StepLoop(model, tokenizer, new StepLoop.Config(maxNumSeqs, maxBatchedTokens, maxQueued, IDLE));
        return loop;
    }

    private int[] encode(String text) {
        return tokenizer.encode(text, true);
    }

    private RecordingSink submit(String id, int[] prompt, SamplingParams p) {
        return submit(id, prompt, p, 0);
    }

    private RecordingSink submit(String id, int[] prompt, SamplingParams p, long deadline) {
        RecordingSink s = new RecordingSink(id);
        assertTrue(loop.submit(new GenerationRequest(id, prompt, p, deadline), s), "accepted " + id);
        sinks.add(s);
        return s;
    }

    private static void waitFor(String what, BooleanSupplier cond) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > end) fail("timed out waiting for " + what);
            Thread.sleep(5);
        }
    }

    /** What Generator alone produces (run before the loop starts: only one thread may use the model). */
    private Generator.Result alone(int[] prompt, SamplingParams p) {
        return new Generator(model, tokenizer).generate(prompt, p, null);
    }

    private static void assertSame(Generator.Result expected, RecordingSink got, String what) {
        GenerationEvent.Finished f = got.finished();
        assertEquals(expected.text(), got.text(), what + ": text");
        assertEquals(expected.finishReason().name(), f.reason().name(), what + ": finish reason");
        assertEquals(expected.completionTokens(), f.completionTokens(), what + ": completion tokens");
        assertEquals(expected.promptTokens(), f.promptTokens(), what + ": prompt tokens");
    }

    // ------------------------------------------------------------------ exactness

    @Test
    void referencePromptsSubmittedTogetherGiveTheReferenceCompletions() throws Exception {
        load(0);
        List<TestModels.Reference> refs = TestModels.greedyReferences();
        assertEquals(4, refs.size());
        List<Generator.Result> expected = new ArrayList<>();
        for (TestModels.Reference r : refs) {
            Generator.Result g = alone(encode(r.prompt()), SamplingParams.greedy(r.maxTokens()));
            assertEquals(r.completion(), g.text(), "Generator agrees with the reference file");
            expected.add(g);
        }
        newLoop(8, 64, 16).start();
        List<RecordingSink> got = new ArrayList<>();
        for (int i = 0; i < refs.size(); i++) {
            got.add(submit("ref" + i, encode(refs.get(i).prompt()), SamplingParams.greedy(refs.get(i).maxTokens())));
        }
        for (int i = 0; i < refs.size(); i++) {
            got.get(i).finished();
            assertEquals(refs.get(i).completion(), got.get(i).text(), "reference " + i);
            assertSame(expected.get(i), got.get(i), "reference " + i);
        }
        waitFor("blocks back", () -> loop.stats().kvBlocksUsed() == 0);
        StepLoop.Stats st = loop.stats();
        assertTrue(st.steps() > 0);
        assertEquals(refs.stream().mapToInt(r -> encode(r.prompt()).length).sum(), st.promptTokens());
    }

    private static final String[] OPENINGS = {
            "Once upon a time", "Lily and Tom", "The little dog", "One day, a big bear", "Sam had a red ball",
            "In the park", "The sun was hot", "Mom said", "Tim wanted to play", "A bird sat on a tree",
            "There was a girl named Sue", "The cat was sad", "Ben and his dad went to the shop", "It was a rainy day",
            "The boy saw a car", "Anna liked to sing",
    };

    private static final String LONG = " Once upon a time, there was a little girl named Lily. She loved to play outside"
            + " in the park with her friend Tom. One day, they saw a big red ball under a tree.";

    /** 32 prompts of different lengths (some need several 32-token chunks) and max tokens. */
    private List<int[]> mixedPrompts() {
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            String text = OPENINGS[i % OPENINGS.length];
            if (i % 4 == 3) text = text + "." + LONG;                 // ~45 tokens
            if (i % 8 == 7) text = text + LONG;                       // ~80 tokens
            prompts.add(encode(text));
        }
        return prompts;
    }

    private static SamplingParams mixedParams(int i) {
        return SamplingParams.greedy(5 + (i * 37) % 90);
    }

    @Test
    void thirtyTwoConcurrentRequestsEachGetExactlyWhatTheyGetAlone() throws Exception {
        load(0);
        List<int[]> prompts = mixedPrompts();
        assertTrue(prompts.stream().anyMatch(p -> p.length > 64), "some prompts need several chunks");
        List<Generator.Result> expected = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) expected.add(alone(prompts.get(i), mixedParams(i)));
        newLoop(16, 32, 64).start();
        List<RecordingSink> got = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) got.add(submit("r" + i, prompts.get(i), mixedParams(i)));
        for (int i = 0; i < prompts.size(); i++) assertSame(expected.get(i), got.get(i), "request " + i);
        waitFor("blocks back", () -> loop.stats().kvBlocksUsed() == 0);
        assertEquals(0, loop.stats().running());
        assertEquals(0, loop.stats().waiting());
    }

    @Test
    void aSmallKvPoolForcesPreemptionsAndOutputsStayExact() throws Exception {
        load(256); // 16 blocks of 16 tokens: about two full contexts for 24 requests
        List<int[]> prompts = mixedPrompts().subList(0, 24);
        List<SamplingParams> params = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            params.add(SamplingParams.builder().temperature(0f).maxTokens(40 + i % 3 * 20).ignoreEos(i % 2 == 0).build());
        }
        List<Generator.Result> expected = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) expected.add(alone(prompts.get(i), params.get(i)));
        newLoop(16, 32, 64).start();
        List<RecordingSink> got = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) got.add(submit("p" + i, prompts.get(i), params.get(i)));
        for (int i = 0; i < prompts.size(); i++) assertSame(expected.get(i), got.get(i), "request " + i);
        assertTrue(loop.stats().preemptions() > 0, "the pool was too small for all at once: " + loop.stats());
        waitFor("blocks back", () -> loop.stats().kvBlocksUsed() == 0);
    }

    @Test
    void seededSamplingIsTheSameInTheBatchAsAlone() throws Exception {
        load(256);
        List<int[]> prompts = mixedPrompts().subList(0, 12);
        List<SamplingParams> params = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            params.add(SamplingParams.builder().temperature(0.9f).topP(0.95f).seed(1000L + i).maxTokens(60)
                    .repetitionPenalty(1.1f).build());
        }
        List<Generator.Result> expected = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) expected.add(alone(prompts.get(i), params.get(i)));
        newLoop(8, 32, 64).start();
        List<RecordingSink> got = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) got.add(submit("s" + i, prompts.get(i), params.get(i)));
        for (int i = 0; i < prompts.size(); i++) assertSame(expected.get(i), got.get(i), "request " + i);
    }

    // ------------------------------------------------------------------ finishing

    @Test
    void stopStringsEndWithTheTextBeforeThem() throws Exception {
        load(0);
        int[] prompt = encode("Once upon a time");
        SamplingParams p = SamplingParams.builder().temperature(0f).maxTokens(80).stop("Lily", "zzz").build();
        Generator.Result expected = alone(prompt, p);
        assertEquals(", there was a little girl named ", expected.text());
        SamplingParams multi = SamplingParams.builder().temperature(0f).maxTokens(80).stop("park. One").build();
        Generator.Result expectedMulti = alone(prompt, multi);
        newLoop(4, 64, 16).start();
        RecordingSink s = submit("stop", prompt, p);
        RecordingSink m = submit("stop-multi", prompt, multi);
        assertSame(expected, s, "stop");
        assertEquals(FinishReason.STOP, s.finished().reason());
        assertSame(expectedMulti, m, "multi-token stop");
        assertFalse(m.text().contains("park. One"));
    }

    @Test
    void aJsonSchemaConstrainsTheCompletionBesideFreeRequests() throws Exception {
        load(0);
        int[] prompt = encode("Once upon a time");
        String schema = "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":10},"
                + "\"age\":{\"type\":\"integer\"},\"kind\":{\"enum\":[\"cat\",\"dog\"]}},\"required\":[\"name\",\"age\",\"kind\"]}";
        SamplingParams free = SamplingParams.greedy(40);
        Generator.Result expectedFree = alone(prompt, free);
        newLoop(4, 64, 16).start();
        RecordingSink json = submit("json", prompt, SamplingParams.builder().temperature(0f).maxTokens(120).jsonSchema(schema).build());
        RecordingSink seeded = submit("json-seeded", prompt,
                SamplingParams.builder().temperature(1f).seed(3L).maxTokens(120).jsonSchema(schema).build());
        RecordingSink object = submit("object", prompt,
                SamplingParams.builder().temperature(0.8f).seed(5L).maxTokens(200).jsonSchema("{\"type\":\"object\"}").build());
        RecordingSink plain = submit("free", prompt, free);
        assertSame(expectedFree, plain, "an unconstrained request beside constrained ones");
        com.fasterxml.jackson.databind.ObjectMapper mapper = new com.fasterxml.jackson.databind.ObjectMapper();
        for (RecordingSink s : List.of(json, seeded)) {
            assertEquals(FinishReason.STOP, s.finished().reason(), s.text());
            var v = mapper.readTree(s.text());
            assertTrue(v.get("name").isTextual() && v.get("name").textValue().length() <= 10, s.text());
            assertTrue(v.get("age").isIntegralNumber(), s.text());
            assertTrue(List.of("cat", "dog").contains(v.get("kind").textValue()), s.text());
            assertEquals(3, v.size(), s.text());
        }
        if (object.finished().reason() == FinishReason.STOP) {
            assertTrue(mapper.readTree(object.text()).isObject(), object.text());
        } else {
            assertTrue(object.text().stripLeading().startsWith("{"), object.text());
        }
        RecordingSink bad = submit("bad-schema", prompt, SamplingParams.builder().maxTokens(5).jsonSchema("{\"type\":\"integer\",\"minimum\":1}").build());
        assertEquals(FailureKind.INVALID, bad.failed().kind());
        assertTrue(bad.failed().message().contains("minimum"), bad.failed().message());
    }

    @Test
    void maxTokensEndsWithLength() throws Exception {
        load(0);
        int[] prompt = encode("Lily and Tom");
        Generator.Result expected = alone(prompt, SamplingParams.greedy(5));
        newLoop(4, 64, 16).start();
        RecordingSink s = submit("len", prompt, SamplingParams.greedy(5));
        assertSame(expected, s, "max tokens");
        assertEquals(FinishReason.LENGTH, s.finished().reason());
        assertEquals(5, s.finished().completionTokens());
        assertEquals(5, s.tokenCount(), "every token id sent");
    }

    @Test
    void theContextEndFinishesWithLengthAndAFullContextPromptIsTooLong() throws Exception {
        load(0);
        int ctx = model.config().contextLength();
        int[] prompt = encode("Once upon a time." + LONG + LONG);
        assertTrue(prompt.length > 64 && prompt.length < ctx, "prompt of " + prompt.length);
        SamplingParams p = SamplingParams.builder().temperature(0f).maxTokens(500).ignoreEos(true).build();
        Generator.Result expected = alone(prompt, p);
        int[] tooLong = new int[ctx];
        Arrays.fill(tooLong, prompt[1]);
        tooLong[0] = prompt[0];
        newLoop(4, 32, 16).start();
        RecordingSink s = submit("ctx", prompt, p);
        RecordingSink t = submit("too-long", tooLong, SamplingParams.greedy(4));
        assertSame(expected, s, "capped at the context");
        assertEquals(FinishReason.LENGTH, s.finished().reason());
        assertEquals(ctx - prompt.length, s.finished().completionTokens());
        assertEquals(FailureKind.TOO_LONG, t.failed().kind());
        assertEquals(0, t.failed().completionTokens());
    }

    /**
     * A sink hears of its request's start (a streaming response begins there) once, when its first step runs: before
     * any event, after the request ahead of it in the queue has ended, and never for a refused request.
     */
    @Test
    void aRequestStartsOnceWhenItsFirstStepRunsAndARefusedOneNever() throws Exception {
        load(0);
        int ctx = model.config().contextLength();
        int[] tooLong = new int[ctx];
        Arrays.fill(tooLong, 5);
        newLoop(1, 32, 16).start();   // one sequence at a time: the second request waits for the first
        RecordingSink first = submit("first", encode("Once upon a time"), SamplingParams.greedy(12));
        RecordingSink second = submit("second", encode("Once upon a time"), SamplingParams.greedy(4));
        RecordingSink refused = submit("refused", tooLong, SamplingParams.greedy(4));
        first.finished();
        second.finished();
        assertEquals(FailureKind.TOO_LONG, refused.failed().kind());
        synchronized (first) {
            assertEquals(1, first.starts);
            assertEquals(0, first.eventsBeforeStart, "started before its first token");
        }
        synchronized (second) {
            assertEquals(1, second.starts);
            assertEquals(0, second.eventsBeforeStart);
        }
        synchronized (refused) {
            assertEquals(0, refused.starts, "a refused request never starts");
        }
        assertTrue(second.firstTokensNanos > first.firstTokensNanos);
    }

    @Test
    void aRequestThatCanNeverFitThePoolIsTooLong() throws Exception {
        load(64); // 4 blocks of 16
        newLoop(4, 32, 16).start();
        RecordingSink big = submit("big", encode("Once upon a time"), SamplingParams.builder().temperature(0f)
                .maxTokens(100).ignoreEos(true).build());
        RecordingSink ok = submit("ok", encode("Once upon a time"), SamplingParams.greedy(20));
        GenerationEvent.Failed f = big.failed();
        assertEquals(FailureKind.TOO_LONG, f.kind());
        assertTrue(f.message().contains("KV"), f.message());
        ok.finished();
    }

    @Test
    void badTokenIdsFailOnlyTheirRequest() throws Exception {
        load(0);
        newLoop(4, 32, 16).start();
        RecordingSink bad = submit("bad", new int[]{1, model.vocabSize() + 5}, SamplingParams.greedy(4));
        RecordingSink ok = submit("ok", encode("Mom said"), SamplingParams.greedy(10));
        assertEquals(FailureKind.INTERNAL, bad.failed().kind());
        ok.finished();
    }

    @Test
    void logprobsComeWithEveryTokenWhenAsked() throws Exception {
        load(0);
        newLoop(4, 32, 16).start();
        RecordingSink s = submit("lp", encode("The little dog"), SamplingParams.builder().temperature(0f).maxTokens(12)
                .topLogprobs(3).build());
        s.finished();
        int n = 0;
        for (GenerationEvent e : s.events()) {
            if (!(e instanceof GenerationEvent.Tokens t)) continue;
            assertEquals(t.tokenIds().length, t.logprobs().size());
            for (int i = 0; i < t.tokenIds().length; i++) {
                GenerationEvent.TokenLogprob lp = t.logprobs().get(i);
                assertEquals(t.tokenIds()[i], lp.token());
                assertEquals(3, lp.topTokens().length);
                assertEquals(lp.token(), lp.topTokens()[0], "greedy picks the most likely");
                assertEquals(lp.logprob(), lp.topLogprobs()[0]);
                assertTrue(lp.topLogprobs()[0] >= lp.topLogprobs()[1] && lp.topLogprobs()[1] >= lp.topLogprobs()[2]);
                assertTrue(lp.logprob() <= 0f);
                assertNotNull(lp.text());
                n++;
            }
        }
        assertEquals(s.tokenCount(), n);
        assertTrue(n > 0);
        RecordingSink plain = submit("plain", encode("The little dog"), SamplingParams.greedy(5));
        plain.finished();
        for (GenerationEvent e : plain.events()) {
            if (e instanceof GenerationEvent.Tokens t) assertTrue(t.logprobs().isEmpty());
        }
    }

    // ------------------------------------------------------------------ cancel, deadline, queue, drain, close

    @Test
    void cancelMidGenerationFailsOnceAndFreesTheBlocks() throws Exception {
        load(0);
        newLoop(4, 32, 16).start();
        SamplingParams endless = SamplingParams.builder().temperature(0f).maxTokens(10_000).ignoreEos(true).build();
        // Cancelled from its own sink on the first tokens (so surely mid-generation), twice: still one terminal event.
        RecordingSink s = new RecordingSink("c");
        s.onTokens = () -> {
            loop.cancel("c");
            loop.cancel("c");
        };
        sinks.add(s);
        assertTrue(loop.submit(new GenerationRequest("c", encode("Once upon a time"), endless, 0), s));
        RecordingSink other = submit("other", encode("Tim wanted to play"), SamplingParams.greedy(30));
        GenerationEvent.Failed f = s.failed();
        assertEquals(FailureKind.CANCELLED, f.kind());
        assertTrue(f.completionTokens() >= 1 && f.completionTokens() <= 3, "left at the next iteration: " + f);
        other.finished();
        waitFor("blocks back", () -> loop.stats().kvBlocksUsed() == 0);

        // From another thread, while it runs (a slow sink keeps it running for seconds).
        RecordingSink t = new RecordingSink("t", 20);
        sinks.add(t);
        assertTrue(loop.submit(new GenerationRequest("t", encode("Once upon a time"), endless, 0), t));
        t.firstTokens.get(30, TimeUnit.SECONDS);
        waitFor("blocks in use", () -> loop.stats().kvBlocksUsed() > 0);
        loop.cancel("t");
        assertEquals(FailureKind.CANCELLED, t.failed().kind());
        waitFor("blocks back", () -> loop.stats().kvBlocksUsed() == 0);
        loop.cancel("unknown"); // harmless
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void deadlinesEndRequestsWaitingOrRunning() throws Exception {
        load(0);
        newLoop(4, 32, 16).start();
        SamplingParams endless = SamplingParams.builder().temperature(0f).maxTokens(10_000).ignoreEos(true).build();
        RecordingSink past = submit("past", encode("Mom said"), SamplingParams.greedy(10), System.nanoTime() - 1);
        RecordingSink slow = new RecordingSink("slow", 5);
        sinks.add(slow);
        // ignoreEos with a context of 128: at most ~127 tokens x 5 ms, so a 200 ms deadline ends it first.
        assertTrue(loop.submit(new GenerationRequest("slow", encode("Mom said"), endless,
                System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(200)), slow));
        assertEquals(FailureKind.DEADLINE_EXCEEDED, past.failed().kind());
        GenerationEvent.Failed f = slow.failed();
        assertEquals(FailureKind.DEADLINE_EXCEEDED, f.kind());
        waitFor("blocks back", () -> loop.stats().kvBlocksUsed() == 0);
    }

    @Test
    void aFullQueueRefusesAndClosedRefuses() throws Exception {
        load(0);
        newLoop(4, 32, 2); // not started: nothing leaves the queue
        RecordingSink a = submit("a", encode("Mom said"), SamplingParams.greedy(5));
        RecordingSink b = submit("b", encode("Mom said"), SamplingParams.greedy(5));
        RecordingSink c = new RecordingSink("c");
        assertFalse(loop.submit(new GenerationRequest("c", encode("Mom said"), SamplingParams.greedy(5), 0), c));
        assertEquals(2, loop.stats().waiting());
        loop.start();
        a.finished();
        b.finished();
        assertTrue(c.events().isEmpty(), "a refused request hears nothing");
        waitFor("queue empty", () -> loop.stats().waiting() == 0);
        RecordingSink d = submit("d", encode("Mom said"), SamplingParams.greedy(5));
        d.finished();
        loop.close();
        assertFalse(loop.submit(new GenerationRequest("e", encode("Mom said"), SamplingParams.greedy(5), 0), new RecordingSink("e")));
        ExecutionException closed = assertThrows(ExecutionException.class, () -> loop.embed("e", new int[][] {encode("Mom said")}).get(10, TimeUnit.SECONDS));
        assertEquals(FailureKind.SHUTTING_DOWN, ((ReplicaException) closed.getCause()).kind());
    }

    @Test
    void closeEndsEverythingInFlightWithShuttingDown() throws Exception {
        load(0);
        newLoop(2, 32, 16);
        SamplingParams endless = SamplingParams.builder().temperature(0f).maxTokens(10_000).ignoreEos(true).build();
        List<RecordingSink> got = new ArrayList<>();
        for (int i = 0; i < 5; i++) got.add(submit("x" + i, encode(OPENINGS[i]), endless));
        loop.close(); // never started: the queued requests end here
        for (RecordingSink s : got) assertEquals(FailureKind.SHUTTING_DOWN, s.failed().kind());

        newLoop(2, 32, 16).start();
        RecordingSink slow = new RecordingSink("y", 20);
        sinks.add(slow);
        assertTrue(loop.submit(new GenerationRequest("y", encode("Mom said"), endless, 0), slow));
        RecordingSink queuedOne = submit("z", encode("Mom said"), endless);
        slow.firstTokens.get(30, TimeUnit.SECONDS);
        loop.close();
        GenerationEvent.Failed f = slow.failed();
        assertEquals(FailureKind.SHUTTING_DOWN, f.kind());
        assertTrue(queuedOne.await() instanceof GenerationEvent.Failed);
        assertEquals(0, model.kvCache().usedBlocks());
    }

    @Test
    void drainLetsShortWorkFinishAndCutsTheRestAtTheGrace() throws Exception {
        load(0);
        newLoop(4, 32, 16).start();
        List<RecordingSink> shortOnes = new ArrayList<>();
        for (int i = 0; i < 3; i++) shortOnes.add(submit("short" + i, encode(OPENINGS[i]), SamplingParams.greedy(20)));
        CompletableFuture<Void> drained = loop.drain(Duration.ofSeconds(30));
        assertFalse(loop.submit(new GenerationRequest("late", encode("Mom said"), SamplingParams.greedy(5), 0), new RecordingSink("late")));
        drained.get(60, TimeUnit.SECONDS);
        for (RecordingSink s : shortOnes) s.finished();
        loop.close();

        newLoop(4, 32, 16).start();
        SamplingParams endless = SamplingParams.builder().temperature(0f).maxTokens(10_000).ignoreEos(true).build();
        List<RecordingSink> slowOnes = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            RecordingSink s = new RecordingSink("slow" + i, 10);
            sinks.add(s);
            slowOnes.add(s);
            assertTrue(loop.submit(new GenerationRequest("slow" + i, encode(OPENINGS[i]), endless, 0), s));
        }
        slowOnes.get(0).firstTokens.get(30, TimeUnit.SECONDS);
        loop.drain(Duration.ofMillis(50)).get(60, TimeUnit.SECONDS);
        for (RecordingSink s : slowOnes) {
            GenerationEvent e = s.await();
            // Within 50 ms they may even have reached the context end; otherwise the grace cut them.
            if (e instanceof GenerationEvent.Failed f) assertEquals(FailureKind.SHUTTING_DOWN, f.kind());
        }
        assertTrue(slowOnes.stream().anyMatch(s -> s.await() instanceof GenerationEvent.Failed));
        assertEquals(0, loop.stats().kvBlocksUsed());
    }

    @Test
    void aThrowingSinkDoesNotHurtTheLoopOrOthers() throws Exception {
        load(0);
        int[] prompt = encode("The cat was sad");
        Generator.Result expected = alone(prompt, SamplingParams.greedy(30));
        newLoop(4, 32, 16).start();
        GenerationSink bad = e -> { throw new IllegalStateException("boom"); };
        assertTrue(loop.submit(new GenerationRequest("bad", encode("Mom said"), SamplingParams.greedy(30), 0), bad));
        RecordingSink good = submit("good", prompt, SamplingParams.greedy(30));
        assertSame(expected, good, "unaffected");
        waitFor("blocks back", () -> loop.stats().kvBlocksUsed() == 0 && loop.stats().running() == 0);
        RecordingSink after = submit("after", prompt, SamplingParams.greedy(30));
        assertSame(expected, after, "the loop lives on");
    }

    @Test
    void duplicateLiveIdsAreRefusedWithoutDisturbingTheFirst() throws Exception {
        load(0);
        newLoop(4, 32, 16).start();
        SamplingParams p = SamplingParams.builder().temperature(0f).maxTokens(60).ignoreEos(true).build();
        RecordingSink first = new RecordingSink("same", 10); // slow: still live when the second arrives
        sinks.add(first);
        assertTrue(loop.submit(new GenerationRequest("same", encode("Mom said"), p, 0), first));
        RecordingSink second = submit("same", encode("Mom said"), p);
        GenerationEvent.Finished f = first.finished();
        assertEquals(60, f.completionTokens());
        assertEquals(FailureKind.INTERNAL, second.failed().kind());
    }

    @Test
    void statsCountEveryAcceptedRequestUntilItEnds() throws Exception {
        load(0);
        newLoop(16, 64, 1024).start();
        // Several bursts onto an idle loop: each time the loop takes the burst from its inbox and runs a long
        // prefill step; a reader must see the burst as waiting or running all the while, never nowhere.
        for (int burst = 0; burst < 5; burst++) {
            Thread.sleep(30); // idle, parked
            List<RecordingSink> mine = new ArrayList<>();
            for (int i = 0; i < 100; i++) mine.add(submit("s" + burst + "-" + i, encode("Once upon a time"), SamplingParams.greedy(4)));
            int ended;
            do {
                StepLoop.Stats st = loop.stats(); // before counting the ended ones: one ending between is then seen
                ended = 0;
                for (RecordingSink s : mine) if (s.terminal.isDone()) ended++;
                assertTrue(st.waiting() + st.running() + ended >= mine.size(), "burst " + burst + ": " + st.waiting()
                        + " waiting + " + st.running() + " running + " + ended + " ended < " + mine.size() + " accepted");
            } while (ended < mine.size());
        }
    }

    @Test
    void heartbeatAdvancesWhileIdle() throws Exception {
        load(0);
        newLoop(4, 32, 16).start();
        long h0 = loop.lastHeartbeatNanos();
        waitFor("heartbeat", () -> loop.lastHeartbeatNanos() - h0 > 0);
        long h1 = loop.lastHeartbeatNanos();
        waitFor("another heartbeat", () -> loop.lastHeartbeatNanos() - h1 > 0);
        assertEquals(0, loop.stats().running());
        assertTrue(loop.stats().kvBlocksFree() > 0);
    }

    // ------------------------------------------------------------------ embeddings

    @Test
    void embeddingsAreUnitLengthDeterministicAndDistinct() throws Exception {
        load(0);
        newLoop(4, 32, 16).start();
        // Generation runs alongside.
        RecordingSink gen = submit("g", encode("Once upon a time"), SamplingParams.greedy(40));
        float[][] ab = loop.embed("e1", new int[][] {encode("The cat sat on the mat." + LONG), encode("A dog ran in the park")})
                .get(30, TimeUnit.SECONDS);
        float[] a = ab[0];
        float[] b = ab[1];
        float[] a2 = loop.embed("e2", new int[][] {encode("The cat sat on the mat." + LONG)}).get(30, TimeUnit.SECONDS)[0];
        assertEquals(model.config().dim(), a.length);
        double n = 0;
        for (float v : a) n += v * v;
        assertEquals(1.0, Math.sqrt(n), 1e-4);
        assertArrayEquals(a, a2, "deterministic");
        assertFalse(Arrays.equals(a, b), "different texts differ");
        double dot = 0;
        for (int i = 0; i < a.length; i++) dot += a[i] * b[i];
        assertTrue(dot < 0.9999, "not the same direction: " + dot);
        gen.finished();

        int[] tooLong = new int[model.config().contextLength() + 1];
        Arrays.fill(tooLong, 1);
        ExecutionException e = assertThrows(ExecutionException.class, () -> loop.embed("e3", new int[][] {tooLong}).get(30, TimeUnit.SECONDS));
        assertTrue(e.getCause().getMessage().contains("context"), e.getCause().getMessage());
        assertEquals(FailureKind.TOO_LONG, ((ReplicaException) e.getCause()).kind());
        waitFor("blocks back", () -> loop.stats().kvBlocksUsed() == 0);
    }

    /** Many long inputs: enough chunks of the step budget that a generation beside them ends well before them. */
    private int[][] manyLongInputs(int count) {
        int[][] inputs = new int[count][];
        for (int i = 0; i < count; i++) inputs[i] = encode(OPENINGS[i % OPENINGS.length] + LONG);
        return inputs;
    }

    @Test
    void aLargeEmbeddingRequestRunsInStepSizedChunksBetweenGenerationSteps() throws Exception {
        load(0);
        newLoop(4, 16, 16).start();
        // Submitted first, a request of many chunks; the generation behind it still goes on step by step.
        CompletableFuture<float[][]> big = loop.embed("big", manyLongInputs(24));
        RecordingSink gen = submit("g", encode("Once upon a time"), SamplingParams.greedy(30));
        gen.finished();
        assertFalse(big.isDone(), "the generation finished while the embeddings were still running");
        float[][] vectors = big.get(60, TimeUnit.SECONDS);
        assertEquals(24, vectors.length);
        float[] alone = loop.embed("one", new int[][] {encode(OPENINGS[0] + LONG)}).get(30, TimeUnit.SECONDS)[0];
        assertArrayEquals(alone, vectors[0], "chunking does not change the vector");
        waitFor("blocks back", () -> loop.stats().kvBlocksUsed() == 0);
    }

    @Test
    void cancellingAnEmbeddingEndsItAndFreesItsBlocks() throws Exception {
        load(0);
        newLoop(4, 8, 16).start();
        CompletableFuture<float[][]> big = loop.embed("big", manyLongInputs(40));
        waitFor("under way", () -> loop.stats().kvBlocksUsed() > 0);
        loop.cancel("big");
        ExecutionException e = assertThrows(ExecutionException.class, () -> big.get(10, TimeUnit.SECONDS));
        assertEquals(FailureKind.CANCELLED, ((ReplicaException) e.getCause()).kind());
        waitFor("blocks back", () -> loop.stats().kvBlocksUsed() == 0);
        // A caller's timeout completes the future: the loop drops the request the same way.
        CompletableFuture<float[][]> timed = loop.embed("timed", manyLongInputs(40)).orTimeout(50, TimeUnit.MILLISECONDS);
        assertThrows(ExecutionException.class, () -> timed.get(10, TimeUnit.SECONDS));
        waitFor("blocks back after the timeout", () -> loop.stats().kvBlocksUsed() == 0);
        RecordingSink after = submit("after", encode("Lily and Tom"), SamplingParams.greedy(5));
        after.finished();
    }

    @Test
    void embeddingsCountAgainstTheQueueBound() throws Exception {
        load(0);
        newLoop(4, 32, 2); // not started: everything stays queued
        CompletableFuture<float[][]> first = loop.embed("a", new int[][] {encode("a cat")});
        submit("b", encode("Mom said"), SamplingParams.greedy(3));
        ExecutionException full = assertThrows(ExecutionException.class,
                () -> loop.embed("c", new int[][] {encode("a dog")}).get(10, TimeUnit.SECONDS));
        assertEquals(FailureKind.QUEUE_FULL, ((ReplicaException) full.getCause()).kind());
        assertFalse(loop.submit(new GenerationRequest("d", encode("Mom said"), SamplingParams.greedy(3), 0), new RecordingSink("d")),
                "the queued embedding holds a place in the queue");
        loop.start();
        assertEquals(1, first.get(30, TimeUnit.SECONDS).length);
    }

    @Test
    void histogramsTimeFinishedRequestsAndCountEveryStep() throws Exception {
        load(4096);
        newLoop(4, 64, 8).start();
        RecordingSink a = submit("h-a", encode("Once upon a time"), SamplingParams.greedy(5));
        RecordingSink b = submit("h-b", encode("The little dog"), SamplingParams.greedy(3));
        GenerationEvent.Finished fa = (GenerationEvent.Finished) a.await();
        GenerationEvent.Finished fb = (GenerationEvent.Finished) b.await();
        assertTrue(fa.queueNanos() >= 0 && fb.queueNanos() >= 0 && fa.queueNanos() < TimeUnit.SECONDS.toNanos(10));
        StepLoop.Histograms h = loop.histograms();
        for (LoopHistogram x : List.of(h.queueTime(), h.prefillTime(), h.decodeTime())) {
            assertEquals(2, x.snapshot().count());
            assertTrue(x.snapshot().sum() >= 0);
        }
        assertTrue(h.decodeTime().snapshot().sum() > 0);
        waitFor("stats published", () -> loop.stats().steps() == h.batchSize().snapshot().count());
        LoopHistogram.Snapshot sizes = h.batchSize().snapshot();
        // Both prompts prefill in the first step (two sequences); then the shorter one finishes first.
        assertTrue(sizes.sum() >= sizes.count() && sizes.sum() <= 2 * sizes.count(), sizes.toString());
        assertEquals(sizes.count(), h.stepTokens().snapshot().count());
        // b finds a's first token (both start with BOS) in the prefix cache when it is admitted after a's first step
        long found = loop.stats().prefixHitTokens();
        assertTrue(found <= 1, found + " prompt tokens found");
        assertTrue(h.stepTokens().snapshot().sum() >= encode("Once upon a time").length + encode("The little dog").length + 6 - found);
    }

    @Test
    void observingAHistogramAllocatesNothing() {
        LoopHistogram h = new LoopHistogram(1, 2, 4, 8);
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long least = Long.MAX_VALUE;
        for (int round = 0; round < 5; round++) {
            long before = mx.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < 100_000; i++) h.observe(i & 15);
            least = Math.min(least, mx.getCurrentThreadAllocatedBytes() - before);
        }
        assertEquals(0, least, "bytes allocated by 100,000 observations");
        LoopHistogram.Snapshot s = h.snapshot();
        assertEquals(500_000, s.count());
        assertArrayEquals(new long[] {62_500, 31_250, 62_500, 125_000, 218_750}, s.bucketCounts());
    }
}
