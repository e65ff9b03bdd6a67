package dev.troupe.scheduler;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class ReplicaRouterTest {
    private static final long S = 1_000_000_000L;
    private final ReplicaRouter router = new ReplicaRouter(ReplicaRouter.Config.defaults());
    private final Random random = new Random(7);

    private static ReplicaRouter.Candidate idle(String id) {
        return new ReplicaRouter.Candidate(id, 0, 0, 100, 100);
    }

    private static int[] prompt(int first, int length) {
        int[] p = new int[length];
        for (int i = 0; i < length; i++) p[i] = first + i;
        return p;
    }

    @Test
    void noReplicaNoPickAndOneReplicaAlways() {
        assertEquals(-1, router.pick(List.of(), 0, 0, random::nextInt));
        assertEquals(0, router.pick(List.of(idle("a")), 0, 0, random::nextInt));
    }

    @Test
    void theLessLoadedOfTwoDrawsWinsAndTheLoadIsTheLargerOfPublishedAndOwn() {
        List<ReplicaRouter.Candidate> two = List.of(new ReplicaRouter.Candidate("busy", 9, 0, 100, 100),
                new ReplicaRouter.Candidate("own", 0, 5, 100, 100));
        for (int i = 0; i < 50; i++) assertEquals(1, router.pick(two, 0, 0, random::nextInt));
        // Under a tenth of its KV free, a replica counts as 8 busier.
        List<ReplicaRouter.Candidate> kv = List.of(new ReplicaRouter.Candidate("full", 1, 0, 5, 100), idle("b").withPublished(6));
        for (int i = 0; i < 50; i++) assertEquals(1, router.pick(kv, 0, 0, random::nextInt));
    }

    @Test
    void loadSpreadsOverManyReplicasAndNeverPicksTheWorstOfThem() {
        List<ReplicaRouter.Candidate> rs = new ArrayList<>();
        for (int i = 0; i < 4; i++) rs.add(new ReplicaRouter.Candidate("r" + i, i * 3, 0, 100, 100));
        int[] counts = new int[4];
        for (int i = 0; i < 4000; i++) counts[router.pick(rs, 0, 0, random::nextInt)]++;
        assertEquals(0, counts[3], "the most loaded replica never wins a pair");
        assertTrue(counts[0] > counts[1] && counts[1] > counts[2] && counts[2] > 0, java.util.Arrays.toString(counts));
    }

    @Test
    void aLongPromptPrefixGoesBackToItsReplicaWhileTheLoadAllows() {
        List<ReplicaRouter.Candidate> rs = List.of(idle("a"), idle("b"), idle("c"));
        long key = router.prefixKey(prompt(100, 80));
        int first = router.pick(rs, key, 0, random::nextInt);
        for (int i = 0; i < 30; i++) assertEquals(first, router.pick(rs, key, i * S, random::nextInt), "affinity");
        // Same first 64 tokens, different tail: same key.
        int[] other = prompt(100, 90);
        other[70] = 1;
        assertEquals(key, router.prefixKey(other));
        // The affine replica now has 5 more than the others: past the slack of 4, the pair's pick wins.
        List<ReplicaRouter.Candidate> skewed = new ArrayList<>(rs);
        skewed.set(first, rs.get(first).withPublished(5));
        for (int i = 0; i < 20; i++) assertNotEquals(first, router.pick(skewed, key, 40 * S, random::nextInt));
    }

    @Test
    void shortPromptsAndExpiredKeysHaveNoAffinity() {
        assertEquals(0, router.prefixKey(prompt(1, 31)));
        assertNotEquals(0, router.prefixKey(prompt(1, 32)));
        List<ReplicaRouter.Candidate> rs = List.of(idle("a"), idle("b"));
        long key = router.prefixKey(prompt(5, 40));
        int first = router.pick(rs, key, 0, random::nextInt);
        int other = 0;
        for (int i = 0; i < 40; i++) {
            // Each pick past the TTL starts over from the pair draw.
            if (router.pick(rs, key, (i + 1) * 200 * S, random::nextInt) != first) other++;
        }
        assertTrue(other > 5, "expired affinity follows the draws: " + other);
    }

    @Test
    void theAffinityTableIsBounded() {
        ReplicaRouter small = new ReplicaRouter(new ReplicaRouter.Config(64, 32, 120 * S, 4, 2, 8));
        List<ReplicaRouter.Candidate> rs = List.of(idle("a"), idle("b"));
        long k1 = small.prefixKey(prompt(1, 40)), k2 = small.prefixKey(prompt(2, 40)), k3 = small.prefixKey(prompt(3, 40));
        small.pick(rs, k1, 0, n -> 0);
        small.pick(rs, k2, 0, n -> 0);
        small.pick(rs, k3, 0, n -> 0);
        // Draws that make "b" win a tie: k3 is remembered and stays on "a"; k1 was evicted and goes to "b".
        assertEquals(0, small.pick(rs, k3, 1, n -> n == 2 ? 1 : 0));
        assertEquals(1, small.pick(rs, k1, 1, n -> n == 2 ? 1 : 0));
    }
}
