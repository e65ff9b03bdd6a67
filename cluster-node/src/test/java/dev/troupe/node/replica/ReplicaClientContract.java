package dev.troupe.node.replica;

import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.actors.replica.GenerationEvent.FailureKind;
import dev.troupe.actors.replica.GenerationEvent.FinishReason;
import dev.troupe.actors.replica.GenerationRequest;
import dev.troupe.actors.replica.GenerationSink;
import dev.troupe.actors.replica.Replica;
import dev.troupe.actors.replica.ReplicaClient;
import dev.troupe.actors.replica.StepLoop;
import dev.troupe.engine.EngineOptions;
import dev.troupe.engine.LlamaModel;
import dev.troupe.engine.sampling.SamplingParams;
import dev.troupe.engine.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * What every {@link ReplicaClient} promises, whether the replica runs on this node or another: the greedy
 * reference texts, stop strings, logprobs, one terminal event last, cancellation freeing the replica's KV
 * blocks, deadlines, refusals, embeddings, probes and drains. Each implementation runs this same suite.
 */
abstract class ReplicaClientContract {
    static final Path MODEL = locate("stories260K-f32.gguf");
    /** Slow enough (about 1,000 tokens/s on one thread) to act on a request mid-way; stories260K runs 5x faster. */
    static final Path SLOW_MODEL = locate("random15M-q8_0.gguf");
    private static LlamaModel model;
    private static LlamaModel slowModel;
    private static Tokenizer slowTokenizer;
    static Tokenizer tokenizer;
    private StepLoop loop;
    private ReplicaClient client;
    private String testName;
    private final List<Recorder> recorders = new ArrayList<>();

    /** Serves the loop through the implementation under test. */
    abstract ReplicaClient clientFor(StepLoop loop, String name) throws Exception;

    /** The node the client must report. */
    abstract String expectedNode();

