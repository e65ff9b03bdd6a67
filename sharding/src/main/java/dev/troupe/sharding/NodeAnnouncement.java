package dev.troupe.sharding;

import dev.troupe.actors.wire.CrossNode;

import java.util.List;

/** What a node announces several times a second: its slices and its replicas with their load. */
public record NodeAnnouncement(String node, List<SliceInfo> slices, List<ReplicaStatus> replicas) implements CrossNode {}
