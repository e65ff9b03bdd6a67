package dev.troupe.actors.replica;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Locates the shared test models (../shared/models from the repository root). */
final class TestModels {
    private TestModels() {}

    static final String STORIES = "stories260K-f32.gguf";
    static final String STORIES_GREEDY = "stories260K-greedy.jsonl";

    static Path dir() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path candidate = p.resolveSibling("shared").resolve("models");
            if (Files.isDirectory(candidate)) return candidate;
        }
        return null;
    }

    /** The file; the calling test is skipped (reported, not passed) when it is absent. */
    static Path require(String name) {
        Path d = dir();
        Assumptions.assumeTrue(d != null && Files.isRegularFile(d.resolve(name)),
                "test model " + name + " not found: ../shared/models must sit beside the repository");
        return d.resolve(name);
    }

    record Reference(String prompt, int maxTokens, String completion) {}

    /** The greedy references: one JSON object per line with prompt, max_tokens, temperature 0, completion. */
    static List<Reference> greedyReferences() throws IOException {
        List<Reference> out = new ArrayList<>();
        for (String line : Files.readAllLines(require(STORIES_GREEDY))) {
            if (line.isBlank()) continue;
            out.add(new Reference(jsonString(line, "prompt"), Integer.parseInt(jsonNumber(line, "max_tokens")),
                    jsonString(line, "completion")));
        }
        return out;
    }

    private static String jsonNumber(String line, String key) {
        Matcher m = Pattern.compile("\"" + key + "\"\\s*:\\s*(-?[0-9.]+)").matcher(line);
        if (!m.find()) throw new IllegalArgumentException("no " + key + " in " + line);
        return m.group(1);
    }

    /** A JSON string value (the escapes that JSON allows). */
    private static String jsonString(String line, String key) {
        int k = line.indexOf("\"" + key + "\"");
        if (k < 0) throw new IllegalArgumentException("no " + key + " in " + line);
        int i = line.indexOf('"', line.indexOf(':', k + key.length() + 2) + 1) + 1;
        StringBuilder sb = new StringBuilder();
        while (true) {
            char c = line.charAt(i++);
            if (c == '"') return sb.toString();
            if (c != '\\') {
                sb.append(c);
                continue;
            }
            char e = line.charAt(i++);
            switch (e) {
                case 'n' -> sb.append('\n');
                case 't' -> sb.append('\t');
                case 'r' -> sb.append('\r');
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case 'u' -> {
                    sb.append((char) Integer.parseInt(line.substring(i, i + 4), 16));
                    i += 4;
                }
                default -> sb.append(e);
            }
        }
    }
}
