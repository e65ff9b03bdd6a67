package dev.troupe.node;

import dev.troupe.engine.gguf.GgufWriter;
import dev.troupe.engine.gguf.RandomLlamaWriter;
import dev.troupe.engine.gguf.RandomLlamaWriter.LlamaShape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** {@code bin/troupe inspect FILE}: the report on stdout, exit 0 when servable, 1 when not (with why), 2 on misuse. */
class InspectCommandTest {
    private static final LlamaShape SHAPE = new LlamaShape(256, 256, 1, 4, 2, 300, 64, 10000f, 1e-5f, false);

    @TempDir Path dir;

    private record Run(int rc, String out, String err) {}

    private static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int rc = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(rc, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void aServableQ4KMFile() throws Exception {
        Path p = dir.resolve("m.gguf");
        new RandomLlamaWriter(SHAPE).q4kM().seed(1).write(p);
        Run r = run("inspect", p.toString());
        assertEquals(0, r.rc, r.err);
        assertTrue(r.out.contains("architecture:  llama"), r.out);
        assertTrue(r.out.matches("(?s).*Q4_K\\s+6 tensors.*") && r.out.matches("(?s).*Q6_K\\s+3 tensors.*"), r.out);
        assertTrue(r.out.contains("servable:      yes"), r.out);
    }

    @Test
    void anUnservableFileExitsOneAndSaysWhy() throws Exception {
        Path p = dir.resolve("mamba.gguf");
        GgufWriter w = new RandomLlamaWriter(SHAPE).seed(1).build();
        w.putString("general.architecture", "mamba");
        w.write(p);
        Run r = run("inspect", p.toString());
        assertEquals(1, r.rc);
        assertTrue(r.out.contains("servable:      no: ") && r.out.contains("unsupported architecture 'mamba'"), r.out);
    }

    @Test
    void misuseExitsTwo() {
        assertEquals(2, run("inspect").rc);
        Run missing = run("inspect", dir.resolve("nope.gguf").toString());
        assertEquals(2, missing.rc);
        assertTrue(missing.err.contains("no file at"), missing.err);
        assertEquals(0, run("inspect", "--help").rc);
        assertTrue(run("help").out.contains("inspect FILE"));
    }
}
