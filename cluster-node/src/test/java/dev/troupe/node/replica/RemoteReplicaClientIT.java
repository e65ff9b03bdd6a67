package dev.troupe.node.replica;

import com.typesafe.config.ConfigFactory;
import dev.troupe.actors.replica.ReplicaClient;
import dev.troupe.actors.replica.StepLoop;
import dev.troupe.node.ServeCommand;
import dev.troupe.sharding.ReplicaSharding;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The contract on a replica of another node: two actor systems in one cluster (Artery on loopback), the
 * step loop on node B, the client on node A; every command and event crosses the wire (Kryo).
 */
class RemoteReplicaClientIT extends ReplicaClientContract {
    private static ActorSystem<Void> a;
    private static ActorSystem<Void> b;
    private static ReplicaSharding shardingA;
    private static ReplicaSharding shardingB;

    @BeforeAll
    static void cluster() throws Exception {
        a = node();
        b = node();
        Cluster ca = Cluster.get(a);
        ca.manager().tell(Join.create(ca.selfMember().address()));
        Cluster.get(b).manager().tell(Join.create(ca.selfMember().address()));
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (java.util.stream.StreamSupport.stream(ca.state().getMembers().spliterator(), false)
                .filter(m -> m.status() == MemberStatus.up()).count() < 2) {
            assertTrue(System.nanoTime() < until, "the cluster did not form");
            Thread.sleep(20);
        }
        shardingA = new ReplicaSharding(a);
        shardingB = new ReplicaSharding(b);
    }

    private static ActorSystem<Void> node() {
        return ActorSystem.create(Behaviors.empty(), "troupe",
                ConfigFactory.parseString("pekko.loglevel = WARNING").withFallback(ServeCommand.nodeDefaults()).resolve());
    }

    @AfterAll
    static void stop() throws Exception {
        // One after the other: two members leaving at once wait out the cluster-exiting phase.
        for (ActorSystem<Void> s : new ActorSystem[]{b, a}) {
            if (s == null) continue;
            s.terminate();
            s.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
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
