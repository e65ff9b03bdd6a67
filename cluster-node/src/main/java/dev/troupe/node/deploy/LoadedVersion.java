package dev.troupe.node.deploy;

import dev.troupe.actors.replica.LocalReplicaClient;
import dev.troupe.actors.replica.StepLoop;
import dev.troupe.engine.LlamaModel;

/**
 * One version loaded on this node: its engine, the step loop that owns it, the replica that serves it, the
 * slice that granted its memory, and the exchange with the other slices of its group (null when whole).
 */
public record LoadedVersion(String version, LlamaModel engine, StepLoop loop, LocalReplicaClient replica, String slice,
                            dev.troupe.engine.tp.AeronTensorExchange exchange) {}
