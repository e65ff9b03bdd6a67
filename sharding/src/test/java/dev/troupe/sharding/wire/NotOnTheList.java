package dev.troupe.sharding.wire;

import dev.troupe.actors.wire.CrossNode;

/** A cross-node message nobody registered: what a forgotten WireClasses entry looks like. */
public record NotOnTheList(String text) implements CrossNode {}
