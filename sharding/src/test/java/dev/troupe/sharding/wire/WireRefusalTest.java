package dev.troupe.sharding.wire;

import static org.junit.jupiter.api.Assertions.*;

import com.esotericsoftware.kryo.io.Output;
import dev.troupe.actors.tenant.Tenant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.SerializationExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Required registration, both ways: an unregistered class is refused with one ERROR line naming it, and bytes
 * that name an unregistered class are refused before anything is loaded or instantiated.
 */
class WireRefusalTest {
    static ActorTestKit testKit;
    static KryoSerializer serializer;

    @BeforeAll
    static void start() {
        testKit = ActorTestKit.create();
        serializer = (KryoSerializer) SerializationExtension.get(Adapter.toClassic(testKit.system()))
                .serializerByIdentity().apply(KryoSerializer.IDENTIFIER);
    }

    @AfterAll
    static void stop() {
        testKit.shutdownTestKit();
    }

    private static int id(Class<?> type) {
        return WireClasses.ALL.stream().filter(e -> e.type() == type).findFirst().orElseThrow().id();
    }

    @Test
    void anUnregisteredMessageIsRefusedWithALogLineNamingIt() {
        try (LogCapture log = new LogCapture()) {
            UnregisteredClassException e = assertThrows(UnregisteredClassException.class, () -> serializer.toBinary(new NotOnTheList("hi")));
            assertEquals("class " + NotOnTheList.class.getName(), e.what());
            assertEquals(1, log.errors().size(), log.errors().toString());
            String line = log.errors().get(0);
            assertTrue(line.contains(NotOnTheList.class.getName()) && line.contains("WireClasses"), line);
        }
    }

    @Test
    void anUnregisteredFieldValueIsRefusedNamingItsClass() {
        // Collections.unmodifiableList is not registered (Kryo could not rebuild it): the message names the culprit.
        ActorRef<Tenant.Reply> replyTo = testKit.<Tenant.Reply>createTestProbe().ref();
        List<String> models = Collections.unmodifiableList(new ArrayList<>(List.of("m1")));
        try (LogCapture log = new LogCapture()) {
            assertThrows(UnregisteredClassException.class,
                    () -> serializer.toBinary(new Tenant.Update("admin", null, null, models, replyTo)));
            String line = log.errors().get(0);
            assertTrue(line.contains(Tenant.Update.class.getName()) && line.contains(models.getClass().getName()), line);
        }
    }

    @Test
    void aClassSentByNameIsNeverLoadedNorInstantiated() {
        Output out = new Output(64, -1);
        out.writeVarInt(1, true);  // Kryo's "class follows by name"
        out.writeVarInt(0, true);  // the name's id within the stream
        out.writeString(Dangerous.class.getName());
        assertRefusedUntouched(out.toBytes(), "class '" + Dangerous.class.getName() + "' (sent by name)");
    }

    @Test
    void aClassNamedInsideARegisteredCollectionIsRefusedToo() {
        Output out = new Output(64, -1);
        out.writeVarInt(id(ArrayList.class) + 2, true);
        out.writeVarIntFlag(true, 1 + 1, true); // one element, all of one class...
        out.writeVarInt(1, true);               // ...which is given by name
        out.writeVarInt(0, true);
        out.writeString(Dangerous.class.getName());
        assertRefusedUntouched(out.toBytes(), "class '" + Dangerous.class.getName() + "' (sent by name)");
    }

    @Test
    void anUnknownClassIdIsRefused() {
        Output out = new Output(64, -1);
        out.writeVarInt(4711 + 2, true);
        out.writeString("payload");
        assertRefusedUntouched(out.toBytes(), "unknown class id 4711");
    }

    @Test
    void aRegisteredClassThatIsNotAMessageIsRefusedAtTheTop() {
        byte[] bytes = serializer.toBinary(new ArrayList<>(List.of("x")));
        try (LogCapture log = new LogCapture()) {
            assertThrows(IllegalArgumentException.class, () -> serializer.fromBinary(bytes));
            assertTrue(log.errors().get(0).contains("java.util.ArrayList"), log.errors().toString());
        }
    }

    @Test
    void theSerializerStillWorksAfterARefusal() {
        assertThrows(UnregisteredClassException.class, () -> serializer.toBinary(new NotOnTheList("x")));
        Tenant.Reply.Rejected ok = new Tenant.Reply.Rejected(Tenant.Why.INVALID, "after");
        assertEquals(ok, serializer.fromBinary(serializer.toBinary(ok)));
    }

    private static void assertRefusedUntouched(byte[] bytes, String what) {
        try (LogCapture log = new LogCapture()) {
            UnregisteredClassException e = assertThrows(UnregisteredClassException.class, () -> serializer.fromBinary(bytes));
            assertEquals(what, e.what());
            assertEquals(1, log.errors().size(), log.errors().toString());
            assertTrue(log.errors().get(0).contains(what) && log.errors().get(0).contains("WireClasses"), log.errors().get(0));
        }
        assertFalse(DangerFlag.TOUCHED.get(), "Dangerous was initialised or instantiated");
    }
}
