package dev.troupe.engine.gguf;

import java.io.IOException;
import java.nio.file.Path;

/** A GGUF file that is corrupt, truncated or uses something this engine does not support. */
public class GgufFormatException extends IOException {
    public GgufFormatException(Path file, String message) {
        super(file + ": " + message);
    }
}
