package dev.troupe.sharding.wire;

import static org.junit.jupiter.api.Assertions.*;

import com.typesafe.config.ConfigFactory;
import dev.troupe.actors.registry.ModelRegistry;
import dev.troupe.actors.wire.CrossNode;
import dev.troupe.sharding.TestCluster;
import java.time.Duration;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Two actor systems in one cluster over Artery TCP on loopback: an unregistered message sent to an actor on
 * the other node never arrives (and is logged), while registered messages sent right after it do, replies
 * included: one bad message costs only itself, never the association.
 */
class WireAcrossNodesTest {
    private TestCluster cluster;

    @AfterEach
    void stop() {
        if (cluster != null) cluster.close();
    }

    @Test
    void anUnregisteredMessageIsDroppedAndTheNextOneArrives() throws Exception {
        cluster = TestCluster.start(2, "wire", ConfigFactory.empty());
        ActorSystem<Void> a = cluster.node(0), b = cluster.node(1);

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
        assertEquals(2, TestCluster.upMembers(a));
        assertEquals(2, TestCluster.upMembers(b));
        assertTrue(Cluster.get(a).state().getUnreachable().isEmpty(), "unreachable: " + Cluster.get(a).state().getUnreachable());
        fromA.tell(new ModelRegistry.Reply.Rejected("still here"));
        received.expectMessage(Duration.ofSeconds(10), new ModelRegistry.Reply.Rejected("still here"));
    }
}
