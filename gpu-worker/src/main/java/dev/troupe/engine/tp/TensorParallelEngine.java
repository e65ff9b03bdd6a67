package dev.troupe.engine.tp;

import dev.troupe.engine.EngineOptions;
import dev.troupe.engine.LlamaModel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * A model loaded whole, or split over N slices in this process (over Aeron IPC, with a media driver of its
 * own): either way {@link #model()} is the one to step.
 */
public final class TensorParallelEngine implements AutoCloseable {
    /** How long a slice waits for a silent peer before it gives the group up. */
    public static final long PEER_TIMEOUT_NS = TimeUnit.SECONDS.toNanos(10);

    private final LlamaModel whole;
    private final LocalTensorGroup group;
    private final TensorTransport transport;

    private TensorParallelEngine(LlamaModel whole, LocalTensorGroup group, TensorTransport transport) {
        this.whole = whole;
        this.group = group;
        this.transport = transport;
    }

    public static TensorParallelEngine load(Path model, EngineOptions options, int slices) throws IOException {
        if (slices == 1) return new TensorParallelEngine(LlamaModel.load(model, options), null, null);
        TensorTransport transport = TensorTransport.start(Files.createTempDirectory("troupe-tp-"), TimeUnit.SECONDS.toNanos(3));
        try {
            return new TensorParallelEngine(null, LocalTensorGroup.load(model, options, slices, transport, 1, PEER_TIMEOUT_NS), transport);
        } catch (IOException | RuntimeException e) {
            transport.close();
            throw e;
        }
    }

    /** The model to step: the whole one, or the group's leader. */
    public LlamaModel model() { return whole != null ? whole : group.leader(); }

    @Override
    public void close() throws IOException {
        if (whole != null) {
            whole.close();
            return;
        }
        group.close();
        transport.close();
    }
}
