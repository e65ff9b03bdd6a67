package dev.troupe.sharding.wire;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Registration;
import com.esotericsoftware.kryo.util.DefaultInstantiatorStrategy;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.objenesis.strategy.StdInstantiatorStrategy;

/**
 * A Kryo that knows exactly the classes of {@link WireClasses}. Not thread-safe: {@link KryoSerializer} keeps
 * a pool of them.
 */
final class WireKryo extends Kryo {

    WireKryo(Supplier<ActorRefResolver> resolver) {
        super(new WireClassResolver(), null);
        setRegistrationRequired(true);
        // Messages are trees of immutable records: no shared or cyclic references to track.
        setReferences(false);
        // Records go through their canonical constructor (Kryo's RecordSerializer); this is for registered
        // final classes without a no-arg constructor.
        setInstantiatorStrategy(new DefaultInstantiatorStrategy(new StdInstantiatorStrategy()));
        addDefaultSerializer(ActorRef.class, new ActorRefSerializer(resolver));
        addDefaultSerializer(WireClasses.UNMODIFIABLE_MAP, new UnmodifiableMapSerializer());
        for (WireClasses.Entry e : WireClasses.ALL) register(e.type(), e.id());
    }

    /**
     * Every typed ActorRef implementation (ActorRefAdapter for actors and ask replies, the system itself,
     * whatever a Pekko release adds) shares the one registration of the ActorRef interface, since only its
     * path travels. Any other unregistered class is refused naming the class.
     */
    @Override
    public Registration getRegistration(Class type) {
        Registration registration = getClassResolver().getRegistration(type);
        if (registration != null) return registration;
        if (ActorRef.class.isAssignableFrom(type)) return getClassResolver().getRegistration(ActorRef.class);
        try {
            return super.getRegistration(type); // enum constants with bodies resolve to their enum here
        } catch (IllegalArgumentException unregistered) {
            throw new UnregisteredClassException("class " + type.getName());
        }
    }
}
