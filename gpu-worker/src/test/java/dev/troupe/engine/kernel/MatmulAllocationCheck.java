package dev.troupe.engine.kernel;

import dev.troupe.engine.gguf.GgmlType;
import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.gguf.GgufWriter;
import dev.troupe.engine.model.WeightMatrix;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Runs the vector matmul of every weight type the engine packs, for decode, short and long batches, over the direct
 * and the copying panels, until each call allocates nothing, and names the ones that still allocate after a time.
 * KernelAllocationTest runs it in its own JVM and in a child JVM that compiles in the foreground ({@code -Xbatch}):
 * C2's inlining of these kernels depends on when and with what profile it compiles them, and both orders have left
 * an accumulator boxed (an allocation per call) where the other did not.
 */
final class MatmulAllocationCheck {
    static final GgmlType[] TYPES = {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0,
            GgmlType.Q5_0, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K};
    /** Decode, a staged batch (odd and full), and a prompt chunk past the staged size (panels copied). */
    static final int[] TOKENS = {1, 3, 8, KernelScratch.STAGED_TOKENS + 8};
    private static final int ROWS = 256, COLS = 1024, CALLS = 200;
    /** Per round of CALLS calls: the measuring itself takes a few hundred bytes; a boxed kernel makes tens of KB. */
    private static final long BUDGET_BYTES = 4 * 1024;

    private MatmulAllocationCheck() {}

    private static long allocatedBytes() {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        return mx.getThreadAllocatedBytes(Thread.currentThread().getId());
    }

    /** Bytes the last round allocated, after rounds until one is within budget or {@code nanos} have passed. */
    static long settledAllocation(Runnable call, int calls, long budget, long nanos) {
        long last = Long.MAX_VALUE;
        for (long end = System.nanoTime() + nanos; System.nanoTime() < end && last > budget; ) {
            long before = allocatedBytes();
            for (int i = 0; i < calls; i++) call.run();
            last = allocatedBytes() - before;
        }
        return last;
    }

    /** One line per (panels, type, tokens) whose matmul still allocates after {@code nanosEach}; empty when none does. */
    static List<String> run(long nanosEach) throws Exception {
        List<String> failures = new ArrayList<>();
        Path dir = Files.createTempDirectory("matmul-alloc");
        try {
            SplittableRandom rnd = new SplittableRandom(3);
            for (GgmlType type : types()) {
                float[] values = new float[ROWS * COLS];
                for (int i = 0; i < values.length; i++) values[i] = (float) rnd.nextGaussian();
                Path f = dir.resolve(type + ".gguf");
                new GgufWriter().putString("general.architecture", "test").addTensor("w", type, new long[] {COLS, ROWS}, values).write(f);
                try (GgufFile g = GgufFile.open(f)) {
                    int maxTokens = TOKENS[TOKENS.length - 1];
                    float[] x = new float[maxTokens * COLS], out = new float[maxTokens * ROWS];
                    for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                    KernelScratch scratch = new KernelScratch(COLS, new StagedInput(maxTokens, COLS));   // as a model's: all token counts staged
                    for (boolean direct : new boolean[] {true, false}) {
                        WeightMatrix w = WeightMatrix.of(f, g.tensor("w"), COLS, ROWS);
                        Kernels k = new VectorKernels(direct);
                        k.prepare(w);
                        for (int tokens : TOKENS) {
                            long bytes = settledAllocation(() -> k.matmul(w, x, 0, COLS, tokens, out, 0, ROWS, 0, ROWS, scratch),
                                    CALLS, BUDGET_BYTES, nanosEach);
                            if (bytes > BUDGET_BYTES) {
                                failures.add((direct ? "direct " : "copied ") + type + " x " + tokens + " tokens: "
                                        + bytes / CALLS + " bytes a call");
                            }
                        }
                    }
                }
            }
        } finally {
            try (var files = Files.list(dir)) {
                for (Path p : (Iterable<Path>) files::iterator) Files.deleteIfExists(p);
            }
            Files.deleteIfExists(dir);
        }
        return failures;
    }

    /** TYPES, or the ones named in the system property {@code types} (comma-separated), to look into one. */
    private static List<GgmlType> types() {
        String only = System.getProperty("types");
        if (only == null) return List.of(TYPES);
        List<GgmlType> types = new ArrayList<>();
        for (String t : only.split(",")) types.add(GgmlType.valueOf(t.trim()));
        return types;
    }

    /** For the child JVM: prints each failure and exits 1 when there is one. */
    public static void main(String[] args) throws Exception {
        List<String> failures = run(Long.parseLong(args[0]));
        failures.forEach(System.out::println);
        System.exit(failures.isEmpty() ? 0 : 1);
    }
}
