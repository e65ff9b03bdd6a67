package dev.troupe.node.replica;

import dev.troupe.actors.replica.LocalReplicaClient;
import dev.troupe.actors.replica.ReplicaClient;
import dev.troupe.actors.replica.StepLoop;

/** The contract on a replica of this node: the step loop called directly. */
class LocalReplicaClientIT extends ReplicaClientContract {
    @Override
    ReplicaClient clientFor(StepLoop loop, String name) {
        return new LocalReplicaClient(name, "127.0.0.1:1", loop);
    }

    @Override
    String expectedNode() {
        return "127.0.0.1:1";
    }
}
