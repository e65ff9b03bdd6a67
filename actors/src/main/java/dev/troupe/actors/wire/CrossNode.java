package dev.troupe.actors.wire;

/**
 * Marker for every message that crosses nodes: commands and replies of sharded entities, published
 * changes, anything an actor may receive from another node. Bound to the {@code troupe-kryo} serializer
 * (the sharding module's {@code reference.conf}), which accepts only the classes listed in
 * {@code dev.troupe.sharding.wire.WireClasses}: a class that implements this marker must also be appended
 * there (a test fails the build otherwise), together with the types its fields carry.
 *
 * <p>Never implement both this and {@code JsonSerializable} (journal events and snapshots): Pekko would
 * have two bindings for the class and pick one with no more than a warning. A snapshot type that also travels inside
 * a message stays {@code JsonSerializable} and is simply registered in {@code WireClasses} as a field type.
 */
public interface CrossNode {}
