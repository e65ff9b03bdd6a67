package dev.troupe.engine.tp;

import dev.troupe.engine.Batch;
import dev.troupe.engine.EngineOptions;
import dev.troupe.engine.Generator;
import dev.troupe.engine.LlamaModel;
import dev.troupe.engine.TestModels;
import dev.troupe.engine.kernel.Argmax;
import dev.troupe.engine.kv.PagedKvCache;
import dev.troupe.engine.sampling.SamplingParams;
import dev.troupe.engine.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** Models split over slices in one process, exchanging over Aeron IPC, compute what the whole model does. */
class TensorParallelTest {
    private static TensorTransport transport;
    private static int nextStream = 1000;
    private static final long TIMEOUT = TimeUnit.SECONDS.toNanos(10);

    @BeforeAll
    static void start() throws Exception {
        transport = TensorTransport.start(Files.createTempDirectory("troupe-tp-test"), TimeUnit.SECONDS.toNanos(2));
    }

    @AfterAll
    static void stop() {
        if (transport != null) transport.close();
    }

    private static EngineOptions options() {
        return EngineOptions.defaults().withThreads(2).withMaxSequences(8).withKvCacheTokens(0).withMaxBatchTokens(64);
    }

    private static LocalTensorGroup group(Path model, int ranks) throws Exception {
        LocalTensorGroup g = LocalTensorGroup.load(model, options(), ranks, transport, nextStream, TIMEOUT);
        nextStream += 16;
        return g;
    }

    @Test
    void splitStoriesModelGivesTheReferenceGreedyCompletions() throws Exception {
        Path model = TestModels.require(TestModels.STORIES);
        List<TestModels.Reference> refs = TestModels.references(TestModels.require("stories260K-greedy.jsonl"));
        assertEquals(4, refs.size());
        for (int ranks : new int[] {2, 4}) {
            try (LocalTensorGroup g = group(model, ranks)) {
                Generator gen = new Generator(g.leader(), Tokenizer.fromGguf(g.leader().file()));
                for (TestModels.Reference ref : refs) {
                    Generator.Result r = gen.generate(ref.prompt(), SamplingParams.greedy(ref.maxTokens()), null);
                    assertEquals(ref.completion(), r.text(), ranks + " slices, prompt " + ref.prompt());
                }
            }
        }
    }

    @Test
    void slicesTalkingOverUdpGiveTheSameCompletions() throws Exception {
        Path model = TestModels.require(TestModels.STORIES);
        String[] endpoints = new String[2];
        for (int r = 0; r < 2; r++) {
            try (java.net.DatagramSocket s = new java.net.DatagramSocket(0, java.net.InetAddress.getLoopbackAddress())) {
                endpoints[r] = "127.0.0.1:" + s.getLocalPort();
            }
        }
        TestModels.Reference ref = TestModels.references(TestModels.require("stories260K-greedy.jsonl")).get(1);
        try (LocalTensorGroup g = LocalTensorGroup.load(model, options(), 2, transport, nextStream, TIMEOUT,
                rank -> AeronTensorExchange.Channels.udp(endpoints, rank))) {
            nextStream += 16;
            Generator gen = new Generator(g.leader(), Tokenizer.fromGguf(g.leader().file()));
            assertEquals(ref.completion(), gen.generate(ref.prompt(), SamplingParams.greedy(ref.maxTokens()), null).text());
        }
    }

    @Test
    void eachSliceHoldsItsShareOfTheWeightsAndCache() throws Exception {
        Path model = TestModels.require(TestModels.RANDOM_F32);
        long whole;
        int wholeKvBlocks;
        try (LlamaModel m = LlamaModel.load(model, options())) {
            whole = m.weightBytes();
            wholeKvBlocks = m.kvCache().totalBlocks();
        }
        try (LocalTensorGroup g = group(model, 2)) {
            for (LlamaModel slice : g.slices()) {
                double share = (double) slice.weightBytes() / whole;
                assertTrue(share > 0.45 && share < 0.55, "slice " + slice.shard().rank() + " holds " + share + " of the weights");
                assertEquals(wholeKvBlocks, slice.kvCache().totalBlocks());
                assertEquals(slice.config().kvHeads() / 2, slice.shard().kvHeads());
            }
        }
    }

