package dev.troupe.node.cluster;

import com.typesafe.config.Config;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** A worker's slices and how placement runs ({@code troupe.worker}, {@code troupe.placement}). */
public record WorkerSettings(List<Long> sliceMemory, Duration placementTick, Duration placementSettle) {
    public WorkerSettings {
        for (long m : sliceMemory) if (m <= 0) throw new IllegalArgumentException("troupe.worker.slice-memory must be > 0 bytes");
        sliceMemory = List.copyOf(sliceMemory);
    }

    public static WorkerSettings from(Config c) {
        int n = c.getInt("troupe.worker.slices");
        if (n < 1) throw new IllegalArgumentException("troupe.worker.slices must be >= 1, got " + n);
        long each = c.getBytes("troupe.worker.slice-memory");
        if (each == 0) each = physicalMemory() * 8 / 10 / n;
        List<Long> slices = new ArrayList<>();
        for (int i = 0; i < n; i++) slices.add(each);
        return new WorkerSettings(slices, c.getDuration("troupe.placement.tick"), c.getDuration("troupe.placement.settle"));
    }

    private static long physicalMemory() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) return os.getTotalMemorySize();
        return Runtime.getRuntime().maxMemory();
    }
}
