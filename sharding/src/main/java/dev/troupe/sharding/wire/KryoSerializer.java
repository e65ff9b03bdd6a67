package dev.troupe.sharding.wire;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import com.esotericsoftware.kryo.util.Pool;
import dev.troupe.actors.wire.CrossNode;
import java.util.function.Supplier;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.JSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Pekko serializer of everything that crosses nodes ({@link CrossNode}, bound as {@code troupe-kryo} in
 * this module's {@code reference.conf}): Kryo with required registration over {@link WireClasses}.
 *
 * <p>A class that is not registered is refused both ways: serializing throws (Pekko's remoting logs it and
 * drops that one message; the association to the other node stays up), and bytes naming an unknown class id,
 * or any class by name, throw before anything is instantiated. Each refusal also logs one ERROR line here
 * naming the class, so a forgotten registration is obvious.
 */
public final class KryoSerializer extends JSerializer {
    /** Fixed: it is written with every message, so it must never change. */
    public static final int IDENTIFIER = 740_001;

    private static final Logger log = LoggerFactory.getLogger(KryoSerializer.class);
    private static final String HOW = "append it to " + WireClasses.class.getName() + ".ALL";

    private final Pool<Kryo> pool;

    public KryoSerializer(ExtendedActorSystem system) {
        Supplier<ActorRefResolver> resolver = new Supplier<>() {
            // Resolved on first use: the serializer is created while the actor system is still starting.
            private volatile ActorRefResolver value;

            @Override
            public ActorRefResolver get() {
                ActorRefResolver r = value;
                if (r == null) value = r = ActorRefResolver.get(Adapter.toTyped(system));
                return r;
            }
        };
        this.pool = new Pool<>(true, false, 64) {
            @Override
            protected Kryo create() {
                return new WireKryo(resolver);
            }
        };
    }

    @Override
    public int identifier() {
        return IDENTIFIER;
    }

    @Override
    public boolean includeManifest() {
        return false; // Kryo writes the registered class id itself
    }

    @Override
    public byte[] toBinary(Object message) {
        Kryo kryo = pool.obtain();
        try {
            Output out = new Output(256, -1);
            kryo.writeClassAndObject(out, message);
            byte[] bytes = out.toBytes();
            pool.free(kryo);
            return bytes;
        } catch (RuntimeException e) {
            // The failed Kryo is dropped rather than pooled; the pool makes a fresh one when needed.
            UnregisteredClassException refused = refusal(e);
            if (refused != null) {
                log.error("Refused to serialize {} for another node: {} is not registered for the wire ({})",
                        message.getClass().getName(), refused.what(), HOW);
            }
            throw e;
        }
    }

    @Override
    public Object fromBinaryJava(byte[] bytes, Class<?> manifest) {
        Object message = decode(bytes);
        if (!(message instanceof CrossNode)) {
            String what = message == null ? "null" : message.getClass().getName();
            log.error("Refused a message of {} bytes from another node: it is a {}, not a {}", bytes.length, what, CrossNode.class.getName());
            throw new IllegalArgumentException("not a cross-node message: " + what);
        }
        return message;
    }

    /** Any registered value, also one that is only ever a field of a message. */
    Object decode(byte[] bytes) {
        Kryo kryo = pool.obtain();
        try {
            Object message = kryo.readClassAndObject(new Input(bytes));
            pool.free(kryo);
            return message;
        } catch (RuntimeException e) {
            UnregisteredClassException refused = refusal(e);
            if (refused != null) {
                log.error("Refused a message of {} bytes from another node: it names {}, which is not registered for the wire ({})",
                        bytes.length, refused.what(), HOW);
            }
            throw e;
        }
    }

    private static UnregisteredClassException refusal(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof UnregisteredClassException u) return u;
        }
        return null;
    }
}
