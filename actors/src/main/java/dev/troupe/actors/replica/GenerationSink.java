package dev.troupe.actors.replica;

/** Receives a request's events. Called from the step loop's thread: must be quick and never block. */
@FunctionalInterface
public interface GenerationSink {
    void onEvent(GenerationEvent event);
}
