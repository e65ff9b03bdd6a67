package dev.troupe.sharding.wire;

import static org.junit.jupiter.api.Assertions.*;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.troupe.actors.registry.ModelRegistry;
import dev.troupe.actors.wire.CrossNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.StreamSupport;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Two actor systems in one cluster over Artery TCP on loopback: an unregistered message sent to an actor on
 * the other node never arrives (and is logged), while registered messages sent right after it do, replies
 * included: one bad message costs only itself, never the association.
 */
class WireAcrossNodesTest {
    private static final Config CONFIG = ConfigFactory.parseString("""
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
            """).withFallback(ConfigFactory.load());

    private final List<ActorSystem<Void>> systems = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (ActorSystem<Void> s : systems) s.terminate();
        for (ActorSystem<Void> s : systems) s.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    private ActorSystem<Void> node() {
        ActorSystem<Void> s = ActorSystem.create(Behaviors.empty(), "wire", CONFIG);
        systems.add(s);
        return s;
    }

    private static void awaitUp(ActorSystem<?> s, int members) throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (upMembers(s) < members) {
            assertTrue(System.nanoTime() < until, "the cluster did not form: " + Cluster.get(s).state().getMembers());
            Thread.sleep(20);
        }
    }

    private static long upMembers(ActorSystem<?> s) {
        return StreamSupport.stream(Cluster.get(s).state().getMembers().spliterator(), false)
                .filter(m -> m.status() == MemberStatus.up()).count();
    }

    @Test
    void anUnregisteredMessageIsDroppedAndTheNextOneArrives() throws Exception {
        ActorSystem<Void> a = node(), b = node();
        Cluster.get(a).manager().tell(Join.create(Cluster.get(a).selfMember().address()));
        Cluster.get(b).manager().tell(Join.create(Cluster.get(a).selfMember().address()));
        awaitUp(a, 2);
        awaitUp(b, 2);

        // On b: an actor that hands what it receives to a probe and answers GetState.
        TestProbe<CrossNode> received = TestProbe.create(b);
        ActorRef<CrossNode> onB = b.systemActorOf(Behaviors.<CrossNode>receiveMessage(m -> {
            received.ref().tell(m);
            if (m instanceof ModelRegistry.GetState g) g.replyTo().tell(new ModelRegistry.Reply.Rejected("pong"));
            return Behaviors.same();
        }), "inbox", Props.empty());
        // On a: the same actor, addressed across the wire.
        ActorRef<CrossNode> fromA = ActorRefResolver.get(a).resolveActorRef(ActorRefResolver.get(b).toSerializationFormat(onB));
        assertNotEquals(a.address(), fromA.path().address(), "the ref must be remote");
        TestProbe<ModelRegistry.Reply> replies = TestProbe.create(a);

        try (LogCapture log = new LogCapture()) {
            fromA.tell(new NotOnTheList("must not arrive"));
            fromA.tell(new ModelRegistry.Reply.Rejected("arrives"));
            fromA.tell(new ModelRegistry.GetState(replies.ref()));

            // In order on one association: had the first message arrived, it would come first.
            received.expectMessage(Duration.ofSeconds(10), new ModelRegistry.Reply.Rejected("arrives"));
            assertInstanceOf(ModelRegistry.GetState.class, received.receiveMessage(Duration.ofSeconds(10)));
            replies.expectMessage(Duration.ofSeconds(10), new ModelRegistry.Reply.Rejected("pong"));
            received.expectNoMessage(Duration.ofMillis(300));

            assertTrue(log.errors().stream().anyMatch(l -> l.contains(NotOnTheList.class.getName()) && l.contains("WireClasses")),
                    log.errors().toString());
        }
        // Nobody was marked unreachable or removed: the cluster carries on.
        assertEquals(2, upMembers(a));
        assertEquals(2, upMembers(b));
        assertTrue(Cluster.get(a).state().getUnreachable().isEmpty(), "unreachable: " + Cluster.get(a).state().getUnreachable());
        fromA.tell(new ModelRegistry.Reply.Rejected("still here"));
        received.expectMessage(Duration.ofSeconds(10), new ModelRegistry.Reply.Rejected("still here"));
    }
}
