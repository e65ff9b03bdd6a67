package dev.troupe.sharding.wire;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;

/** A typed ActorRef as its full path with address, resolved back to a (possibly remote) ref on this node. */
final class ActorRefSerializer extends Serializer<ActorRef<?>> {
    private final Supplier<ActorRefResolver> resolver;

    ActorRefSerializer(Supplier<ActorRefResolver> resolver) {
        super(false, true);
        this.resolver = resolver;
    }

    @Override
    public void write(Kryo kryo, Output output, ActorRef<?> ref) {
        output.writeString(resolver.get().toSerializationFormat(ref));
    }

    @Override
    public ActorRef<?> read(Kryo kryo, Input input, Class<? extends ActorRef<?>> type) {
        return resolver.get().resolveActorRef(input.readString());
    }
}
