package dev.troupe.actors.replica;

/** Receives a request's events. Called from the step loop's thread: must be quick and never block. */
@FunctionalInterface
public interface GenerationSink {
    void onEvent(GenerationEvent event);

    /**
     * The request's first step is running (its prefill began): no refusal comes now, only its tokens and its end
     * (or a failure while it runs). A streaming response can start here rather than at the first token, so its
     * setup overlaps the prefill. Called at most once per attempt, only by a replica on this node; by default nothing.
     */
    default void onStarted() {}
}
