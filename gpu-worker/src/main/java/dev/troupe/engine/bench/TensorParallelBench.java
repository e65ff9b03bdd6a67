package dev.troupe.engine.bench;

import dev.troupe.engine.Batch;
import dev.troupe.engine.EngineOptions;
import dev.troupe.engine.LlamaModel;
import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.kv.PagedKvCache;
import dev.troupe.engine.model.LlamaConfig;
import dev.troupe.engine.tp.AeronTensorExchange;
import dev.troupe.engine.tp.LocalTensorGroup;
import dev.troupe.engine.tp.TensorExchange;
import dev.troupe.engine.tp.TensorTransport;

import java.io.IOException;
import java.io.PrintStream;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

/**
 * What splitting a model costs and buys, in one run (JSON lines):
 * <ul>
 *   <li>{@code exchange}: one all-reduce of a [T][dim] partial sum between two slices (T = 1 and 8 tokens),
 *   p50 and p99 in microseconds, over Aeron IPC, Aeron UDP on loopback, and plain TCP sockets on loopback
 *   (each side writes its partial, reads the other's and adds them: what a straightforward socket
 *   implementation does);</li>
 *   <li>{@code decode}: decode tokens/s of the whole model (all threads) against the model split over
 *   slices in this process (the threads shared out), at batch 1 and 8, with the leader's share of step time
 *   spent in the exchange; the split model twice: rows that want all their logits (sampling) and rows that want
 *   only their argmax (greedy, {@link Batch#onlyArgmax}).</li>
 * </ul>
 * <pre>bin/troupe bench tp --model ../shared/models/random15M-f32.gguf --threads 2</pre>
 */
public final class TensorParallelBench {
    public static final String USAGE = "usage: bin/troupe bench tp --model FILE [--threads T] [--slices N] [--reps R] [--steps S] [--rounds K]\n\n"
            + "One all-reduce between two slices over Aeron IPC, Aeron UDP and plain TCP (p50/p99 us), and decode tokens/s of the\n"
            + "model whole against split over N slices in this process, with the share of each step spent exchanging (JSON lines):\n"
            + "the median of K rounds of S steps, a split group's rounds alternating rows that want all their logits and only their argmax.\n";

