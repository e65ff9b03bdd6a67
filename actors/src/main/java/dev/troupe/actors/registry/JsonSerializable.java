package dev.troupe.actors.registry;

/**
 * Marker for everything the entities write to the journal or the snapshot store. Bound to Pekko's
 * {@code jackson-json} serializer in this module's {@code reference.conf} (only marked classes are accepted),
 * so journals are plain JSON and stay readable across releases (add fields with defaults; never rename or
 * remove them). Messages that cross nodes implement {@link dev.troupe.actors.wire.CrossNode} instead, never
 * both.
 */
public interface JsonSerializable {}
