package dev.troupe.scheduler;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The fair queue inside the real scheduler, simulated step by step over a counting KV pool. */
class FairWaitQueueTest {

    /** A request that generates exactly maxNew tokens. */
    record Req(String tenant, int id, int prompt, int maxNew) {}

    /** One simulated node: scheduler + fake pool, counting generated tokens per tenant. */
    static final class Sim {
        final FakeKv kv;
        final FairWaitQueue<Req> queue;
        final BatchScheduler<Req> scheduler;
        final Map<String, Integer> weights = new HashMap<>();
        final Map<String, Long> generated = new HashMap<>();
        final Map<String, Integer> unfinished = new HashMap<>();
        final Map<Req, Integer> firstTokenStep = new HashMap<>();
        final Map<Req, Integer> addedStep = new HashMap<>();
        int steps;
        int ids;

        Sim(int slots, int maxTokens, int blocks) {
            kv = new FakeKv(slots, blocks, 16);
            queue = new FairWaitQueue<>(slots);
            scheduler = new BatchScheduler<>(new BatchScheduler.Config(slots, maxTokens, 256, 0), kv, queue);
        }

        Req add(String tenant, int prompt, int maxNew) {
            Req r = new Req(tenant, ids++, prompt, maxNew);
            scheduler.add(r, prompt, maxNew, tenant, weights.getOrDefault(tenant, 1));
            unfinished.merge(tenant, 1, Integer::sum);
            addedStep.put(r, steps);
            return r;
        }

        /** Tops the tenant up so it always has at least {@code backlog} requests not finished. */
        void keepBacklogged(String tenant, int backlog, int prompt, int maxNew) {
            while (unfinished.getOrDefault(tenant, 0) < backlog) add(tenant, prompt, maxNew);
        }

        void step() {
            Plan<Req> p = scheduler.plan();
            assertTrue(p.size() <= scheduler.config().maxNumSeqs());
            scheduler.commit(p);
            for (int i = 0; i < p.size(); i++) {
                if (!p.wantsLogits(i)) continue;
                ScheduledSequence<Req> q = p.sequence(i);
                Req r = q.payload();
                generated.merge(r.tenant, 1L, Long::sum);
                firstTokenStep.putIfAbsent(r, steps);
                if (q.totalTokens() - r.prompt + 1 == r.maxNew) {
                    scheduler.finish(q);
                    unfinished.merge(r.tenant, -1, Integer::sum);
                } else {
                    scheduler.appendToken(q);
                }
            }
            steps++;
        }

        long generated(String tenant) { return generated.getOrDefault(tenant, 0L); }
    }

    @Test
    void weightTwoGetsTwiceTheTokensOfWeightOne() {
        Sim sim = new Sim(8, 64, 1000);
        sim.weights.put("gold", 2);
        sim.weights.put("bronze", 1);
        long g0 = 0, b0 = 0;
        for (int it = 0; it < 4000; it++) {
            sim.keepBacklogged("gold", 20, 8, 32);
            sim.keepBacklogged("bronze", 20, 8, 32);
            if (it == 500) { // after the start-up transient
                g0 = sim.generated("gold");
                b0 = sim.generated("bronze");
            }
            sim.step();
        }
        double ratio = (double) (sim.generated("gold") - g0) / (sim.generated("bronze") - b0);
        System.out.printf("fair scheduler, weights 2:1 over 3500 steps: generated tokens %d : %d, ratio %.3f%n",
                sim.generated("gold") - g0, sim.generated("bronze") - b0, ratio);
        assertTrue(ratio >= 1.8 && ratio <= 2.2, "ratio " + ratio);
    }

