package dev.troupe.actors.replica;

import dev.troupe.engine.EngineOptions;
import dev.troupe.engine.Generator;
import dev.troupe.engine.LlamaModel;
import dev.troupe.engine.sampling.SamplingParams;
import dev.troupe.engine.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Tenants sharing one step loop over the real stories260K model: a flood cannot delay another tenant's
 * first token much, weights share the tokens, and preempted sequences still produce their exact output.
 * The measured figures are printed (docs/benchmarks.md, "Fair scheduling").
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class StepLoopFairnessTest {
    private static final String[] OPENINGS = {
            "Once upon a time", "Lily and Tom", "The little dog", "One day, a big bear", "Sam had a red ball",
            "In the park", "The sun was hot", "Mom said", "Tim wanted to play", "A bird sat on a tree",
            "There was a girl named Sue", "The cat was sad", "Ben and his dad went to the shop", "It was a rainy day",
            "The boy saw a car", "Anna liked to sing",
    };
    /** Every flood request generates exactly this many tokens. */
    private static final int FLOOD_TOKENS = 64;
    private static final SamplingParams FLOOD = SamplingParams.builder().temperature(0f).maxTokens(FLOOD_TOKENS)
            .ignoreEos(true).build();

    private LlamaModel model;
    private Tokenizer tokenizer;
    private StepLoop loop;
    private final List<RecordingSink> sinks = new ArrayList<>();

    @AfterEach
    void tearDown() throws Exception {
        if (loop != null) loop.close();
        for (RecordingSink s : sinks) s.assertWellFormed();
        if (model != null) model.close();
    }

    private void load() throws Exception {
        // A pool of 4096 positions: 16 running sequences of ~70 positions never run out of blocks, so every
        // preemption in these tests is a fairness preemption.
        model = LlamaModel.load(TestModels.require(TestModels.STORIES),
                EngineOptions.defaults().withThreads(1).withKvCacheTokens(4096));
        tokenizer = Tokenizer.fromGguf(model.file());
        assertTrue(model.config().contextLength() > 20 + FLOOD_TOKENS, "context " + model.config().contextLength());
    }

    private void newLoop(int maxNumSeqs) {
        loop = new StepLoop(model, tokenizer, new StepLoop.Config(maxNumSeqs, 64, 1024, Duration.ofMillis(20)));
    }

    private RecordingSink submit(String id, int[] prompt, SamplingParams p, String tenant, int weight) {
        RecordingSink s = new RecordingSink(id);
        assertTrue(loop.submit(new GenerationRequest(id, prompt, p, 0, tenant, weight), s), "accepted " + id);
        sinks.add(s);
        return s;
    }

    /** Greedy output of each opening alone (before the loop starts: one thread per model). */
    private List<Generator.Result> aloneOutputs(SamplingParams p) {
        List<Generator.Result> out = new ArrayList<>();
        for (String o : OPENINGS) out.add(new Generator(model, tokenizer).generate(tokenizer.encode(o, true), p, null));
        return out;
    }

    private static void assertOutput(Generator.Result expected, RecordingSink got) {
        GenerationEvent.Finished f = got.finished();
        assertEquals(expected.text(), got.text(), got.id + ": text");
        assertEquals(expected.completionTokens(), f.completionTokens(), got.id + ": completion tokens");
    }

    private static double millis(long nanos) { return nanos / 1e6; }

    private static long generated(Map<String, StepLoop.TenantUsage> usage, String tenant) {
        StepLoop.TenantUsage u = usage.get(tenant);
        return u == null ? 0 : u.generatedTokens();
    }

    private static long gcMillis() {
        long t = 0;
        for (var gc : java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()) t += Math.max(0, gc.getCollectionTime());
        return t;
    }

    /** One round's figures: B's unloaded TTFT median, B's TTFTs under the flood, and the loaded step time. */
    /** requests: B's requests of the round, all counted in B's usage; loaded: the TTFTs of those that met A's backlog. */
    private record FloodRound(long unloadedMedian, long[] loaded, long[] stepsWaited, long loadedStep, long fairnessPreemptions, int requests) {
        long worst() { return Arrays.stream(loaded).max().orElseThrow(); }

        long loadedMedian() { return loaded[loaded.length / 2]; }

        /** B arrives while a full step of A's sequences runs (it waits up to one step), and its own prompt then
         *  runs inside a full batch step rather than alone: under load B's first token may take two loaded
         *  steps where the unloaded one takes one small step. Plus 2 ms for thread wake-ups on a shared 2-vCPU
         *  machine. */
        long slack() { return 2 * loadedStep + TimeUnit.MILLISECONDS.toNanos(2); }

        long bound() { return 2 * unloadedMedian + slack(); }
    }

    @Test
    void aTenantFloodingTheNodeCannotPushAnotherTenantsFirstTokenBeyondTwiceItsUnloadedTime() throws Exception {
        load();
        List<Generator.Result> expectedFlood = aloneOutputs(FLOOD);
        int[] bPrompt = tokenizer.encode("Tim wanted to play", true);
        SamplingParams bParams = SamplingParams.greedy(8);
        Generator.Result expectedB = new Generator(model, tokenizer).generate(bPrompt, bParams, null);
        newLoop(16);
        loop.start();

        // Warm-up (JIT) of the batched paths the flood will take.
        List<RecordingSink> warm = new ArrayList<>();
        for (int i = 0; i < 48; i++) warm.add(submit("warm" + i, tokenizer.encode(OPENINGS[i % 16], true), FLOOD, "warm", 1));
        for (RecordingSink s : warm) s.finished();

        // Each round asserts what does not depend on the machine: every B request's first token comes from the
        // step after the one running at its arrival (without flood protection B waits for one of A's 64-token
        // generations to end: up to 30 steps, up to 33 ms here). The wall-clock bound is noisier: on a shared
        // 2-vCPU machine other processes take the CPUs for milliseconds at a time (timing single steps we saw a
        // plan of 16 sequences take 7 ms: the thread was off the CPU), so a round whose worst TTFT misses it is
        // measured again, up to 5 rounds; when none meets it the machine was too busy to time, and the test says
        // so as skipped (aborted), not passed.
        List<FloodRound> rounds = new ArrayList<>();
        long bRequests = 0;
        for (int round = 0; round < 5; round++) {
            FloodRound r = floodRound(round, bPrompt, bParams, expectedB, expectedFlood);
            rounds.add(r);
            bRequests += r.requests;
            System.out.printf("fair step loop, round %d: B's TTFT unloaded median %.2f ms; under A's flood of 200 x %d "
                            + "tokens median %.2f ms, max %.2f ms (of %d requests; %.2fx unloaded); loaded step %.2f ms; "
                            + "bound 2 x unloaded + %.2f ms = %.2f ms; steps B waited for (0 or 1: the one running at its "
                            + "arrival): %s; fairness preemptions %d%n",
                    round, millis(r.unloadedMedian), FLOOD_TOKENS, millis(r.loadedMedian()), millis(r.worst()),
                    r.loaded.length, (double) r.worst() / r.unloadedMedian, millis(r.loadedStep), millis(r.slack()),
                    millis(r.bound()), Arrays.toString(r.stepsWaited), r.fairnessPreemptions);
            if (r.worst() <= r.bound()) break;
        }
        assertEquals(8L * bRequests, generated(loop.tenantUsage(), "B"), "B's counter");
        FloodRound last = rounds.get(rounds.size() - 1);
        Assumptions.assumeTrue(last.worst() <= last.bound(), "B's worst TTFT above 2 x unloaded + slack in all "
                + rounds.size() + " rounds although B never waited more than the running step: the machine is too busy "
                + "to time (see the figures printed)");
    }

    private FloodRound floodRound(int round, int[] bPrompt, SamplingParams bParams, Generator.Result expectedB,
                                  List<Generator.Result> expectedFlood) throws Exception {
        // Unloaded: B alone on an idle loop, one at a time.
        long[] unloaded = new long[15];
        for (int i = 0; i < unloaded.length; i++) {
            Thread.sleep(30); // the loop goes idle (parked), as it is when a lone request arrives
            long t0 = System.nanoTime();
            RecordingSink s = submit("b-alone" + round + "-" + i, bPrompt, bParams, "B", 1);
            assertOutput(expectedB, s);
            unloaded[i] = s.firstTokensNanos - t0;
        }
        Arrays.sort(unloaded);

        // Tenant A: 200 requests at once, 64 tokens each. Tenant B: one request every 40 ms meanwhile.
        long preemptions0 = loop.stats().fairnessPreemptions();
        List<RecordingSink> flood = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            flood.add(submit("a" + round + "-" + i, tokenizer.encode(OPENINGS[i % 16], true), FLOOD, "A", 1));
        }
        long steps0 = loop.stats().steps(), floodStart = System.nanoTime();
        List<Long> loaded = new ArrayList<>();
        List<Long> stepsWaited = new ArrayList<>();
        int bUnderFlood = 0;
        for (int k = 0; k < 50 && loop.stats().waiting() > 16; k++) {
            bUnderFlood++;
            Thread.sleep(40);
            long[] stepsAtFirst = {-1};
            RecordingSink s = new RecordingSink("b" + round + "-" + k);
            // On the loop thread, while the step that produced B's first token is being sampled.
            s.onTokens = () -> { if (stepsAtFirst[0] < 0) stepsAtFirst[0] = loop.stats().steps(); };
            sinks.add(s);
            long t0 = System.nanoTime();
            assertTrue(loop.submit(new GenerationRequest(s.id, bPrompt, bParams, 0, "B", 1), s));
            long steps = loop.stats().steps(); // read after the submit: a late read only lowers the count
            s.firstTokens.get(30, TimeUnit.SECONDS);
            boolean underLoad = loop.stats().waiting() > 0; // A still had a backlog when B's first token came
            assertOutput(expectedB, s);
            if (underLoad) {
                loaded.add(s.firstTokensNanos - t0);
                stepsWaited.add(stepsAtFirst[0] - steps);
            }
        }
        long floodSteps = loop.stats().steps() - steps0, floodNanos = System.nanoTime() - floodStart;
        // A's requests, some of them preempted for B and recomputed, all give their exact greedy output.
        for (int i = 0; i < flood.size(); i++) assertOutput(expectedFlood.get(i % 16), flood.get(i));
        long preemptions = loop.stats().fairnessPreemptions() - preemptions0;
        assertTrue(loaded.size() >= 5, "B requests measured while A was backlogged: " + loaded.size());
        assertTrue(preemptions > 0, "some of A's sequences gave up their slot to B");
        // Steps finished between B's arrival and the step that sampled its first token: at most the one that was
        // running when it came. Without flood protection B waits for one of A's generations to end (tens of steps).
        for (long w : stepsWaited) assertTrue(w <= 1, "B waited " + stepsWaited + " steps");
        return new FloodRound(unloaded[unloaded.length / 2], loaded.stream().mapToLong(Long::longValue).sorted().toArray(),
                stepsWaited.stream().mapToLong(Long::longValue).toArray(), floodNanos / Math.max(1, floodSteps), preemptions,
                unloaded.length + bUnderFlood);
    }

    @Test
    void twoFloodingTenantsGetTokensInProportionToTheirWeights() throws Exception {
        load();
        newLoop(16);
        // Both tenants' requests reach the loop before it starts: they are backlogged from the first step.
        for (int i = 0; i < 150; i++) {
            submit("gold" + i, tokenizer.encode(OPENINGS[i % 16], true), FLOOD, "gold", 2);
            submit("bronze" + i, tokenizer.encode(OPENINGS[(i + 5) % 16], true), FLOOD, "bronze", 1);
        }
        loop.start();
        // The window: from when both have produced a little (start-up done) to the last sample where gold,
        // the faster, surely still had waiting requests (more unfinished tokens than 16 running could hold).
        long goldTotal = 150L * FLOOD_TOKENS, stillBacklogged = goldTotal - 17L * FLOOD_TOKENS;
        long[] start = null, end = null;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < deadline) {
            Map<String, StepLoop.TenantUsage> u = loop.tenantUsage();
            long g = generated(u, "gold"), b = generated(u, "bronze");
            if (g > stillBacklogged) break;
            if (start == null && g >= 256 && b >= 128) start = new long[]{g, b};
            if (start != null) end = new long[]{g, b};
            Thread.sleep(1);
        }
        assertNotNull(start, "window start");
        for (RecordingSink s : sinks) s.finished();
        long gold = end[0] - start[0], bronze = end[1] - start[1];
        double ratio = (double) gold / bronze;
        System.out.printf("fair step loop: weights 2:1, both flooding 150 x %d tokens, 16 slots: generated %d : %d in the "
                + "window, ratio %.3f; fairness preemptions %d%n", FLOOD_TOKENS, gold, bronze, ratio, loop.stats().fairnessPreemptions());
        assertTrue(gold + bronze > 3000, "a window long enough to mean something: " + (gold + bronze));
        assertTrue(ratio >= 1.8 && ratio <= 2.2, "ratio " + ratio);
        Map<String, StepLoop.TenantUsage> u = loop.tenantUsage();
        assertEquals(goldTotal, u.get("gold").generatedTokens());
        assertEquals(150L * FLOOD_TOKENS, u.get("bronze").generatedTokens());
    }

    @Test
    void requestsNameATenantAndAWeightWithinBounds() {
        int[] prompt = {1, 2};
        SamplingParams p = SamplingParams.greedy(1);
        GenerationRequest plain = new GenerationRequest("x", prompt, p, 0);
        assertEquals(GenerationRequest.ANONYMOUS, plain.tenant());
        assertEquals(1, plain.weight());
        assertEquals(1000, new GenerationRequest("x", prompt, p, 0, "t", GenerationRequest.MAX_WEIGHT).weight());
        assertThrows(IllegalArgumentException.class, () -> new GenerationRequest("x", prompt, p, 0, " ", 1));
        assertThrows(IllegalArgumentException.class, () -> new GenerationRequest("x", prompt, p, 0, null, 1));
        assertThrows(IllegalArgumentException.class, () -> new GenerationRequest("x", prompt, p, 0, "t", 0));
        assertThrows(IllegalArgumentException.class, () -> new GenerationRequest("x", prompt, p, 0, "t", 1001));
    }
}
