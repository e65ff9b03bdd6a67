package dev.troupe.sharding;

import dev.troupe.actors.wire.CrossNode;

import java.util.List;

/**
 * A worker's slice as its node announces it: a device share (on a CPU node, a memory budget and engine
 * threads) that hosts replicas; reservedBytes and replicas are what its {@link dev.troupe.actors.slice.GpuSlice}
 * granted to the replicas loaded (or loading) on it.
 */
public record SliceInfo(String id, String node, long memoryBytes, long reservedBytes, int threads, List<String> replicas) implements CrossNode {
    public SliceInfo {
        replicas = List.copyOf(replicas);
    }
}
