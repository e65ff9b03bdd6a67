package dev.troupe.sharding;

import dev.troupe.actors.wire.CrossNode;

/** A worker's slice as its node announces it: a device share (on a CPU node, a memory budget) that hosts replicas. */
public record SliceInfo(String id, String node, long memoryBytes) implements CrossNode {}
