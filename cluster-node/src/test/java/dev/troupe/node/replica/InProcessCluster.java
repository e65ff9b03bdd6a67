package dev.troupe.node.replica;

import com.typesafe.config.ConfigFactory;
import dev.troupe.node.ServeCommand;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Node actor systems in one JVM, one cluster over Artery TCP on loopback, with the node's own profile. */
final class InProcessCluster implements AutoCloseable {
    final List<ActorSystem<Void>> nodes = new ArrayList<>();

    static InProcessCluster start(int n) throws InterruptedException {
        InProcessCluster c = new InProcessCluster();
        for (int i = 0; i < n; i++) {
            c.nodes.add(ActorSystem.create(Behaviors.empty(), "troupe",
                    ConfigFactory.parseString("pekko.loglevel = WARNING").withFallback(ServeCommand.nodeDefaults()).resolve()));
        }
        Cluster first = Cluster.get(c.nodes.get(0));
        for (ActorSystem<Void> s : c.nodes) Cluster.get(s).manager().tell(Join.create(first.selfMember().address()));
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (java.util.stream.StreamSupport.stream(first.state().getMembers().spliterator(), false)
                .filter(m -> m.status() == MemberStatus.up()).count() < n) {
            assertTrue(System.nanoTime() < until, "the cluster did not form");
            Thread.sleep(20);
        }
        return c;
    }

    ActorSystem<Void> node(int i) {
        return nodes.get(i);
    }

    /** Stops the nodes one after the other (members leaving together wait out the cluster-exiting phase). */
    @Override
    public void close() throws Exception {
        for (int i = nodes.size() - 1; i >= 0; i--) {
            nodes.get(i).terminate();
            nodes.get(i).getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
    }
}
