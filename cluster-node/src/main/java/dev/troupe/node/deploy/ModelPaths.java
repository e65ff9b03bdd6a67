package dev.troupe.node.deploy;

import dev.troupe.node.openai.ApiError;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Where a registered version's file may live ({@code troupe.weights.model-dirs}): registering a path opens the
 * file and reports what it found, so an admin call must not be a way to probe (or read the first bytes of) any
 * file the node can read. A path is accepted only when its real location (symlinks resolved) is inside one of
 * the directories; the check comes before any answer about the file itself.
 */
public final class ModelPaths {
    private final List<Path> dirs;

    /** dirs: the configured directories (those that do not exist are skipped). */
    public ModelPaths(List<Path> dirs) {
        List<Path> real = new ArrayList<>();
        for (Path d : dirs) {
            try {
                real.add(d.toAbsolutePath().normalize().toRealPath());
            } catch (IOException | InvalidPathException e) {
                // Not there (yet): nothing can be registered from it.
            }
        }
        this.dirs = List.copyOf(real);
    }

    public List<Path> dirs() {
        return dirs;
    }

    /** The model file named by text (400 for an invalid path, one outside the directories, or no regular file). */
    public Path require(String text, String param) {
        if (text.indexOf('\0') >= 0) throw ApiError.badRequest("'" + param + "' must not contain NUL characters", param);
        Path path;
        try {
            path = Path.of(text).toAbsolutePath().normalize();
        } catch (InvalidPathException e) {
            throw ApiError.badRequest("'" + param + "' is not a valid path", param);
        }
        Path real;
        try {
            real = path.toRealPath();
        } catch (IOException e) {
            real = null;
        }
        boolean inside = false;
        for (Path d : dirs) {
            if ((real != null ? real : path).startsWith(d)) inside = true;
        }
        if (!inside) {
            throw ApiError.badRequest("'" + param + "' must be a file under troupe.weights.model-dirs " + dirs, param);
        }
        if (real == null || !Files.isRegularFile(real)) throw ApiError.badRequest("no model file at '" + path + "' on this node", param);
        return path;
    }
}
