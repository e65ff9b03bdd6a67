package dev.troupe.sharding.wire;

import static org.junit.jupiter.api.Assertions.*;

import dev.troupe.actors.registry.ModelRegistry;
import dev.troupe.actors.tenant.Tenant;
import dev.troupe.actors.wire.CrossNode;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.apache.pekko.serialization.jackson.JacksonJsonSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Every registered class survives the trip with representative values, through the serializer Pekko picks. */
class WireRoundTripTest {
    static ActorTestKit testKit;
    static Serialization serialization;
    static ActorRef<Object> ref;

    @BeforeAll
    static void start() {
        testKit = ActorTestKit.create();
        serialization = SerializationExtension.get(Adapter.toClassic(testKit.system()));
        ref = testKit.<Object>createTestProbe().ref();
    }

    @AfterAll
    static void stop() {
        testKit.shutdownTestKit();
    }

    private static KryoSerializer kryo() {
        return (KryoSerializer) serialization.serializerByIdentity().apply(KryoSerializer.IDENTIFIER);
    }

    @Test
    void everyRegisteredClassHasASample() {
        List<Object> samples = WireSamples.all(ref);
        for (WireClasses.Entry e : WireClasses.ALL) {
            assertTrue(samples.stream().anyMatch(s -> e.type() == ActorRef.class ? e.type().isInstance(s) : s.getClass() == e.type()),
                    () -> e.type().getName() + " is registered but WireSamples has no value of it");
        }
    }

    @Test
    void crossNodeMessagesGoThroughKryoAndComeBackEqual() throws Exception {
        int messages = 0;
        for (Object sample : WireSamples.all(ref)) {
            if (!(sample instanceof CrossNode)) continue;
            messages++;
            Serializer chosen = serialization.findSerializerFor(sample);
            assertEquals(KryoSerializer.IDENTIFIER, chosen.identifier(), () -> sample.getClass().getName() + " is bound to " + chosen);
            byte[] bytes = serialization.serialize(sample).get();
            Object back = serialization.deserialize(bytes, KryoSerializer.IDENTIFIER, "").get();
            assertTrue(sameValue(sample, back), () -> sample.getClass().getName() + ": " + sample + " came back as " + back);
        }
        assertTrue(messages >= 28, "only " + messages + " message samples");
    }

    @Test
    void everyRegisteredValueComesBackEqualAndOfTheSameClass() {
        for (Object sample : WireSamples.all(ref)) {
            Object back = kryo().decode(kryo().toBinary(sample));
            assertTrue(sameValue(sample, back), () -> sample.getClass().getName() + ": " + sample + " came back as " + back);
            assertEquals(sample.getClass(), back.getClass());
        }
    }

    @Test
    void anActorRefStillReachesItsActor() {
        var probe = testKit.<ModelRegistry.Reply>createTestProbe();
        var back = (ModelRegistry.GetState) kryo().decode(kryo().toBinary(new ModelRegistry.GetState(probe.ref())));
        back.replyTo().tell(new ModelRegistry.Reply.Rejected("hello"));
        probe.expectMessage(new ModelRegistry.Reply.Rejected("hello"));
    }

    @Test
    void journalEventsAndSnapshotsStayJson() {
        for (Object o : List.of(new Tenant.KeyRevoked(Instant.EPOCH, "admin", "k1"), Tenant.State.empty("acme"), ModelRegistry.State.EMPTY)) {
            assertInstanceOf(JacksonJsonSerializer.class, serialization.findSerializerFor(o), o.getClass().getName());
        }
    }

    /** Equal values: records component by component and arrays element by element (a record's equals compares arrays by identity). */
    static boolean sameValue(Object a, Object b) {
        if (a == null || b == null) return a == b;
        if (a.getClass() != b.getClass()) return false;
        if (a.getClass().isArray()) {
            int n = java.lang.reflect.Array.getLength(a);
            if (n != java.lang.reflect.Array.getLength(b)) return false;
            for (int i = 0; i < n; i++) if (!sameValue(java.lang.reflect.Array.get(a, i), java.lang.reflect.Array.get(b, i))) return false;
            return true;
        }
        if (a instanceof List<?> la) {
            List<?> lb = (List<?>) b;
            if (la.size() != lb.size()) return false;
            for (int i = 0; i < la.size(); i++) if (!sameValue(la.get(i), lb.get(i))) return false;
            return true;
        }
        if (a.getClass().isRecord()) {
            try {
                for (var c : a.getClass().getRecordComponents()) {
                    if (!sameValue(c.getAccessor().invoke(a), c.getAccessor().invoke(b))) return false;
                }
                return true;
            } catch (ReflectiveOperationException e) {
                throw new AssertionError(e);
            }
        }
        return Objects.deepEquals(a, b);
    }
}
