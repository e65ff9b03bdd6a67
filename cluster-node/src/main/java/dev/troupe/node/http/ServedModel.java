package dev.troupe.node.http;

import dev.troupe.actors.replica.Replica;
import dev.troupe.actors.replica.StepLoop;
import dev.troupe.engine.tokenizer.Tokenizer;
import dev.troupe.node.openai.ChatTemplate;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;

/**
 * One loaded version of a model this node serves: its name and version, what the gateway needs to
 * validate and tokenize requests for it (versions may differ in vocabulary and context), its replica, and
 * (when the replica runs on this node) its step loop, which non-streaming requests are handed to directly.
 */
public record ServedModel(String name, String version, Tokenizer tokenizer, int contextLength, ChatTemplate chatTemplate,
                          EntityRef<Replica.Command> replica, StepLoop local, long created) {}