    @Test
    void weightsHoldWhenKvBlocksRunOut() {
        // 8 slots but blocks for about 5 full sequences: KV preemptions happen all the time. They must take
        // from the tenant above its share, and the recomputation they cause must not count as its service.
        Sim sim = new Sim(8, 64, 14);
        sim.weights.put("gold", 2);
        sim.weights.put("bronze", 1);
        long g0 = 0, b0 = 0;
        for (int it = 0; it < 4000; it++) {
            sim.keepBacklogged("gold", 20, 8, 32);
            sim.keepBacklogged("bronze", 20, 8, 32);
            if (it == 500) {
                g0 = sim.generated("gold");
                b0 = sim.generated("bronze");
            }
            sim.step();
        }
        double ratio = (double) (sim.generated("gold") - g0) / (sim.generated("bronze") - b0);
        System.out.printf("fair scheduler under KV pressure, weights 2:1: generated tokens %d : %d, ratio %.3f, %d preemptions%n",
                sim.generated("gold") - g0, sim.generated("bronze") - b0, ratio, sim.scheduler.preemptions());
        assertTrue(sim.scheduler.preemptions() > 100, "the pool was meant to run out: " + sim.scheduler.preemptions());
        assertTrue(ratio >= 1.7 && ratio <= 2.3, "ratio " + ratio);
    }

    @Test
    void equalWeightsShareEqually() {
        Sim sim = new Sim(8, 64, 1000);
        String[] names = {"a", "b", "c"};
        long[] base = new long[3];
        for (int it = 0; it < 4000; it++) {
            for (String n : names) sim.keepBacklogged(n, 20, 8, 32);
            if (it == 500) for (int t = 0; t < 3; t++) base[t] = sim.generated(names[t]);
            sim.step();
        }
        long[] got = new long[3];
        for (int t = 0; t < 3; t++) got[t] = sim.generated(names[t]) - base[t];
        double mean = (got[0] + got[1] + got[2]) / 3.0;
        System.out.printf("fair scheduler, weights 1:1:1 over 3500 steps: generated tokens %d : %d : %d%n", got[0], got[1], got[2]);
        for (long g : got) assertEquals(1.0, g / mean, 0.10, "share " + g + " of mean " + mean);
    }

    @Test
    void withDifferentRequestShapesTheServiceIsShared() {
        // Service counts every computed position: a tenant of short generations pays its prompts more often.
        Sim sim = new Sim(8, 64, 1000);
        String[] names = {"a", "b", "c"};
        long[] base = new long[3];
        for (int it = 0; it < 4000; it++) {
            sim.keepBacklogged("a", 20, 8, 32);
            sim.keepBacklogged("b", 20, 4, 8);
            sim.keepBacklogged("c", 20, 24, 60);
            if (it == 500) for (int t = 0; t < 3; t++) base[t] = sim.queue.chargedTokens(names[t]);
            sim.step();
        }
        long[] got = new long[3];
        for (int t = 0; t < 3; t++) got[t] = sim.queue.chargedTokens(names[t]) - base[t];
        double mean = (got[0] + got[1] + got[2]) / 3.0;
        System.out.printf("fair scheduler, weights 1:1:1, different shapes: computed tokens %d : %d : %d%n", got[0], got[1], got[2]);
        for (long g : got) assertEquals(1.0, g / mean, 0.10, "share " + g + " of mean " + mean);
    }

    @Test
    void anIdleTenantDoesNotBankCredit() {
        // 5 slots: each tenant's floor is 2, the fifth slot goes by service, which is what credit would buy.
        Sim sim = new Sim(5, 64, 1000);
        for (int it = 0; it < 2000; it++) {
            sim.keepBacklogged("busy", 20, 8, 32);
            sim.step();
        }
        // "late" was idle for 2000 steps. Unclamped it would start 2000 steps' worth of tokens behind and hold
        // the fifth slot until it caught up (3:2); clamped it shares from the first step.
        long busy0 = sim.generated("busy");
        for (int it = 0; it < 600; it++) {
            sim.keepBacklogged("busy", 20, 8, 32);
            sim.keepBacklogged("late", 20, 8, 32);
            sim.step();
        }
        long busy = sim.generated("busy") - busy0, late = sim.generated("late");
        System.out.printf("fair scheduler, idle tenant returning: next 600 steps %d (busy) : %d (late)%n", busy, late);
        assertEquals(1.0, (double) late / busy, 0.08, "late " + late + " busy " + busy);
    }

    @Test
    void aSingleTenantIsAdmittedExactlyLikeFifo() {
        Random rnd = new Random(7);
        for (int trial = 0; trial < 10; trial++) {
            long seed = rnd.nextLong();
            assertEquals(trace(new FifoWaitQueue<>(), seed), trace(new FairWaitQueue<>(4), seed), "trial " + trial);
        }
    }

