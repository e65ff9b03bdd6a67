package dev.troupe.sharding.wire;

import com.esotericsoftware.kryo.KryoException;

/**
 * A class (or, on the way in, a class id or name) that is not in {@link WireClasses}. Extends
 * {@link KryoException} so Kryo's serializers pass it up unchanged, adding the field path to its message.
 */
public final class UnregisteredClassException extends KryoException {
    private final String what;

    UnregisteredClassException(String what) {
        super(what + " is not registered in " + WireClasses.class.getName());
        this.what = what;
    }

    /** The refused class, e.g. {@code class com.example.Foo} or {@code unknown class id 4711}. */
    public String what() {
        return what;
    }
}
