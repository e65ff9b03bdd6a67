package dev.troupe.node.deploy;

import dev.troupe.actors.replica.StepLoop;
import dev.troupe.engine.LlamaModel;
import dev.troupe.node.http.ServedModel;

/** One version loaded on this node: its engine, the step loop that owns it, and what the gateway serves. */
public record LoadedVersion(String version, LlamaModel engine, StepLoop loop, ServedModel served) {}
