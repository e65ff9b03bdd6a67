package dev.troupe.node.http;

import dev.troupe.actors.replica.Replica;
import dev.troupe.engine.tokenizer.Tokenizer;
import dev.troupe.node.openai.ChatTemplate;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;

/** A model this node serves: its name, what the gateway needs to validate requests, and its replica. */
public record ServedModel(String name, Tokenizer tokenizer, int contextLength, ChatTemplate chatTemplate,
                          EntityRef<Replica.Command> replica, long created) {}
