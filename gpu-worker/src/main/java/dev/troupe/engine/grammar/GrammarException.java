package dev.troupe.engine.grammar;

/** A schema constrained decoding cannot enforce, with where in the schema and why. */
public final class GrammarException extends IllegalArgumentException {
    public GrammarException(String message) {
        super(message);
    }
}
