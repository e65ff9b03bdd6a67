package dev.troupe.engine;

import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates the shared test models (../shared/models from the repository root). */
public final class TestModels {
    private TestModels() {}

    public static Path dir() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path candidate = p.resolveSibling("shared").resolve("models");
            if (Files.isDirectory(candidate)) return candidate;
        }
        return null;
    }

    /** The model file; the calling test is skipped (reported, not passed) when it is absent. */
    public static Path require(String name) {
        Path d = dir();
        Assumptions.assumeTrue(d != null && Files.isRegularFile(d.resolve(name)),
                "test model " + name + " not found: ../shared/models must sit beside the repository");
        return d.resolve(name);
    }

    public static final String STORIES = "stories260K-f32.gguf";
    public static final String RANDOM_F32 = "random15M-f32.gguf";
    public static final String RANDOM_Q8 = "random15M-q8_0.gguf";
}