    /** Prompts of several sequences batched into one step, then batched decode steps; logits rows of each. */
    @Test
    void splitRandomModelLogitsAgreeWithTheWholeModel() throws Exception {
        Path model = TestModels.require(TestModels.RANDOM_F32);
        List<float[]> whole;
        try (LlamaModel m = LlamaModel.load(model, options())) {
            whole = steps(m);
        }
        for (int ranks : new int[] {2, 3}) {
            try (LocalTensorGroup g = group(model, ranks)) {
                List<float[]> split = steps(g.leader());
                assertEquals(whole.size(), split.size());
                for (int s = 0; s < whole.size(); s++) {
                    float[] a = whole.get(s), b = split.get(s);
                    float scale = 0;
                    for (float f : a) scale = Math.max(scale, Math.abs(f));
                    for (int i = 0; i < a.length; i++) {
                        assertEquals(a[i], b[i], 1e-4f * scale, ranks + " slices, step " + s + ", logit " + i);
                    }
                }
            }
        }
    }

    /**
     * A row marked argmax-only gets just each follower's largest logit: its argmax is exactly that of the same
     * row gathered whole, the leader's own columns are untouched, each follower's largest is in place and its
     * other columns are -inf.
     * Rows beside it in the same steps are gathered whole, unchanged.
     */
    @Test
    void aRowThatWantsOnlyItsArgmaxGetsExactlyTheWholeRowsArgmax() throws Exception {
        Path model = TestModels.require(TestModels.RANDOM_F32);
        for (int ranks : new int[] {2, 3}) {
            try (LocalTensorGroup g = group(model, ranks)) {
                LlamaModel m = g.leader();
                int vocab = m.vocabSize(), leaderColumns = m.shard().vocabStartOf(1, vocab);
                List<float[]> whole = steps(m), mixed = steps(m, 1);
                for (int s = 0; s < whole.size(); s++) {
                    float[] a = whole.get(s), b = mixed.get(s);
                    for (int row = 0; row * vocab < a.length; row++) {
                        int at = row * vocab;
                        if (row != 1) {
                            assertArrayEquals(java.util.Arrays.copyOfRange(a, at, at + vocab), java.util.Arrays.copyOfRange(b, at, at + vocab),
                                    ranks + " slices, step " + s + ", row " + row);
                            continue;
                        }
                        assertEquals(Argmax.firstMax(a, at, vocab), Argmax.firstMax(b, at, vocab), ranks + " slices, step " + s);
                        for (int i = 0; i < leaderColumns; i++) assertEquals(a[at + i], b[at + i], "leader's column " + i);
                        for (int j = 1; j < ranks; j++) {
                            int from = m.shard().vocabStartOf(j, vocab), to = j + 1 < ranks ? m.shard().vocabStartOf(j + 1, vocab) : vocab;
                            int best = from + Argmax.firstMax(a, at + from, to - from);
                            for (int i = from; i < to; i++) {
                                assertEquals(i == best ? a[at + i] : Float.NEGATIVE_INFINITY, b[at + i], "slice " + j + "'s column " + i);
                            }
                        }
                    }
                }
            }
        }
    }

    private static List<float[]> steps(LlamaModel m) {
        return steps(m, -1);
    }

    /** The logits of a few batched steps; the logits row argmaxRow (-1: none) of each step wants only its argmax. */
    private static List<float[]> steps(LlamaModel m, int argmaxRow) {
        PagedKvCache kv = m.kvCache();
        int vocab = m.vocabSize();
        int[] seqs = new int[3];
        int[] lengths = {5, 17, 9};
        for (int i = 0; i < 3; i++) {
            seqs[i] = kv.open();
            assertTrue(kv.reserve(seqs[i], lengths[i] + 6));
        }
        List<float[]> out = new ArrayList<>();
        Batch b = new Batch(m.maxBatchTokens());
        for (int i = 0; i < 3; i++) {
            int[] prompt = new int[lengths[i]];
            for (int p = 0; p < prompt.length; p++) prompt[p] = (p * 131 + i * 17 + 1) % vocab;
            b.addChunk(seqs[i], prompt, 0, prompt.length, 0, true);
        }
        if (argmaxRow >= 0) b.onlyArgmax(argmaxRow);
        m.forward(b);
        out.add(java.util.Arrays.copyOf(m.logits(), 3 * vocab));
        for (int step = 0; step < 5; step++) {
            b.clear();
            for (int i = 0; i < 3; i++) b.add(seqs[i], (step * 7 + i * 3) % vocab, lengths[i] + step, true);
            if (argmaxRow >= 0) b.onlyArgmax(argmaxRow);
            m.forward(b);
            out.add(java.util.Arrays.copyOf(m.logits(), 3 * vocab));
        }
        kv.release(seqs[1]);   // a release travels to the followers with the next step
        b.clear();
        b.add(seqs[0], 11, lengths[0] + 5, true);
        m.forward(b);
        out.add(java.util.Arrays.copyOf(m.logits(), vocab));
        kv.release(seqs[0]);
        kv.release(seqs[2]);
        return out;
    }

