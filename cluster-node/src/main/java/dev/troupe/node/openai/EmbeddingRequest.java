package dev.troupe.node.openai;

import java.util.List;

/**
 * A parsed {@code /v1/embeddings} request.
 *
 * @param model  the requested model name, non-empty
 * @param inputs the texts to embed, 1..2048, none empty, immutable
 * @param base64 encoding_format "base64": each vector as base64 of its little-endian float32 bytes (the
 *               official SDKs ask for this by default)
 */
public record EmbeddingRequest(String model, List<String> inputs, boolean base64) {
    public EmbeddingRequest {
        inputs = List.copyOf(inputs);
    }

    /** Vectors as JSON floats (encoding_format "float"). */
    public EmbeddingRequest(String model, List<String> inputs) {
        this(model, inputs, false);
    }
}
