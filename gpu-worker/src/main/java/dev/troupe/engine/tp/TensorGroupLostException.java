package dev.troupe.engine.tp;

/**
 * A step of a tensor-parallel group could not finish because the exchange between its slices failed (a
 * peer lost, the group closed): thrown once, at the end of the group, never for a step that can go on.
 * Whoever ran the step treats its replica as lost.
 */
public final class TensorGroupLostException extends RuntimeException {
    private final int status;

    public TensorGroupLostException(int rank, int status) {
        super("tensor-parallel slice " + rank + ": " + TensorExchange.describe(status));
        this.status = status;
    }

    public int status() { return status; }
}
