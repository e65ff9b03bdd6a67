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

    /** One line of a reference file: a prompt, its token budget and the reference greedy completion. */
    public record Reference(String prompt, int maxTokens, String completion) {}

    /** The reference completions in a JSON-lines file (flat objects of strings and numbers). */
    public static java.util.List<Reference> references(Path jsonl) throws java.io.IOException {
        java.util.List<Reference> out = new java.util.ArrayList<>();
        for (String line : Files.readAllLines(jsonl)) {
            if (!line.contains("\"prompt\"")) continue;
            String max = field(line, "max_tokens");
            out.add(new Reference(field(line, "prompt"), max == null ? 0 : Integer.parseInt(max), field(line, "completion")));
        }
        return out;
    }

    /** The value of a top-level field of a flat JSON object: a string unescaped, a number as written. */
    private static String field(String line, String name) {
        int k = line.indexOf("\"" + name + "\"");
        if (k < 0) return null;
        int i = line.indexOf(':', k) + 1;
        while (line.charAt(i) == ' ') i++;
        if (line.charAt(i) != '"') {
            int end = i;
            while (end < line.length() && (Character.isDigit(line.charAt(end)) || line.charAt(end) == '-')) end++;
            return line.substring(i, end);
        }
        i++;
        StringBuilder sb = new StringBuilder();
        while (line.charAt(i) != '"') {
            char c = line.charAt(i++);
            if (c != '\\') {
                sb.append(c);
                continue;
            }
            char e = line.charAt(i++);
            switch (e) {
                case 'n': sb.append('\n'); break;
                case 't': sb.append('\t'); break;
                case 'r': sb.append('\r'); break;
                case 'u': sb.append((char) Integer.parseInt(line.substring(i, i + 4), 16)); i += 4; break;
                default: sb.append(e);
            }
        }
        return sb.toString();
    }

    public static final String STORIES = "stories260K-f32.gguf";
    public static final String RANDOM_F32 = "random15M-f32.gguf";
    public static final String RANDOM_Q8 = "random15M-q8_0.gguf";
}
