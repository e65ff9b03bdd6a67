package dev.troupe.engine.tp;

import dev.troupe.engine.EngineOptions;
import dev.troupe.engine.LlamaModel;
import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.model.LlamaConfig;
import org.agrona.concurrent.AgentRunner;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A model split over N slices in this process, talking over Aeron IPC: the leader is an ordinary
 * {@link LlamaModel} to whoever steps it; each follower runs on its own {@link TensorFollowerAgent} thread.
 * The process's threads are shared out between the slices.
 */
public final class LocalTensorGroup implements AutoCloseable {
    private final List<LlamaModel> slices = new ArrayList<>();
    private final List<AeronTensorExchange> exchanges = new ArrayList<>();
    private final List<AgentRunner> followers = new ArrayList<>();

    private LocalTensorGroup() {}

    /**
     * Loads {@code ranks} slices of the model over {@code transport}, on streams streamBase ..
     * streamBase + ranks - 1 (distinct per group in a process).
     */
    public static LocalTensorGroup load(Path model, EngineOptions options, int ranks, TensorTransport transport, int streamBase,
                                        long peerTimeoutNs) throws IOException {
        return load(model, options, ranks, transport, streamBase, peerTimeoutNs, rank -> AeronTensorExchange.Channels.ipc(ranks));
    }

    /** As above, with each slice's channels chosen by rank (UDP on loopback, to measure or test that path). */
    public static LocalTensorGroup load(Path model, EngineOptions options, int ranks, TensorTransport transport, int streamBase,
                                        long peerTimeoutNs, java.util.function.IntFunction<AeronTensorExchange.Channels> channels)
            throws IOException {
        LocalTensorGroup g = new LocalTensorGroup();
        try {
            LlamaConfig c;
            try (GgufFile f = GgufFile.open(model)) {
                c = LlamaConfig.from(f);
            }
            int maxFloats = maxMessageFloats(c, options);
            for (int r = 0; r < ranks; r++) {
                g.exchanges.add(new AeronTensorExchange(transport.aeron(), channels.apply(r), r, ranks, streamBase,
                        maxFloats, TensorTransport.idleStrategy(), peerTimeoutNs));
            }
            for (AeronTensorExchange e : g.exchanges) {
                if (!e.awaitConnected(peerTimeoutNs)) throw new IOException("slice " + e.rank() + " of the group did not connect over Aeron");
            }
            EngineOptions each = options.withThreads(Math.max(1, options.effectiveThreads() / ranks));
            for (int r = 0; r < ranks; r++) g.slices.add(LlamaModel.loadSlice(model, each, r, ranks, g.exchanges.get(r)));
            for (int r = 1; r < ranks; r++) {
                g.followers.add(TensorFollowerAgent.start(new TensorFollowerAgent(g.slices.get(r), g.exchanges.get(r), peerTimeoutNs)));
            }
            return g;
        } catch (IOException | RuntimeException e) {
            g.close();
            throw e;
        }
    }

    /** The most floats one exchange message carries: a [T][dim] partial sum, [R][vocab] logits, or a step. */
    public static int maxMessageFloats(LlamaConfig c, EngineOptions o) {
        int rows = Math.min(o.maxBatchTokens(), Math.max(o.maxSequences(), 1));
        long step = 2 + 4L * o.maxBatchTokens() + 3L * 8 * o.maxSequences();   // tokens and a step's block-table changes
        return (int) Math.max(Math.max((long) o.maxBatchTokens() * c.dim(), (long) rows * c.vocab()), step);
    }

    /** Ends follower {@code rank} as a lost slice would end (a failure drill): its loop stops and its streams close. */
    public void killFollower(int rank) {
        exchanges.get(rank).close();
        followers.get(rank - 1).close();
    }

    /** The threads the followers run on (for allocation checks). */
    List<Thread> followerThreads() {
        List<Thread> out = new ArrayList<>();
        for (AgentRunner r : followers) {
            while (r.thread() == null && !r.isClosed()) Thread.onSpinWait();   // set once its thread has started
            out.add(r.thread());
        }
        return out;
    }

    /** The slice to step (rank 0). */
    public LlamaModel leader() { return slices.get(0); }

    public List<LlamaModel> slices() { return List.copyOf(slices); }

    /** Slice {@code rank}'s exchange. */
    public AeronTensorExchange exchange(int rank) { return exchanges.get(rank); }

    @Override
    public void close() {
        for (int r = 0; r < slices.size(); r++) {
            try {
                slices.get(r).close();   // the leader's close stops the followers
            } catch (IOException e) {
                // the mapped file is released either way
            }
            if (r == 0) followers.forEach(AgentRunner::close);
        }
        if (slices.isEmpty()) followers.forEach(AgentRunner::close);
        exchanges.forEach(AeronTensorExchange::close);
    }
}
