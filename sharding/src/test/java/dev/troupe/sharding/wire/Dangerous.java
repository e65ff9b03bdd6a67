package dev.troupe.sharding.wire;

import dev.troupe.actors.wire.CrossNode;

/**
 * Stands for a class that must never be instantiated from bytes another node sent (a deserialization
 * gadget): its static initialiser and its constructors raise {@link DangerFlag}. Never registered.
 */
public final class Dangerous implements CrossNode {
    static {
        DangerFlag.TOUCHED.set(true);
    }

    public Dangerous() {
        DangerFlag.TOUCHED.set(true);
    }
}
