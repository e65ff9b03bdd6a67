package dev.troupe.actors.registry;

/**
 * Marker for everything the registry writes to the journal or the snapshot store. Bound to Pekko's
 * {@code jackson-json} serializer in this module's {@code reference.conf}, so journals are plain JSON and
 * stay readable across releases (add fields with defaults; never rename or remove them).
 */
public interface JsonSerializable {}
