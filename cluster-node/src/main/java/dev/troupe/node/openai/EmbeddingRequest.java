package dev.troupe.node.openai;

import java.util.List;

/**
 * A parsed {@code /v1/embeddings} request.
 *
 * @param model  the requested model name, non-empty
 * @param inputs the texts to embed, 1..2048, none empty, immutable
 */
public record EmbeddingRequest(String model, List<String> inputs) {
    public EmbeddingRequest {
        inputs = List.copyOf(inputs);
    }
}
