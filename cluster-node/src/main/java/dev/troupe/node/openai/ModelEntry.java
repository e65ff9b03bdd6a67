package dev.troupe.node.openai;

import java.util.Objects;

/**
 * One model in {@code GET /v1/models}.
 *
 * @param id      the model name clients put in {@code model}
 * @param created Unix time in seconds (e.g. when it was loaded)
 */
public record ModelEntry(String id, long created) {
    public ModelEntry {
        Objects.requireNonNull(id, "id");
    }
}
