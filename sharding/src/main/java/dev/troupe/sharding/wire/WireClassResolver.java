package dev.troupe.sharding.wire;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Registration;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.util.DefaultClassResolver;

/**
 * Reads class references strictly by registered id. Kryo's default resolver also accepts a class written by
 * name and loads it with {@code Class.forName}; bytes from another node must never choose what this node
 * loads or instantiates, so a name is refused before it is looked up, as is an id nobody registered.
 */
final class WireClassResolver extends DefaultClassResolver {

    @Override
    public Registration readClass(Input input) {
        int classId = input.readVarInt(true);
        if (classId == Kryo.NULL) return null;
        if (classId == NAME + 2) {
            // The name is read only to say what was refused; it is never resolved.
            String name;
            try {
                input.readVarInt(true); // the name's id within the stream
                name = input.readString();
            } catch (RuntimeException e) {
                name = "<unreadable>";
            }
            throw new UnregisteredClassException("class '" + name + "' (sent by name)");
        }
        Registration registration = getRegistration(classId - 2);
        if (registration == null) throw new UnregisteredClassException("unknown class id " + (classId - 2));
        return registration;
    }
}
