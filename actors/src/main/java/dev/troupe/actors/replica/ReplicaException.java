package dev.troupe.actors.replica;

/**
 * A replica's refusal or failure of work other than a generation (an embedding), with the same kinds a
 * generation fails with, so the gateway answers both alike (a full queue is 429, shutting down 503, ...).
 */
public final class ReplicaException extends RuntimeException {
    private final GenerationEvent.FailureKind kind;

    public ReplicaException(GenerationEvent.FailureKind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public GenerationEvent.FailureKind kind() {
        return kind;
    }
}
