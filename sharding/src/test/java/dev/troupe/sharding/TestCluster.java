package dev.troupe.sharding;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.StreamSupport;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;

/** Real actor systems in one JVM, clustered over Artery TCP on loopback (random ports), for tests. */
public final class TestCluster implements AutoCloseable {
    private static final Config BASE = ConfigFactory.parseString("""
            pekko.actor.provider = cluster
            pekko.remote.artery.transport = tcp
            pekko.remote.artery.canonical.hostname = "127.0.0.1"
            pekko.remote.artery.canonical.port = 0
            pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
            pekko.cluster.downing-provider-class = "org.apache.pekko.cluster.sbr.SplitBrainResolverProvider"
            pekko.coordinated-shutdown.exit-jvm = off
            pekko.loggers = ["org.apache.pekko.event.slf4j.Slf4jLogger"]
            pekko.logging-filter = "org.apache.pekko.event.slf4j.Slf4jLoggingFilter"
            pekko.log-dead-letters-during-shutdown = off
            """);

    private final List<ActorSystem<Void>> systems = new ArrayList<>();

    /** {@code n} systems named {@code name}, all members of the first one's cluster and up. */
    public static TestCluster start(int n, String name, Config extra) throws InterruptedException {
        TestCluster c = new TestCluster();
        Config config = extra.withFallback(BASE).withFallback(ConfigFactory.load()).resolve();
        for (int i = 0; i < n; i++) c.systems.add(ActorSystem.create(Behaviors.empty(), name, config));
        var seed = Cluster.get(c.systems.get(0)).selfMember().address();
        for (ActorSystem<Void> s : c.systems) Cluster.get(s).manager().tell(Join.create(seed));
        for (ActorSystem<Void> s : c.systems) c.awaitUp(s, n);
        return c;
    }

    public ActorSystem<Void> node(int i) {
        return systems.get(i);
    }

    public static long upMembers(ActorSystem<?> s) {
        return StreamSupport.stream(Cluster.get(s).state().getMembers().spliterator(), false)
                .filter(m -> m.status() == MemberStatus.up()).count();
    }

    private void awaitUp(ActorSystem<?> s, int members) throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (upMembers(s) < members) {
            if (System.nanoTime() > until) {
                close();
                throw new AssertionError("the cluster did not form: " + Cluster.get(s).state().getMembers());
            }
            Thread.sleep(20);
        }
    }

    /** Terminates every system, waiting at most 30 s for each. */
    @Override
    public void close() {
        for (ActorSystem<Void> s : systems) s.terminate();
        for (ActorSystem<Void> s : systems) {
            try {
                s.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                throw new IllegalStateException("an actor system did not stop in 30 s", e);
            }
        }
    }
}
