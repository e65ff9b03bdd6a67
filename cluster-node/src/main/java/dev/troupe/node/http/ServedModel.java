package dev.troupe.node.http;

import dev.troupe.actors.replica.ReplicaClient;
import dev.troupe.engine.tokenizer.Tokenizer;
import dev.troupe.node.openai.ChatTemplate;
import dev.troupe.sharding.VersionReplicas;

/**
 * One version of a model as a gateway serves it: its name and version, what the gateway needs to validate
 * and tokenize requests for it (versions may differ in vocabulary and context), and its replicas anywhere
 * in the cluster. {@link #routed} binds it to the replica that serves one request ({@link #replica()};
 * null on the version itself).
 */
public record ServedModel(String name, String version, Tokenizer tokenizer, int contextLength, ChatTemplate chatTemplate,
                          VersionReplicas replicas, long created, ReplicaClient replica) {

    /** This version bound to the replica chosen for a request with this prompt, or null when none is ready. */
    public ServedModel routed(int[] prompt) {
        ReplicaClient r = replicas.pick(prompt);
        return r == null ? null : new ServedModel(name, version, tokenizer, contextLength, chatTemplate, replicas, created, r);
    }
}
