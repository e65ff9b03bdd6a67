package dev.troupe.engine.tokenizer;

import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates the shared test models (../shared/models from the project root); skips, loudly, when absent. */
final class TestModels {
    private TestModels() {
    }

    /** The model file, or a skipped test (never a silent pass) when the shared models are not present. */
    static Path require(String name) {
        Path found = find(name);
        Assumptions.assumeTrue(found != null, "SKIPPED: test model " + name + " not found in ../shared/models relative to the project root"
                + " (or in -Dtroupe.models.dir when set); these tests need the shared models");
        return found;
    }

    private static Path find(String name) {
        String prop = System.getProperty("troupe.models.dir");
        if (prop != null && !prop.isEmpty()) {
            // An explicit directory is the only place looked at.
            return Files.isRegularFile(Path.of(prop, name)) ? Path.of(prop, name) : null;
        }
        // Surefire runs in the module directory (gpu-worker), one level below the project root.
        for (String dir : new String[]{"../shared/models", "../../shared/models"}) {
            Path p = Path.of(dir, name).toAbsolutePath().normalize();
            if (Files.isRegularFile(p)) return p;
        }
        return null;
    }
}