    public static int run(String[] args, PrintStream out, PrintStream err) {
        Path model = null;
        int threads = Runtime.getRuntime().availableProcessors(), slices = 2, reps = 3000, steps = 100, rounds = 5;
        try {
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--model": model = Path.of(args[++i]); break;
                    case "--threads": threads = Integer.parseInt(args[++i]); break;
                    case "--slices": slices = Integer.parseInt(args[++i]); break;
                    case "--reps": reps = Integer.parseInt(args[++i]); break;
                    case "--steps": steps = Integer.parseInt(args[++i]); break;
                    case "--rounds": rounds = Integer.parseInt(args[++i]); break;
                    case "--help": err.println(USAGE); return 0;
                    default: throw new IllegalArgumentException("unknown option " + args[i]);
                }
            }
            if (model == null) throw new IllegalArgumentException("--model is required");
        } catch (RuntimeException e) {
            err.println("bench tp: " + e.getMessage());
            err.println(USAGE);
            return 2;
        }
        Path dir = null;
        try {
            dir = Files.createTempDirectory("troupe-tp-bench");
            try (TensorTransport transport = TensorTransport.start(dir, TimeUnit.SECONDS.toNanos(3))) {
                int dim;
                try (GgufFile f = GgufFile.open(model)) {
                    dim = LlamaConfig.from(f).dim();
                }
                int stream = 100;
                for (int tokens : new int[] {1, 8}) {
                    int floats = tokens * dim;
                    out.println(exchangeLine("aeron-ipc", floats, aeronAllReduce(transport, rank -> AeronTensorExchange.Channels.ipc(2), stream, floats, reps)));
                    stream += 4;
                    String[] endpoints = {"127.0.0.1:" + freeUdpPort(), "127.0.0.1:" + freeUdpPort()};
                    out.println(exchangeLine("aeron-udp", floats, aeronAllReduce(transport, rank -> AeronTensorExchange.Channels.udp(endpoints, rank), stream, floats, reps)));
                    stream += 4;
                    out.println(exchangeLine("tcp", floats, tcpAllReduce(floats, reps)));
                }
                EngineOptions options = EngineOptions.defaults().withThreads(threads).withMaxSequences(8).withMaxBatchTokens(128).withKvCacheTokens(0);
                int n = slices;
                for (int batch : new int[] {1, 8}) {
                    try (LlamaModel whole = LlamaModel.load(model, options)) {
                        try (Decode d = new Decode(whole, batch, steps, () -> 0L, () -> 0L)) {
                            out.println(decodeLine(1, "-", batch, "full", d.median(rounds)));
                        }
                    }
                    try (LocalTensorGroup g = LocalTensorGroup.load(model, options, n, transport, stream, TimeUnit.SECONDS.toNanos(10))) {
                        splitLines(out, g, "aeron-ipc", batch, steps, rounds);
                    }
                    stream += 16;
                    String[] endpoints = new String[n];
                    for (int r = 0; r < n; r++) endpoints[r] = "127.0.0.1:" + freeUdpPort();
                    try (LocalTensorGroup g = LocalTensorGroup.load(model, options, n, transport, stream, TimeUnit.SECONDS.toNanos(10),
                            rank -> AeronTensorExchange.Channels.udp(endpoints, rank))) {
                        splitLines(out, g, "aeron-udp", batch, steps, rounds);
                    }
                    stream += 16;
                }
            }
            return 0;
        } catch (IOException | RuntimeException | InterruptedException e) {
            err.println("bench tp: failed: " + e);
            e.printStackTrace(err);
            return 1;
        } finally {
            if (dir != null) dir.toFile().delete();
        }
    }

    private static String exchangeLine(String transport, int floats, long[] nanos) {
        Arrays.sort(nanos);
        return String.format(Locale.ROOT, "{\"bench\":\"exchange\",\"transport\":\"%s\",\"floats\":%d,\"p50_us\":%.1f,\"p99_us\":%.1f}",
                transport, floats, nanos[nanos.length / 2] / 1e3, nanos[(int) (nanos.length * 0.99)] / 1e3);
    }

    /**
     * The split group's decode lines, rows wanting all their logits and rows wanting only their argmax, each the
     * median of {@code rounds} rounds taken in turns (so that the machine's drift falls on both alike).
     */
    private static void splitLines(PrintStream out, LocalTensorGroup g, String transport, int batch, int steps, int rounds) {
        double[][] full = new double[rounds][], argmax = new double[rounds][];
        try (Decode d = new Decode(g.leader(), batch, steps, g.exchange(0)::exchangeNanos, g.exchange(0)::gatherNanos)) {
            d.round(false);   // warms the JIT
            d.round(true);
            for (int r = 0; r < rounds; r++) {
                full[r] = d.round(false);
                argmax[r] = d.round(true);
            }
        }
        out.println(decodeLine(g.slices().size(), transport, batch, "full", median(full)));
        out.println(decodeLine(g.slices().size(), transport, batch, "argmax", median(argmax)));
    }

    /** The round of median tokens/s. */
    private static double[] median(double[][] rounds) {
        double[][] sorted = rounds.clone();
        Arrays.sort(sorted, java.util.Comparator.comparingDouble(r -> r[0]));
        return sorted[sorted.length / 2];
    }

    private static String decodeLine(int slices, String transport, int batch, String logits, double[] r) {
        return String.format(Locale.ROOT, "{\"bench\":\"decode\",\"slices\":%d,\"transport\":\"%s\",\"batch\":%d,\"logits\":\"%s\",\"tokens_per_s\":%.1f,"
                        + "\"step_ms\":%.3f,\"exchange_share\":%.3f,\"gather_share\":%.3f,\"step_exchange_p50_us\":%.1f,\"step_exchange_p99_us\":%.1f}",
                slices, transport, batch, logits, r[0], r[2] / 1e6, r[1], r[5], r[3] / 1e3, r[4] / 1e3);
    }

    /** Per-call times of rank 0's all-reduce with rank 1 running the same calls on another thread. */
    private static long[] aeronAllReduce(TensorTransport t, IntFunction<AeronTensorExchange.Channels> channels, int stream, int floats, int reps)
            throws InterruptedException {
        long timeout = TimeUnit.SECONDS.toNanos(10);
        try (AeronTensorExchange a = new AeronTensorExchange(t.aeron(), channels.apply(0), 0, 2, stream, floats, TensorTransport.idleStrategy(), timeout);
             AeronTensorExchange b = new AeronTensorExchange(t.aeron(), channels.apply(1), 1, 2, stream, floats, TensorTransport.idleStrategy(), timeout)) {
            if (!a.awaitConnected(timeout) || !b.awaitConnected(timeout)) throw new IllegalStateException("exchange did not connect");
            int warm = reps / 2;
            float[] bufB = new float[floats];
            Thread peer = new Thread(() -> {
                for (int i = 0; i < warm + reps; i++) {
                    if (b.allReduceSum(bufB, floats) != TensorExchange.OK) throw new IllegalStateException("peer all-reduce failed");
                }
            }, "bench-tp-peer");
            peer.start();
            float[] bufA = new float[floats];
            long[] nanos = new long[reps];
            for (int i = 0; i < warm + reps; i++) {
                Arrays.fill(bufA, 1f);
                long t0 = System.nanoTime();
                if (a.allReduceSum(bufA, floats) != TensorExchange.OK) throw new IllegalStateException("all-reduce failed");
                if (i >= warm) nanos[i - warm] = System.nanoTime() - t0;
            }
            peer.join();
            return nanos;
        }
    }

    /** The same all-reduce over a loopback TCP connection: write the partial, read the peer's, add. */
    private static long[] tcpAllReduce(int floats, int reps) throws IOException, InterruptedException {
        int warm = reps / 2;
        try (ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
            Thread peer = new Thread(() -> {
                try (SocketChannel c = SocketChannel.open(new InetSocketAddress(InetAddress.getLoopbackAddress(), port))) {
                    c.socket().setTcpNoDelay(true);
                    float[] buf = new float[floats];
                    TcpSide side = new TcpSide(c, floats);
                    for (int i = 0; i < warm + reps; i++) side.allReduce(buf, 1);
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            }, "bench-tcp-peer");
            peer.start();
            try (SocketChannel c = server.accept()) {
                c.socket().setTcpNoDelay(true);
                TcpSide side = new TcpSide(c, floats);
                float[] buf = new float[floats];
                long[] nanos = new long[reps];
                for (int i = 0; i < warm + reps; i++) {
                    Arrays.fill(buf, 1f);
                    long t0 = System.nanoTime();
                    side.allReduce(buf, 0);
                    if (i >= warm) nanos[i - warm] = System.nanoTime() - t0;
                }
                peer.join();
                return nanos;
            }
        }
    }

    /** One side of a two-party TCP all-reduce, sums in rank order as the Aeron exchange does. */
    private static final class TcpSide {
        private final SocketChannel channel;
        private final ByteBuffer outBuf, inBuf;

        TcpSide(SocketChannel channel, int floats) {
            this.channel = channel;
            this.outBuf = ByteBuffer.allocateDirect(4 * floats).order(ByteOrder.LITTLE_ENDIAN);
            this.inBuf = ByteBuffer.allocateDirect(4 * floats).order(ByteOrder.LITTLE_ENDIAN);
        }

        void allReduce(float[] buf, int rank) throws IOException {
            outBuf.clear();
            outBuf.asFloatBuffer().put(buf);
            outBuf.limit(4 * buf.length);
            while (outBuf.hasRemaining()) channel.write(outBuf);
            inBuf.clear();
            while (inBuf.hasRemaining()) if (channel.read(inBuf) < 0) throw new IOException("peer closed");
            inBuf.flip();
            for (int i = 0; i < buf.length; i++) {
                float other = inBuf.getFloat(4 * i);
                buf[i] = rank == 0 ? buf[i] + other : other + buf[i];
            }
        }
    }

    /**
     * Rounds of {@code steps} decode steps of {@code batch} sequences after a short prompt each (every round writes
     * the same positions again). A round answers tokens/s, the share of the time the leader spent in the exchange
     * (as {@code exchangeNanos} counts it), the median step (ns), the median and 99th percentile of one step's
     * exchange time (ns), and the share spent gathering logits.
     */
    private static final class Decode implements AutoCloseable {
        private final LlamaModel m;
        private final int batch, steps, prompt = 16;
        private final int[] seqs;
        private final Batch b;
        private final java.util.function.LongSupplier exchangeNanos, gatherNanos;

        Decode(LlamaModel m, int batch, int steps, java.util.function.LongSupplier exchangeNanos, java.util.function.LongSupplier gatherNanos) {
            this.m = m;
            this.batch = batch;
            this.steps = steps;
            this.exchangeNanos = exchangeNanos;
            this.gatherNanos = gatherNanos;
            PagedKvCache kv = m.kvCache();
            int vocab = m.vocabSize();
            seqs = new int[batch];
            for (int s = 0; s < batch; s++) {
                seqs[s] = kv.open();
                if (seqs[s] < 0 || !kv.reserve(seqs[s], prompt + steps)) throw new IllegalStateException("KV cache too small for the bench");
            }
            b = new Batch(m.maxBatchTokens());
            int[] tokens = new int[prompt];
            for (int i = 0; i < prompt; i++) tokens[i] = (i * 31 + 7) % vocab;
            for (int s = 0; s < batch; s++) {
                b.clear();
                b.addChunk(seqs[s], tokens, 0, prompt, 0, true);
                m.forward(b);
            }
        }

        /** The median of {@code rounds} rounds of whole rows (after one to warm the JIT). */
        double[] median(int rounds) {
            round(false);
            double[][] r = new double[rounds][];
            for (int i = 0; i < rounds; i++) r[i] = round(false);
            return TensorParallelBench.median(r);
        }

        /** One round; with argmaxOnly every row wants only its argmax. */
        double[] round(boolean argmaxOnly) {
            int vocab = m.vocabSize();
            long[] stepNanos = new long[steps], exchange = new long[steps];
            long t0 = System.nanoTime(), x0 = exchangeNanos.getAsLong(), g0 = gatherNanos.getAsLong();
            for (int step = 0; step < steps; step++) {
                b.clear();
                for (int s = 0; s < batch; s++) b.add(seqs[s], (step * 13 + s) % vocab, prompt + step, true);
                if (argmaxOnly) for (int r = 0; r < batch; r++) b.onlyArgmax(r);
                long s0 = System.nanoTime(), e0 = exchangeNanos.getAsLong();
                m.forward(b);
                stepNanos[step] = System.nanoTime() - s0;
                exchange[step] = exchangeNanos.getAsLong() - e0;
            }
            long elapsed = System.nanoTime() - t0;
            double share = (double) (exchangeNanos.getAsLong() - x0) / elapsed, gatherShare = (double) (gatherNanos.getAsLong() - g0) / elapsed;
            Arrays.sort(stepNanos);
            Arrays.sort(exchange);
            return new double[] {batch * steps / (elapsed / 1e9), share, stepNanos[steps / 2], exchange[steps / 2], exchange[(int) (steps * 0.99)], gatherShare};
        }

        @Override
        public void close() {
            for (int s : seqs) m.kvCache().release(s);
        }
    }

    private static int freeUdpPort() throws IOException {
        try (DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
