package dev.troupe.node.http;

import dev.troupe.actors.replica.ReplicaClient;
import dev.troupe.engine.tokenizer.Tokenizer;
import dev.troupe.node.openai.ChatTemplate;

/**
 * One loaded version of a model: its name and version, what the gateway needs to validate and tokenize
 * requests for it (versions may differ in vocabulary and context), and the replica that serves it.
 */
public record ServedModel(String name, String version, Tokenizer tokenizer, int contextLength, ChatTemplate chatTemplate,
                          ReplicaClient replica, long created) {}
