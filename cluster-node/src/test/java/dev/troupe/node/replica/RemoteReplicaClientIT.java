package dev.troupe.node.replica;

import dev.troupe.actors.replica.ReplicaClient;
import dev.troupe.actors.replica.StepLoop;
import dev.troupe.sharding.ReplicaSharding;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * The contract on a replica of another node: two actor systems in one cluster (Artery on loopback), the
 * step loop on node B, the client on node A; every command and event crosses the wire (Kryo).
 */
class RemoteReplicaClientIT extends ReplicaClientContract {
    private static InProcessCluster cluster;
    private static ReplicaSharding shardingA;
    private static ReplicaSharding shardingB;

    @BeforeAll
    static void cluster() throws Exception {
        cluster = InProcessCluster.start(2);
        shardingA = new ReplicaSharding(cluster.node(0));
        shardingB = new ReplicaSharding(cluster.node(1));
    }

    @AfterAll
    static void stop() throws Exception {
        if (cluster != null) cluster.close();
    }

    @Override
    ReplicaClient clientFor(StepLoop loop, String name) {
        shardingB.registerLocal("contract", name, loop);
        return shardingA.client(shardingB.selfNode(), ReplicaSharding.replicaName("contract", name));
    }

    @Override
    String expectedNode() {
        return shardingB.selfNode();
    }
}
