package dev.troupe.engine.tp;

import io.aeron.Aeron;
import io.aeron.driver.MediaDriver;
import io.aeron.driver.ThreadingMode;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.IdleStrategy;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The Aeron media driver and client that carry a process's tensor-parallel exchanges, apart from the one
 * cluster remoting uses: its own directory, one shared driver thread (IPC needs the driver only to set
 * streams up; UDP sends and receives through it). A lost UDP peer is noticed within the image liveness
 * timeout.
 */
public final class TensorTransport implements AutoCloseable {
    private final MediaDriver driver;
    private final Aeron aeron;

    private TensorTransport(MediaDriver driver, Aeron aeron) {
        this.driver = driver;
        this.aeron = aeron;
    }

    /** Starts a driver in {@code dir} (removed again on close) and connects a client to it. */
    public static TensorTransport start(Path dir, long peerLivenessNs) {
        MediaDriver.Context ctx = new MediaDriver.Context()
                .aeronDirectoryName(dir.toString())
                .threadingMode(ThreadingMode.SHARED)
                .sharedIdleStrategy(new BackoffIdleStrategy(10, 20, TimeUnit.MICROSECONDS.toNanos(1), TimeUnit.MICROSECONDS.toNanos(20)))
                .imageLivenessTimeoutNs(peerLivenessNs)
                .publicationConnectionTimeoutNs(Math.max(peerLivenessNs, TimeUnit.SECONDS.toNanos(1)))
                .dirDeleteOnStart(true)
                .dirDeleteOnShutdown(true)
                .spiesSimulateConnection(false);
        MediaDriver driver = MediaDriver.launchEmbedded(ctx);
        try {
            Aeron aeron = Aeron.connect(new Aeron.Context().aeronDirectoryName(driver.aeronDirectoryName()));
            return new TensorTransport(driver, aeron);
        } catch (RuntimeException e) {
            driver.close();
            throw e;
        }
    }

    public Aeron aeron() { return aeron; }

    /**
     * How a slice waits for its peers (and a follower for its next step): a short spin, then yields, then
     * parks of up to 100 µs. A small machine's cores are the engine's; busy-spinning would take them from it.
     */
    public static IdleStrategy idleStrategy() {
        return new BackoffIdleStrategy(100, 1000, TimeUnit.MICROSECONDS.toNanos(1), TimeUnit.MICROSECONDS.toNanos(50));
    }

    @Override
    public void close() {
        aeron.close();
        driver.close();
    }
}
