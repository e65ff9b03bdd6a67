package dev.troupe.sharding.wire;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Set by {@link Dangerous} when its class is initialised or an instance is made. Separate from it because
 * reading a static field of {@code Dangerous} would itself initialise the class.
 */
final class DangerFlag {
    static final AtomicBoolean TOUCHED = new AtomicBoolean();

    private DangerFlag() {}
}
