package dev.troupe.node.deploy;

import dev.troupe.engine.EngineOptions;
import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.model.LlamaConfig;
import dev.troupe.engine.tp.AeronTensorExchange;
import dev.troupe.engine.tp.LocalTensorGroup;
import dev.troupe.engine.tp.TensorTransport;
import dev.troupe.scheduler.PlacementPlanner;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * This node's tensor-parallel plumbing: one Aeron media driver for all of its slices' exchanges (started
 * when the first group needs it), the UDP endpoint its slices receive on (announced to the cluster), and
 * the exchange of each group slice it runs: IPC when the whole group is on this node, UDP otherwise.
 */
public final class TensorGroups implements AutoCloseable {
    private final String self;
    private final String endpoint;
    private final Path dir;
    private final Function<String, String> endpointOf;
    private final Duration peerTimeout;
    private final Duration joinTimeout;
    private TensorTransport transport;
    private boolean closed;

    /**
     * @param self       this node's cluster address
     * @param endpoint   "host:port" this node's slices receive UDP on
     * @param dir        the media driver's directory (removed on close)
     * @param endpointOf a node's announced endpoint, or null when unknown
     */
    public TensorGroups(String self, String endpoint, Path dir, Function<String, String> endpointOf, Duration peerTimeout, Duration joinTimeout) {
        this.self = self;
        this.endpoint = endpoint;
        this.dir = dir;
        this.endpointOf = endpointOf;
        this.peerTimeout = peerTimeout;
        this.joinTimeout = joinTimeout;
    }

    /** A free UDP port on host, for {@code troupe.tensor-parallel.port = 0}. */
    public static int freeUdpPort(String host) throws IOException {
        try (DatagramSocket s = new DatagramSocket(0, InetAddress.getByName(host))) {
            return s.getLocalPort();
        }
    }

    public String endpoint() { return endpoint; }

    public Duration joinTimeout() { return joinTimeout; }

    /**
     * The exchange of slice {@code rank} of a replica's group. Stream ids come from the replica and the group's
     * slices, so a group placed again (other slices) never reads its predecessor's streams.
     */
    public AeronTensorExchange exchange(String replica, PlacementPlanner.Assignment group, int rank, Path file, EngineOptions options)
            throws IOException {
        int maxFloats;
        try (GgufFile f = GgufFile.open(file)) {
            maxFloats = LocalTensorGroup.maxMessageFloats(LlamaConfig.from(f), options);
        }
        List<PlacementPlanner.GroupSlice> slices = group.group();
        boolean local = true;
        for (PlacementPlanner.GroupSlice g : slices) local &= g.node().equals(self);
        AeronTensorExchange.Channels channels;
        if (local) {
            channels = AeronTensorExchange.Channels.ipc(slices.size());
        } else {
            String[] endpoints = new String[slices.size()];
            for (int r = 0; r < endpoints.length; r++) {
                String node = slices.get(r).node();
                endpoints[r] = node.equals(self) ? endpoint : endpointOf.apply(node);
                if (endpoints[r] == null) throw new IOException("node " + node + " announces no tensor-parallel endpoint");
            }
            channels = AeronTensorExchange.Channels.udp(endpoints, rank);
        }
        int streamBase = 16 * (1 + Math.floorMod((replica + "|" + slices).hashCode(), 1 << 24));
        return new AeronTensorExchange(transport().aeron(), channels, rank, slices.size(), streamBase, maxFloats,
                TensorTransport.idleStrategy(), peerTimeout.toNanos());
    }

    private synchronized TensorTransport transport() throws IOException {
        if (closed) throw new IOException("this node is shutting down");
        if (transport == null) transport = TensorTransport.start(dir, Math.min(peerTimeout.toNanos(), TimeUnit.SECONDS.toNanos(3)));
        return transport;
    }

    @Override
    public synchronized void close() {
        closed = true;
        if (transport != null) transport.close();
    }
}
