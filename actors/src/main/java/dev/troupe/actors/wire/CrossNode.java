package dev.troupe.actors.wire;

/**
 * Marks every message that crosses nodes: commands, replies and streamed events. Bound to the Kryo
 * serializer, which accepts only the classes registered in its class list. Journal events and snapshots
 * are not CrossNode (they stay Jackson JSON), and no class is both.
 */
public interface CrossNode {}