    private static Path locate(String name) {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path c = p.resolveSibling("shared").resolve("models").resolve(name);
            if (Files.isRegularFile(c)) return c;
        }
        return null;
    }

    @BeforeEach
    void startLoop(org.junit.jupiter.api.TestInfo info) throws Exception {
        Assumptions.assumeTrue(MODEL != null, "../shared/models/stories260K-f32.gguf not found");
        if (model == null) {
            model = LlamaModel.load(MODEL, EngineOptions.defaults().withThreads(1));
            tokenizer = Tokenizer.fromGguf(model.file());
        }
        testName = info.getTestMethod().orElseThrow().getName();
        loop = new StepLoop(model, tokenizer, new StepLoop.Config(2, 64, 2, Duration.ofMillis(5)));
        loop.start();
        client = clientFor(loop, testName);
    }

    /** This test runs on the slow model instead. */
    private Tokenizer onSlowModel() throws Exception {
        Assumptions.assumeTrue(SLOW_MODEL != null, "../shared/models/random15M-q8_0.gguf not found");
        if (slowModel == null) {
            slowModel = LlamaModel.load(SLOW_MODEL, EngineOptions.defaults().withThreads(1));
            slowTokenizer = Tokenizer.fromGguf(slowModel.file());
        }
        loop.close();
        loop = new StepLoop(slowModel, slowTokenizer, new StepLoop.Config(2, 64, 2, Duration.ofMillis(5)));
        loop.start();
        client = clientFor(loop, testName + "-slow");
        return slowTokenizer;
    }

    @AfterEach
    void stopLoop() {
        if (loop != null) loop.close();
        for (Recorder r : recorders) r.assertWellFormed();
    }

    @AfterAll
    static void closeModel() throws Exception {
        if (model != null) model.close();
        if (slowModel != null) slowModel.close();
        model = null;
        slowModel = null;
    }

    private Recorder submit(String id, String prompt, SamplingParams p, long deadlineNanos) {
        return submit(tokenizer, id, prompt, p, deadlineNanos);
    }

    private Recorder submit(Tokenizer t, String id, String prompt, SamplingParams p, long deadlineNanos) {
        Recorder r = new Recorder(id);
        recorders.add(r);
        client.submit(new GenerationRequest(id, t.encode(prompt, true), p, deadlineNanos), r);
        return r;
    }

    private Recorder submit(String id, String prompt, SamplingParams p) {
        return submit(id, prompt, p, 0);
    }

    @Test
    void greedyRequestsGiveTheReferenceTexts() throws Exception {
        // The shared references (llama2.c's greedy output for stories260K).
        List<String> lines = Files.readAllLines(MODEL.resolveSibling("stories260K-greedy.jsonl"));
        String[][] cases = {{"Once upon a time", ", there was a little girl named Lily. She loved to play outside in the park."},
                {"Zoo", " was a little girl named Lily. She loved to play outside in the park."}};
        for (String[] c : cases) assertTrue(lines.stream().anyMatch(l -> l.contains(c[1].substring(0, 30))), "reference for " + c[0]);
        Recorder a = submit("a", cases[0][0], SamplingParams.greedy(80));
        Recorder b = submit("b", cases[1][0], SamplingParams.greedy(80));
        GenerationEvent.Finished fa = a.finished();
        b.finished();
        assertTrue(a.text().startsWith(cases[0][1]), a.text());
        assertTrue(b.text().startsWith(cases[1][1]), b.text());
        assertEquals(a.tokenCount(), fa.completionTokens());
        assertEquals(tokenizer.encode(cases[0][0], true).length, fa.promptTokens());
        assertEquals(FinishReason.LENGTH, fa.reason());
        assertEquals(80, fa.completionTokens());
    }

    @Test
    void aStopStringEndsTheTextBeforeIt() {
        Recorder r = submit("stop", "Once upon a time", SamplingParams.builder().temperature(0f).maxTokens(80).stop("Lily").build());
        assertEquals(FinishReason.STOP, r.finished().reason());
        assertEquals(", there was a little girl named ", r.text());
    }

    @Test
    void logprobsComeWithEveryToken() {
        Recorder r = submit("lp", "The little dog", SamplingParams.builder().temperature(0f).maxTokens(12).topLogprobs(2).build());
        r.finished();
        int n = 0;
        for (GenerationEvent e : r.events()) {
            if (!(e instanceof GenerationEvent.Tokens t)) continue;
            assertEquals(t.tokenIds().length, t.logprobs().size());
            for (int i = 0; i < t.tokenIds().length; i++) {
                GenerationEvent.TokenLogprob lp = t.logprobs().get(i);
                assertEquals(t.tokenIds()[i], lp.token());
                assertEquals(2, lp.topTokens().length);
                assertEquals(lp.token(), lp.topTokens()[0]);
                assertTrue(lp.logprob() <= 0f);
                n++;
            }
        }
        assertEquals(12, n);
    }

    @Test
    void cancellingFreesTheSequenceAndItsKvBlocks() throws Exception {
        Tokenizer slow = onSlowModel();
        Recorder r = submit(slow, "long", "Once upon a time", SamplingParams.builder().temperature(0f).maxTokens(240).ignoreEos(true).build(), 0);
        r.firstTokens.get(30, TimeUnit.SECONDS);
        // The loop publishes its stats after each step: the first token can come before them.
        long seen = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (loop.stats().kvBlocksUsed() == 0) {
            assertTrue(System.nanoTime() < seen, "the running request holds KV blocks");
            Thread.sleep(1);
        }
        client.cancel("long");
        GenerationEvent.Failed f = r.failed();
        assertEquals(FailureKind.CANCELLED, f.kind());
        assertTrue(f.completionTokens() < 240, "cancelled mid-way: " + f.completionTokens());
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (loop.stats().kvBlocksUsed() != 0 || loop.stats().running() != 0) {
            assertTrue(System.nanoTime() < until, "KV blocks still used: " + loop.stats());
            Thread.sleep(5);
        }
    }

    @Test
    void aDeadlineEndsTheRequest() throws Exception {
        // 240 tokens of the slow model cannot be generated in 20 ms (the replica checks the deadline every step).
        Tokenizer slow = onSlowModel();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(20);
        Recorder r = submit(slow, "late", "Once upon a time", SamplingParams.builder().temperature(0f).maxTokens(240)
                .ignoreEos(true).build(), deadline);
        GenerationEvent.Failed f = r.failed();
        assertEquals(FailureKind.DEADLINE_EXCEEDED, f.kind());
    }

    @Test
    void aFullQueueRefusesWithQueueFull() {
        List<Recorder> rs = new ArrayList<>();
        SamplingParams longRun = SamplingParams.builder().temperature(0f).maxTokens(300).ignoreEos(true).build();
        for (int i = 0; i < 8; i++) rs.add(submit("q" + i, "Once upon a time", longRun));
        long refused = rs.stream().filter(r -> r.await() instanceof GenerationEvent.Failed f && f.kind() == FailureKind.QUEUE_FULL).count();
        // 2 running and 2 queued at most; the rest are refused (submitted faster than 4 x 300 tokens run).
        assertTrue(refused >= 1 && refused <= 6, "refused " + refused);
        for (Recorder r : rs) {
            GenerationEvent e = r.await();
            if (e instanceof GenerationEvent.Failed f) assertEquals(FailureKind.QUEUE_FULL, f.kind());
        }
    }

    @Test
    void embeddingsAreTheReplicasAndFailuresCarryTheReason() throws Exception {
        int[] tokens = tokenizer.encode("a red ball", true);
        int[] other = tokenizer.encode("a dog ran", true);
        float[][] v = client.embed("e1", new int[][] {tokens, other}, Duration.ofSeconds(30)).toCompletableFuture().get(30, TimeUnit.SECONDS);
        float[][] direct = loop.embed("e2", new int[][] {tokens, other}).get(30, TimeUnit.SECONDS);
        assertArrayEquals(direct[0], v[0]);
        assertArrayEquals(direct[1], v[1]);
        CompletableFuture<float[][]> tooLong = client.embed("e3", new int[][] {new int[model.config().contextLength() + 1]},
                Duration.ofSeconds(30)).toCompletableFuture();
        ExecutionExceptionMessage.assertFailsWith(tooLong, "context");
        try {
            tooLong.get();
        } catch (java.util.concurrent.ExecutionException e) {
            assertEquals(FailureKind.TOO_LONG, Replica.failureKind(e), "the kind crosses the wire");
        }
    }

    @Test
    void aProbeSaysAliveAndWhere() throws Exception {
        Replica.ProbeReply p = client.probe(Duration.ofSeconds(10)).toCompletableFuture().get(15, TimeUnit.SECONDS);
        assertFalse(p.draining());
        assertTrue(p.heartbeatAgeMillis() < 5_000, "heartbeat " + p.heartbeatAgeMillis());
        assertNotNull(p.stats());
        assertEquals(expectedNode(), p.node());
        assertEquals(expectedNode(), client.node());
    }

    @Test
    void aDrainLetsRunningRequestsFinishAndRefusesNewOnes() throws Exception {
        Tokenizer slow = onSlowModel();
        Recorder running = submit(slow, "running", "Once upon a time", SamplingParams.builder().temperature(0f).maxTokens(40)
                .ignoreEos(true).build(), 0);
        running.firstTokens.get(30, TimeUnit.SECONDS);
        CompletableFuture<Void> drained = client.drain(Duration.ofSeconds(30)).toCompletableFuture();
        drained.get(40, TimeUnit.SECONDS);
        assertEquals(40, running.finished().completionTokens());
        Recorder late = submit("late", "Once upon a time", SamplingParams.greedy(4));
        assertEquals(FailureKind.SHUTTING_DOWN, late.failed().kind());
        assertTrue(client.probe(Duration.ofSeconds(10)).toCompletableFuture().get(15, TimeUnit.SECONDS).draining());
    }

    /** A request's events, from whichever thread delivers them; checks one terminal event, last, for its id. */
    static final class Recorder implements GenerationSink {
        final String id;
        private final List<GenerationEvent> events = new ArrayList<>();
        final CompletableFuture<GenerationEvent> terminal = new CompletableFuture<>();
        final CompletableFuture<Void> firstTokens = new CompletableFuture<>();
        private int terminals;
        private String wrongId;

        Recorder(String id) {
            this.id = id;
        }

        @Override
        public void onEvent(GenerationEvent e) {
            synchronized (this) {
                if (!e.requestId().equals(id)) wrongId = e.requestId();
                events.add(e);
                if (!(e instanceof GenerationEvent.Tokens)) terminals++;
            }
            if (e instanceof GenerationEvent.Tokens) firstTokens.complete(null);
            else terminal.complete(e);
        }

        GenerationEvent await() {
            try {
                return terminal.get(60, TimeUnit.SECONDS);
            } catch (Exception e) {
                throw new AssertionError("request " + id + " did not end: " + events(), e);
            }
        }

        GenerationEvent.Finished finished() {
            GenerationEvent e = await();
            return assertInstanceOf(GenerationEvent.Finished.class, e, () -> id + " ended with " + e);
        }

        GenerationEvent.Failed failed() {
            GenerationEvent e = await();
            return assertInstanceOf(GenerationEvent.Failed.class, e, () -> id + " ended with " + e);
        }

        synchronized List<GenerationEvent> events() {
            return new ArrayList<>(events);
        }

        synchronized String text() {
            StringBuilder sb = new StringBuilder();
            for (GenerationEvent e : events) if (e instanceof GenerationEvent.Tokens t) sb.append(t.text());
            return sb.toString();
        }

        synchronized int tokenCount() {
            int n = 0;
            for (GenerationEvent e : events) if (e instanceof GenerationEvent.Tokens t) n += t.tokenIds().length;
            return n;
        }

        void assertWellFormed() {
            if (!terminal.isDone()) return; // a test that failed earlier
            synchronized (this) {
                assertNull(wrongId, "event for another request id");
                assertEquals(1, terminals, "exactly one terminal event for " + id + ": " + events);
                assertFalse(events.get(events.size() - 1) instanceof GenerationEvent.Tokens, "terminal event last for " + id);
            }
        }
    }

    /** Asserts a future fails with a message containing a text. */
    static final class ExecutionExceptionMessage {
        static void assertFailsWith(CompletableFuture<?> f, String text) throws InterruptedException {
            try {
                f.get(30, TimeUnit.SECONDS);
                fail("expected a failure mentioning " + text);
            } catch (java.util.concurrent.ExecutionException e) {
                assertTrue(Replica.rootMessage(e).contains(text), Replica.rootMessage(e));
            } catch (java.util.concurrent.TimeoutException e) {
                fail("no answer in 30 s");
            }
        }
    }
}
