package dev.troupe.node;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

/** Every command's --help says what it does, with an example; --version names the build. */
class HelpTest {
    private static String run(String... argv) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertEquals(0, Main.run(argv, new PrintStream(out, true, StandardCharsets.UTF_8), System.err), String.join(" ", argv));
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void everyCommandHelpsWithAnExample() {
        String[][] commands = {{"serve"}, {"generate"}, {"inspect"}, {"admin"}, {"bench", "engine"}, {"bench", "serve"},
                {"bench", "overhead"}, {"bench", "rollout"}, {"bench", "matmul"}, {"bench", "tp"}, {"bench", "prefix"}};
        for (String[] c : commands) {
            String[] argv = java.util.Arrays.copyOf(c, c.length + 1);
            argv[c.length] = "--help";
            String help = run(argv);
            String name = String.join(" ", c);
            assertTrue(help.startsWith("usage: bin/troupe " + name), name + ":\n" + help);
            assertTrue(help.contains("example: bin/troupe " + name), name + ":\n" + help);
            assertTrue(run("--help").contains("  " + name + " "), "the command list names " + name);
        }
    }

    @Test
    void versionNamesTheBuildAndTheJava() {
        String v = run("--version");
        assertTrue(v.matches("troupe \\S+ \\(Java .+\\)\\n"), v);
    }
}