    /** Every plan of a random workload under KV pressure (so with preemptions), as text. */
    private static List<String> trace(WaitQueue<Req> queue, long seed) {
        Random rnd = new Random(seed);
        FakeKv kv = new FakeKv(6, 14, 8);
        BatchScheduler<Req> s = new BatchScheduler<>(new BatchScheduler.Config(4, 24, 64, 1), kv, queue);
        List<String> out = new ArrayList<>();
        int n = 0;
        for (int it = 0; it < 3000 && (n < 40 || s.runningCount() + s.waitingCount() > 0); it++) {
            if (n < 40 && rnd.nextInt(3) == 0) {
                int prompt = 1 + rnd.nextInt(30);
                s.add(new Req("solo", n++, prompt, 1 + rnd.nextInt(64 - prompt)), prompt, 1 + rnd.nextInt(64 - prompt));
            }
            Plan<Req> p = s.plan();
            out.add(p.toString());
            s.commit(p);
            for (int i = 0; i < p.size(); i++) {
                if (!p.wantsLogits(i)) continue;
                ScheduledSequence<Req> q = p.sequence(i);
                if (q.totalTokens() - q.promptTokens() + 1 == q.maxNewTokens()) s.finish(q); else s.appendToken(q);
            }
        }
        assertEquals(0, s.runningCount() + s.waitingCount());
        assertTrue(s.preemptions() > 0, "the workload was meant to preempt");
        assertEquals(0, s.fairnessPreemptions());
        return out;
    }

    @Test
    void aFloodCannotHoldEverySlotAgainstANewTenant() {
        Sim sim = new Sim(4, 64, 1000);
        for (int i = 0; i < 200; i++) sim.add("flood", 8, 100);
        for (int it = 0; it < 20; it++) sim.step();
        assertEquals(4, sim.scheduler.runningCount());
        List<Req> small = new ArrayList<>();
        int maxWait = 0;
        for (int k = 0; k < 10; k++) {
            Req r = sim.add("small", 6, 5);
            small.add(r);
            long before = sim.scheduler.fairnessPreemptions();
            while (!sim.firstTokenStep.containsKey(r)) sim.step();
            maxWait = Math.max(maxWait, sim.firstTokenStep.get(r) - sim.addedStep.get(r));
            assertTrue(sim.scheduler.fairnessPreemptions() - before <= 1, "one preemption frees the slot");
            for (int it = 0; it < 30; it++) sim.step(); // it finishes; the flood takes its slot back
        }
        System.out.printf("fair scheduler, 4 slots held by a flood of 200: a new tenant's first token after at most %d step(s); "
                + "%d fairness preemptions for %d requests%n", maxWait + 1, sim.scheduler.fairnessPreemptions(), small.size());
        assertEquals(0, maxWait, "the new tenant's prompt runs in the very next step");
        assertEquals(small.size(), sim.scheduler.fairnessPreemptions(), "one preemption per request, no bouncing");
        while (sim.unfinished.getOrDefault("flood", 0) > 0) sim.step();
        assertEquals(1000, sim.kv.freeBlocks());
    }

    @Test
    void fairnessPreemptionsDoNotBounceBetweenBackloggedTenants() {
        Sim sim = new Sim(8, 64, 1000);
        sim.weights.put("a", 1);
        sim.weights.put("b", 2);
        sim.weights.put("c", 1);
        for (int it = 0; it < 3000; it++) {
            sim.keepBacklogged("a", 12, 8, 40);
            if (it >= 300) sim.keepBacklogged("b", 12, 8, 40);   // tenants arrive while every slot is taken
            if (it >= 900) sim.keepBacklogged("c", 12, 8, 40);
            sim.step();
        }
        long fair = sim.scheduler.fairnessPreemptions();
        System.out.printf("fair scheduler, 3 tenants arriving into a full node: %d fairness preemptions in 3000 steps%n", fair);
        // Each arrival takes at most its share of slots by preemption (b: 5 of 8, then c: 2); the rest is admission order.
        assertTrue(fair <= 10, "preemptions " + fair);
    }
}
