package dev.troupe.sharding;

import com.typesafe.config.ConfigFactory;
import dev.troupe.actors.slice.GpuSlice;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Slices as entities pinned to their node, reached from another node over the wire: node A runs two slices,
 * node B none; B reserves and releases A's memory, A announces what its slices granted.
 */
class SliceShardingTest {
    private static final long GB = 1L << 30;
    private static TestCluster cluster;
    private static SliceSharding a;
    private static SliceSharding b;

    @BeforeAll
    static void start() throws Exception {
        cluster = TestCluster.start(2, "slices", ConfigFactory.empty());
        a = new SliceSharding(cluster.node(0), List.of(new SliceSharding.Spec(4 * GB, 2), new SliceSharding.Spec(4 * GB, 2)));
        b = new SliceSharding(cluster.node(1), List.of());
    }

    @AfterAll
    static void stop() {
        if (cluster != null) cluster.close();
    }

    private static GpuSlice.ReserveReply reserve(SliceSharding from, String slice, String replica, long bytes) throws Exception {
        return from.reserve(slice, replica, bytes).toCompletableFuture().get(20, TimeUnit.SECONDS);
    }

    @Test
    void anotherNodeReservesAndReleasesAWorkersSliceAndTheWorkerAnnouncesIt() throws Exception {
        String slice0 = a.localIds().get(0);
        assertEquals(List.of(slice0, slice0.substring(0, slice0.length() - 1) + "1"), a.localIds());
        assertEquals(List.of(), b.localIds());
        assertEquals(new GpuSlice.Granted(slice0, "m@v1", 2), reserve(b, slice0, "m@v1", 3 * GB));
        GpuSlice.Refused refused = assertInstanceOf(GpuSlice.Refused.class, reserve(b, slice0, "m@v2", 2 * GB));
        assertEquals(GB, refused.freeBytes());
        // The other slice of the node has its own memory.
        assertInstanceOf(GpuSlice.Granted.class, reserve(b, a.localIds().get(1), "m@v2", 2 * GB));

        SliceInfo announced = a.announced().get(0);
        assertEquals(new SliceInfo(slice0, slice0.substring(0, slice0.indexOf('/')), 4 * GB, 3 * GB, 2, List.of("m@v1")), announced);
        assertEquals(Map.of("m@v1", 3 * GB), b.status(slice0).toCompletableFuture().get(20, TimeUnit.SECONDS).reservations());

        b.release(slice0, "m@v1");
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (a.announced().get(0).reservedBytes() != 0 && System.nanoTime() < until) Thread.sleep(20);
        assertEquals(0, a.announced().get(0).reservedBytes());
        assertInstanceOf(GpuSlice.Granted.class, reserve(b, slice0, "m@v2", 4 * GB));
    }

    @Test
    void aSliceTheNodeDoesNotHaveRefusesEverything() throws Exception {
        String node = a.localIds().get(0).substring(0, a.localIds().get(0).indexOf('/'));
        GpuSlice.Refused r = assertInstanceOf(GpuSlice.Refused.class, reserve(b, node + "/7", "m@v1", 1));
        assertTrue(r.reason().contains("does not exist"), r.reason());
    }
}
