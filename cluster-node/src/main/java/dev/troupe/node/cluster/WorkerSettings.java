package dev.troupe.node.cluster;

import com.typesafe.config.Config;
import dev.troupe.sharding.SliceSharding;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** A worker's slices and how placement runs ({@code troupe.worker}, {@code troupe.placement}). */
public record WorkerSettings(List<SliceSharding.Spec> slices, Duration placementTick, Duration placementSettle) {
    public WorkerSettings {
        for (SliceSharding.Spec s : slices) {
            if (s.memoryBytes() <= 0) throw new IllegalArgumentException("troupe.worker.slice-memory must be > 0 bytes");
            if (s.threads() < 1) throw new IllegalArgumentException("troupe.worker.slice-threads must be >= 1");
        }
        slices = List.copyOf(slices);
    }

    public static WorkerSettings from(Config c) {
        int n = c.getInt("troupe.worker.slices");
        if (n < 1) throw new IllegalArgumentException("troupe.worker.slices must be >= 1, got " + n);
        long each = c.getBytes("troupe.worker.slice-memory");
        if (each < 0) throw new IllegalArgumentException("troupe.worker.slice-memory must be >= 0, got " + each);
        if (each == 0) each = physicalMemory() * 8 / 10 / n;
        int threads = c.getInt("troupe.worker.slice-threads");
        if (threads < 0) throw new IllegalArgumentException("troupe.worker.slice-threads must be >= 0, got " + threads);
        if (threads == 0) {
            int engine = c.getInt("troupe.engine.threads");
            threads = Math.max(1, (engine > 0 ? engine : Runtime.getRuntime().availableProcessors()) / n);
        }
        List<SliceSharding.Spec> slices = new ArrayList<>();
        for (int i = 0; i < n; i++) slices.add(new SliceSharding.Spec(each, threads));
        return new WorkerSettings(slices, c.getDuration("troupe.placement.tick"), c.getDuration("troupe.placement.settle"));
    }

    private static long physicalMemory() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) return os.getTotalMemorySize();
        return Runtime.getRuntime().maxMemory();
    }
}
