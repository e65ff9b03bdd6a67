package dev.troupe.sharding;

import dev.troupe.actors.wire.CrossNode;

import java.util.List;

/**
 * What a node announces several times a second: its slices, its replicas with their load, where its HTTP API
 * is (empty when it serves none), the sha256s of the model files it can give to its peers, and the UDP
 * endpoint ("host:port") its tensor-parallel slices receive on (empty when it has none).
 */
public record NodeAnnouncement(String node, List<SliceInfo> slices, List<ReplicaStatus> replicas, String httpBase,
                               List<String> files, String tensorEndpoint) implements CrossNode {}
