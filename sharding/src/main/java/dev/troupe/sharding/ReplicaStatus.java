package dev.troupe.sharding;

import dev.troupe.actors.wire.CrossNode;

/**
 * What a node announces of one of its replicas, several times a second: which model version it serves,
 * whether it takes requests, and its load (sequences queued and running, KV blocks free of total).
 * ready = false announces that the replica is gone or draining.
 */
public record ReplicaStatus(String node, String name, String model, String version, boolean ready, int queued, int running,
                            int kvFree, int kvTotal) implements CrossNode {
    /** Unique in the cluster: the replica's entity id. */
    public String id() {
        return ReplicaSharding.entityId(node, name);
    }
}
