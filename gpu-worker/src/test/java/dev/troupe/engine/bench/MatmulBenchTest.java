package dev.troupe.engine.bench;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/** A smoke run of the benchmark program: its output shape, not its speed. */
class MatmulBenchTest {
    // A flat JSON object: "key":value pairs, values being strings, numbers, booleans, null or arrays of numbers.
    private static final String STRING = "\"(?:[^\"\\\\]|\\\\.)*\"";
    private static final String NUMBER = "-?\\d+(?:\\.\\d+)?(?:[eE][-+]?\\d+)?";
    private static final String VALUE = "(?:" + STRING + "|" + NUMBER + "|true|false|null|\\[(?:" + NUMBER + "(?:," + NUMBER + ")*)?\\])";
    private static final String PAIR = STRING + ":" + VALUE;
    private static final Pattern OBJECT = Pattern.compile("\\{" + PAIR + "(?:," + PAIR + ")*\\}");

    private record Run(int rc, List<String> lines, String err) {}

    private static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int rc;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
             PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            rc = MatmulBench.run(args, o, e);
        }
        List<String> lines = new ArrayList<>();
        for (String l : out.toString(StandardCharsets.UTF_8).split("\n")) if (!l.isBlank()) lines.add(l);
        return new Run(rc, lines, err.toString(StandardCharsets.UTF_8));
    }

    private static String str(String line, String key) {
        Matcher m = Pattern.compile("\"" + key + "\":\"([^\"]*)\"").matcher(line);
        return m.find() ? m.group(1) : null;
    }

    private static Double num(String line, String key) {
        Matcher m = Pattern.compile("\"" + key + "\":(" + NUMBER + ")").matcher(line);
        return m.find() ? Double.parseDouble(m.group(1)) : null;
    }

    @Test
    void quickRunPrintsJsonLinesWithPeakAndBothTypes() {
        Run r = run("--quick", "--threads", "1");
        assertEquals(0, r.rc, r.err);
        assertFalse(r.lines.isEmpty());
        boolean peak = false, f32 = false, q8 = false;
        for (String line : r.lines) {
            assertTrue(OBJECT.matcher(line).matches(), "not a flat JSON object: " + line);
            String test = str(line, "test");
            assertNotNull(test, line);
            if (test.equals("peak")) {
                peak = true;
                assertTrue(num(line, "gflops") > 0, line);
            } else if (test.equals("nominal_peak")) {
                assertTrue(num(line, "gflops") > 0, line);
                assertTrue(num(line, "cpu_mhz") > 0, line);
            } else if (test.equals("matmul")) {
                String type = str(line, "type");
                if ("F32".equals(type)) f32 = true;
                if ("Q8_0".equals(type)) q8 = true;
                assertEquals(1.0, num(line, "threads"), line);
                assertTrue(num(line, "gflops") > 0, line);
                assertTrue(num(line, "weight_gb_s") > 0, line);
                double measured = num(line, "fraction_of_measured_peak");
                // Both are ratios of timings taken moments apart: on a busy machine the peak probe can be
                // starved and the ratio comes out far above 1, so only their presence and sign are checked.
                assertTrue(measured > 0 && Double.isFinite(measured), line);
                Double nominal = num(line, "fraction_of_nominal_peak");
                if (nominal != null) assertTrue(nominal > 0 && Double.isFinite(nominal), line);
            }
        }
        assertTrue(peak, "no peak line");
        assertTrue(f32, "no F32 matmul line");
        assertTrue(q8, "no Q8_0 matmul line");
        long matmuls = r.lines.stream().filter(l -> "matmul".equals(str(l, "test"))).count();
        assertEquals(3 * 2 * 4, matmuls, "3 quick shapes x 2 types x 4 default token counts");
    }

    @Test
    void typesSelectsTheTypesAndSkipsShapesTheirBlocksDoNotFit() {
        Run r = run("--quick", "--threads", "1", "--tokens", "1,8", "--types", "Q4_K,q6_k,Q4_0");
        assertEquals(0, r.rc, r.err);
        java.util.Map<String, Long> perType = new java.util.TreeMap<>();
        for (String line : r.lines) {
            if ("matmul".equals(str(line, "test"))) {
                perType.merge(str(line, "type"), 1L, Long::sum);
                assertTrue(num(line, "gflops") > 0 && num(line, "weight_gb_s") > 0, line);
            }
        }
        // K-quants fit only quick_k (256 columns); Q4_0 (32) fits all three shapes; two token counts each
        assertEquals(java.util.Map.of("Q4_0", 6L, "Q4_K", 2L, "Q6_K", 2L), perType, String.join("\n", r.lines));
        assertEquals(4, r.lines.stream().filter(l -> "skip".equals(str(l, "test"))).count(), "quick_a and quick_b skipped for both K-quants");
    }

    @Test
    void badArgumentsReturnTwo() {
        for (String[] args : new String[][]{
                {"--threads"}, {"--threads", "0"}, {"--threads", "two"}, {"--reps", "-1"},
                {"--tokens", "1,,8"}, {"--tokens", "0"}, {"--bogus"}, {"--types", "Q8_1"}, {"--types", "Q4_K,nope"}}) {
            Run r = run(args);
            assertEquals(2, r.rc, String.join(" ", args));
            assertTrue(r.lines.isEmpty(), "no output on bad arguments");
            assertTrue(r.err.contains("MatmulBench"), r.err);
        }
    }
}
