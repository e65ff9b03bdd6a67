package dev.troupe.actors.registry;

/**
 * Marker for everything the entities write to the journal or the snapshot store, and for the tenant
 * entities' commands and replies, which cross nodes. Bound to Pekko's {@code jackson-json} serializer in
 * this module's {@code reference.conf} (only marked classes are accepted), so journals are plain JSON and
 * stay readable across releases (add fields with defaults; never rename or remove them).
 */
public interface JsonSerializable {}
