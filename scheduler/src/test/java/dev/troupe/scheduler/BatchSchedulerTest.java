package dev.troupe.scheduler;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class BatchSchedulerTest {

    /** A request in the simulations: generates exactly {@code maxNew} tokens. */
    static final class Req {
        final String name;
        final int prompt;
        final int maxNew;
        int generated;
        boolean done;
        int finishedAt = -1;

        Req(String name, int prompt, int maxNew) {
            this.name = name;
            this.prompt = prompt;
            this.maxNew = maxNew;
        }

        @Override public String toString() { return name; }
    }

    private static BatchScheduler<Req> scheduler(FakeKv kv, int maxSeqs, int maxTokens, int ctx) {
        return new BatchScheduler<>(new BatchScheduler.Config(maxSeqs, maxTokens, ctx, 0), kv);
    }

    /** Checks the plan's invariants against the fake pool, runs it, samples, and finishes full sequences. */
    private static void step(BatchScheduler<Req> s, FakeKv kv, Plan<Req> plan, int iteration) {
        BatchScheduler.Config c = s.config();
        assertTrue(plan.tokens() <= c.maxBatchedTokens(), "token budget: " + plan);
        assertTrue(plan.size() <= c.maxNumSeqs(), "sequence budget: " + plan);
        assertTrue(s.runningCount() <= c.maxNumSeqs());
        int sum = 0;
        for (int i = 0; i < plan.size(); i++) {
            ScheduledSequence<Req> q = plan.sequence(i);
            assertEquals(ScheduledSequence.State.RUNNING, q.state());
            assertEquals(q.computedTokens(), plan.start(i), "a chunk continues where the cache ends");
            assertTrue(plan.count(i) >= 1);
            assertTrue(plan.start(i) + plan.count(i) <= q.totalTokens());
            assertTrue(kv.capacity(q.slot()) >= plan.start(i) + plan.count(i), "blocks reserved before planning");
            assertTrue(plan.start(i) + plan.count(i) <= c.contextLength());
            for (int j = 0; j < i; j++) assertNotSame(q, plan.sequence(j), "a sequence appears once");
            sum += plan.count(i);
        }
        assertEquals(sum, plan.tokens());
        s.commit(plan);
        for (int i = 0; i < plan.size(); i++) {
            if (!plan.wantsLogits(i)) continue;
            ScheduledSequence<Req> q = plan.sequence(i);
            Req r = q.payload();
            r.generated = q.totalTokens() - r.prompt + 1;
            if (r.generated == r.maxNew) {
                r.done = true;
                r.finishedAt = iteration;
                s.finish(q);
            } else {
                s.appendToken(q);
            }
        }
    }

    /** Runs until every request is done or the iteration limit; returns iterations used. */
    private static int runAll(BatchScheduler<Req> s, FakeKv kv, List<Req> reqs, int limit) {
        for (int it = 0; it < limit; it++) {
            if (reqs.stream().allMatch(r -> r.done)) return it;
            Plan<Req> p = s.plan();
            assertFalse(p.isEmpty(), "no progress at iteration " + it + " running " + s.runningCount() + " waiting " + s.waitingCount());
            step(s, kv, p, it);
        }
        fail("not done after " + limit + " iterations");
        return limit;
    }

    @Test
    void longPromptIsPrefilledInChunksWithLogitsOnlyAtTheEnd() {
        FakeKv kv = new FakeKv(4, 100, 16);
        BatchScheduler<Req> s = scheduler(kv, 4, 32, 256);
        Req r = new Req("long", 100, 3);
        s.add(r, r.prompt, r.maxNew);
        int[] expected = {32, 32, 32, 4};
        for (int i = 0; i < expected.length; i++) {
            Plan<Req> p = s.plan();
            assertEquals(1, p.size());
            assertEquals(i * 32, p.start(0));
            assertEquals(expected[i], p.count(0));
            assertEquals(i == expected.length - 1, p.wantsLogits(0));
            step(s, kv, p, i);
        }
        Plan<Req> p = s.plan(); // decode
        assertEquals(100, p.start(0));
        assertEquals(1, p.count(0));
        assertTrue(p.wantsLogits(0));
    }

    @Test
    void decodesComeFirstThenPrefillFillsTheRestOfTheBudget() {
        FakeKv kv = new FakeKv(8, 100, 16);
        BatchScheduler<Req> s = scheduler(kv, 8, 8, 256);
        List<Req> small = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Req r = new Req("d" + i, 2, 50);
            small.add(r);
            s.add(r, r.prompt, r.maxNew);
        }
        step(s, kv, s.plan(), 0); // 3 prompts of 2 tokens prefilled together
        Req big = new Req("big", 40, 5);
        s.add(big, big.prompt, big.maxNew);
        for (int it = 1; it <= 4; it++) {
            Plan<Req> p = s.plan();
            assertEquals(8, p.tokens(), "budget used in full");
            for (int i = 0; i < 3; i++) {
                assertSame(small.get(i), p.sequence(i).payload(), "decodes first, oldest first");
                assertEquals(1, p.count(i));
            }
            assertSame(big, p.sequence(3).payload());
            assertEquals(5, p.count(3));
            assertEquals((it - 1) * 5, p.start(3));
            step(s, kv, p, it);
        }
    }

    @Test
    void aResumedSequenceIsAdmittedBeforeTheNewcomersOfItsTenant() {
        for (boolean fair : new boolean[]{false, true}) {
            FakeKv kv = new FakeKv(8, 100, 4);
            BatchScheduler<Req> s = fair
                    ? new BatchScheduler<>(new BatchScheduler.Config(1, 16, 256, 0), kv, new FairWaitQueue<>(1))
                    : scheduler(kv, 1, 16, 256);
            Req a = new Req("a", 4, 4), b = new Req("b", 4, 4), c = new Req("c", 4, 4), moved = new Req("moved", 10, 4);
            s.add(a, 4, 4);
            s.add(b, 4, 4);
            s.add(c, 4, 4);
            s.add(moved, 10, 4, BatchScheduler.DEFAULT_TENANT, 1, true);
            List<Req> order = new ArrayList<>();
            for (int it = 0; it < 100 && order.size() < 4; it++) {
                Plan<Req> p = s.plan();
                for (int i = 0; i < p.size(); i++) if (!order.contains(p.sequence(i).payload())) order.add(p.sequence(i).payload());
                step(s, kv, p, it);
            }
            assertEquals(List.of(moved, a, b, c), order, fair ? "fair queue" : "fifo queue");
        }
    }

    @Test
    void admissionIsFirstComeFirstServedAndTheHeadIsNotOvertaken() {
        FakeKv kv = new FakeKv(8, 100, 4);
        BatchScheduler<Req> s = scheduler(kv, 2, 16, 256);
        Req a = new Req("a", 4, 4), b = new Req("b", 4, 4), c = new Req("c", 4, 4);
        s.add(a, 4, 4);
        s.add(b, 4, 4);
        s.add(c, 4, 4);
        Plan<Req> p = s.plan();
        assertEquals(2, p.size(), "maxNumSeqs");
        assertSame(a, p.sequence(0).payload());
        assertSame(b, p.sequence(1).payload());
        assertEquals(1, s.waitingCount());

        // A big head blocks smaller ones behind it until it fits.
        FakeKv kv2 = new FakeKv(8, 10, 4); // 40 positions
        BatchScheduler<Req> s2 = scheduler(kv2, 4, 64, 256);
        Req first = new Req("first", 20, 4), big = new Req("big", 30, 4), tiny = new Req("tiny", 2, 2);
        s2.add(first, 20, 4);
        s2.add(big, 30, 4);
        s2.add(tiny, 2, 2);
        Plan<Req> p2 = s2.plan();
        assertEquals(1, p2.size(), "big does not fit beside first, and tiny may not overtake it: " + p2);
        List<Req> order = new ArrayList<>();
        Map<Req, Integer> seen = new HashMap<>();
        for (int it = 0; it < 200 && !(first.done && big.done && tiny.done); it++) {
            Plan<Req> q = it == 0 ? p2 : s2.plan();
            for (int i = 0; i < q.size(); i++) {
                Req r = q.sequence(i).payload();
                if (seen.putIfAbsent(r, it) == null) order.add(r);
            }
            step(s2, kv2, q, it);
        }
        assertEquals(List.of(first, big, tiny), order);
        assertTrue(first.done && big.done && tiny.done);
    }

    @Test
    void whenBlocksRunOutTheYoungestIsPreemptedAndLaterRecomputesEverything() {
        // 6 blocks of 4 = 24 positions; three sequences of prompt 4 that want 8 tokens each (11 positions).
        FakeKv kv = new FakeKv(4, 6, 4);
        BatchScheduler<Req> s = scheduler(kv, 4, 16, 64);
        Req a = new Req("a", 4, 8), b = new Req("b", 4, 8), c = new Req("c", 4, 8);
        List<Req> all = List.of(a, b, c);
        List<ScheduledSequence<Req>> seqs = new ArrayList<>();
        for (Req r : all) seqs.add(s.add(r, r.prompt, r.maxNew));
        ScheduledSequence<Req> youngest = seqs.get(2);
        int it = 0;
        while (s.preemptions() == 0) {
            assertTrue(it < 50, "expected a preemption");
            step(s, kv, s.plan(), it++);
        }
        assertEquals(1, youngest.preemptions(), "the youngest pays");
        assertEquals(0, seqs.get(0).preemptions());
        assertEquals(ScheduledSequence.State.WAITING, youngest.state());
        assertEquals(0, youngest.computedTokens());
        int hadTokens = youngest.totalTokens();
        assertTrue(hadTokens > c.prompt, "it had generated some tokens");
        runAll(s, kv, all, 200);
        // On readmission it recomputed its whole history (prompt + generated) before decoding again.
        assertTrue(c.done);
        assertEquals(kv.totalBlocks, kv.freeBlocks(), "every block back");
        assertEquals(0, kv.openSlots());
    }

    @Test
    void readmittedSequenceRecomputesItsWholeHistoryAsOneChunkWhenItFits() {
        FakeKv kv = new FakeKv(4, 4, 4); // 16 positions
        BatchScheduler<Req> s = scheduler(kv, 4, 32, 64);
        Req a = new Req("a", 4, 9), b = new Req("b", 4, 9); // 12 positions each
        ScheduledSequence<Req> sa = s.add(a, 4, 9), sb = s.add(b, 4, 9);
        int it = 0;
        while (sb.preemptions() == 0) {
            assertTrue(it < 50);
            step(s, kv, s.plan(), it++);
        }
        int total = sb.totalTokens();
        // b waits while a finishes, then comes back with one chunk of everything it had.
        boolean sawRecompute = false;
        while (!b.done) {
            assertTrue(it < 200);
            Plan<Req> p = s.plan();
            for (int i = 0; i < p.size(); i++) {
                if (p.sequence(i) == sb && p.start(i) == 0) {
                    assertEquals(total, p.count(i));
                    assertTrue(p.wantsLogits(i));
                    sawRecompute = true;
                }
            }
            step(s, kv, p, it++);
        }
        assertTrue(a.done);
        assertTrue(sawRecompute);
        assertEquals(0, sa.preemptions());
    }

    @Test
    void manyRandomRequestsUnderPressureAllFinishInArrivalOrderOfAdmission() {
        Random rnd = new Random(42);
        for (int trial = 0; trial < 20; trial++) {
            int blockSize = 1 + rnd.nextInt(8);
            int ctx = 64;
            int blocks = (ctx + blockSize - 1) / blockSize + rnd.nextInt(40);
            int maxSeqs = 1 + rnd.nextInt(8);
            FakeKv kv = new FakeKv(maxSeqs + rnd.nextInt(3), blocks, blockSize);
            BatchScheduler<Req> s = new BatchScheduler<>(
                    new BatchScheduler.Config(maxSeqs, maxSeqs + rnd.nextInt(40), ctx, rnd.nextInt(2)), kv);
            List<Req> reqs = new ArrayList<>();
            List<ScheduledSequence<Req>> seqs = new ArrayList<>();
            int n = 10 + rnd.nextInt(30);
            for (int i = 0; i < n; i++) {
                int prompt = 1 + rnd.nextInt(40);
                int maxNew = 1 + rnd.nextInt(ctx - prompt);
                Req r = new Req("r" + i, prompt, maxNew);
                reqs.add(r);
                assertNull(s.rejectReason(prompt, maxNew));
                seqs.add(s.add(r, prompt, maxNew));
            }
            runAll(s, kv, reqs, 20_000);
            assertEquals(blocks, kv.freeBlocks());
            assertEquals(0, kv.openSlots());
            assertEquals(0, s.runningCount());
            assertEquals(0, s.waitingCount());
        }
    }

    @Test
    void sequencesArrivingContinuouslyAreNotStarved() {
        // A long request among a stream of short ones keeps its place and finishes.
        FakeKv kv = new FakeKv(4, 12, 4); // 48 positions
        BatchScheduler<Req> s = scheduler(kv, 4, 8, 64);
        Req longOne = null;
        List<Req> reqs = new ArrayList<>();
        for (int it = 0; it < 2000; it++) {
            if (it % 3 == 0 && it < 1500) {
                Req r = it == 30 ? new Req("long", 30, 15) : new Req("s" + it, 3, 4);
                if (it == 30) longOne = r;
                reqs.add(r);
                s.add(r, r.prompt, r.maxNew);
            }
            Plan<Req> p = s.plan();
            if (!p.isEmpty()) step(s, kv, p, it);
            if (it > 1500 && reqs.stream().allMatch(r -> r.done)) break;
        }
        assertNotNull(longOne);
        assertTrue(longOne.done, "the long request finished");
        assertTrue(longOne.finishedAt < 400, "and not only once the stream stopped: " + longOne.finishedAt);
        assertTrue(reqs.stream().allMatch(r -> r.done));
    }

    @Test
    void finishedAndCancelledSequencesFreeTheirBlocksAndSlots() {
        FakeKv kv = new FakeKv(4, 20, 4);
        BatchScheduler<Req> s = scheduler(kv, 2, 32, 64);
        Req a = new Req("a", 10, 20), b = new Req("b", 10, 20), c = new Req("c", 10, 20);
        ScheduledSequence<Req> sa = s.add(a, 10, 20), sb = s.add(b, 10, 20), sc = s.add(c, 10, 20);
        step(s, kv, s.plan(), 0);
        assertEquals(2, s.runningCount());
        assertTrue(kv.freeBlocks() < 20);
        s.finish(sa);           // cancel a running one
        s.finish(sc);           // cancel a waiting one
        s.finish(sc);           // idempotent
        assertEquals(ScheduledSequence.State.FINISHED, sa.state());
        assertEquals(-1, sa.slot());
        assertEquals(0, s.waitingCount());
        assertEquals(1, s.runningCount());
        s.finish(sb);
        assertEquals(20, kv.freeBlocks());
        assertEquals(0, kv.openSlots());
        assertTrue(s.plan().isEmpty());
        assertThrows(IllegalStateException.class, () -> s.appendToken(sb));
    }

    @Test
    void sequencesThatCanNeverFitAreRejectedUpFront() {
        FakeKv kv = new FakeKv(4, 4, 8); // 32 positions
        BatchScheduler<Req> s = scheduler(kv, 2, 32, 64);
        assertNull(s.rejectReason(10, 23));       // 32 positions: fits exactly
        assertNotNull(s.rejectReason(10, 24));    // 33 positions
        assertNotNull(s.rejectReason(64, 1));     // prompt fills the context
        assertNotNull(s.rejectReason(60, 10));    // beyond the context
        assertNotNull(s.rejectReason(0, 1));
        assertThrows(IllegalArgumentException.class, () -> s.add(new Req("x", 10, 24), 10, 24));
        assertEquals(0, s.waitingCount());
        assertThrows(IllegalArgumentException.class, () -> new BatchScheduler.Config(8, 4, 64, 0));
    }

    @Test
    void preemptYoungestForOutsideWork() {
        FakeKv kv = new FakeKv(4, 20, 4);
        BatchScheduler<Req> s = scheduler(kv, 4, 32, 64);
        assertFalse(s.preemptYoungest());
        ScheduledSequence<Req> a = s.add(new Req("a", 5, 5), 5, 5), b = s.add(new Req("b", 5, 5), 5, 5);
        step(s, kv, s.plan(), 0);
        assertTrue(s.preemptYoungest());
        assertEquals(ScheduledSequence.State.WAITING, b.state());
        assertEquals(ScheduledSequence.State.RUNNING, a.state());
        assertEquals(1, s.preemptions());
    }
}