    /** Decode steps of a split model allocate nothing: not the leader's thread, nor the followers'. */
    @Test
    void decodeStepsOfASplitModelAllocateNothing() throws Exception {
        Path model = TestModels.require(TestModels.RANDOM_F32);
        String whole;
        try (LlamaModel m = LlamaModel.load(model, options())) {
            whole = allocationOfSteps(m, List.of());
        }
        try (LocalTensorGroup g = group(model, 2)) {
            String split = allocationOfSteps(g.leader(), g.followerThreads());
            // A few bytes in all are the measurement's own (the whole model shows them too); one object a step would be thousands.
            assertTrue(Long.parseLong(split.substring(0, split.indexOf(' '))) < 200, "200 steps of 4 tokens on 2 slices allocated " + split
                    + " (whole: " + whole + ")");
        }
    }

    /** Bytes allocated by 200 decode steps of 4 sequences, the least of three rounds after two to warm up, on this thread and the others given. */
    private static String allocationOfSteps(LlamaModel m, List<Thread> others) {
        PagedKvCache kv = m.kvCache();
        int[] seqs = new int[4];
        for (int i = 0; i < seqs.length; i++) {
            seqs[i] = kv.open();
            assertTrue(kv.reserve(seqs[i], 120));
        }
        Batch b = new Batch(m.maxBatchTokens());
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        List<Thread> threads = new ArrayList<>(others);
        threads.add(Thread.currentThread());
        long[] ids = threads.stream().mapToLong(Thread::getId).toArray();
        // The first rounds warm the JIT and the exchange's buffers; a round the JIT was still compiling in may
        // allocate, so the least of three measured rounds is the steady state.
        long best = Long.MAX_VALUE;
        String bestWho = "";
        for (int round = 0; round < 5; round++) {
            long[] before = mx.getThreadAllocatedBytes(ids);
            for (int step = 0; step < 200; step++) {
                b.clear();
                for (int s : seqs) b.add(s, (step * 7 + s) % m.vocabSize(), step % 100, true);
                b.onlyArgmax(1);   // greedy rows' argmax beside whole rows
                b.onlyArgmax(3);
                m.forward(b);
            }
            long[] after = mx.getThreadAllocatedBytes(ids);
            if (round < 2) continue;
            long total = 0;
            StringBuilder who = new StringBuilder();
            for (int i = 0; i < ids.length; i++) {
                total += after[i] - before[i];
                who.append(' ').append(threads.get(i).getName()).append('=').append(after[i] - before[i]);
            }
            if (total < best) {
                best = total;
                bestWho = who.toString();
            }
        }
        for (int s : seqs) kv.release(s);
        return best + " bytes:" + bestWho;
    }

    @Test
    void aSplitThatCutsKeyValueHeadsIsRefusedWithTheNumbers() throws Exception {
        Path model = TestModels.require(TestModels.STORIES);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> group(model, 3).close());
        assertTrue(e.getMessage().contains("4 key/value heads") && e.getMessage().contains("3 ways"), e.getMessage());
    }

    @Test
    void aLostFollowerEndsTheLeadersStepWithAStatusNotAHang() throws Exception {
        Path model = TestModels.require(TestModels.STORIES);
        LocalTensorGroup g = LocalTensorGroup.load(model, options(), 2, transport, nextStream, TimeUnit.SECONDS.toNanos(2));
        nextStream += 16;
        try {
            LlamaModel leader = g.leader();
            Generator gen = new Generator(leader, Tokenizer.fromGguf(leader.file()));
            assertFalse(gen.generate("Once upon a time", SamplingParams.greedy(4), null).text().isEmpty());
            g.killFollower(1);
            long t0 = System.nanoTime();
            TensorGroupLostException lost = assertThrows(TensorGroupLostException.class,
                    () -> gen.generate("Once upon a time", SamplingParams.greedy(4), null));
            assertEquals(TensorExchange.PEER_LOST, lost.status());
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(6), "the loss was noticed within the peer timeout");
        } finally {
            g.close();
        }
    }
}
