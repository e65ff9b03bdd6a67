package dev.troupe.engine.bench;

import dev.troupe.engine.ThreadTeam;
import dev.troupe.engine.gguf.GgmlType;
import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.gguf.GgufWriter;
import dev.troupe.engine.kernel.KernelScratch;
import dev.troupe.engine.kernel.StagedInput;
import dev.troupe.engine.kernel.Kernels;
import dev.troupe.engine.kernel.NativeKernels;
import dev.troupe.engine.kernel.VectorKernels;
import dev.troupe.engine.model.WeightMatrix;

import java.io.IOException;
import java.io.PrintStream;
import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector matmul kernel's speed as a fraction of this machine's floating-point peak.
 *
 * <ul>
 *   <li><b>Measured peak</b>: a register-only loop of {@link #ACCUMULATORS} independent vector FMA chains
 *   ({@code FloatVector.SPECIES_PREFERRED}, no memory traffic) on T threads at once; the best of several
 *   runs after warm-up, 2 FLOP per FMA lane.</li>
 *   <li><b>Nominal peak</b>: cores x "cpu MHz" from /proc/cpuinfo x {@link #NOMINAL_FLOP_PER_CYCLE} FLOP per
 *   cycle (the Zen 4 assumption: 2 FMA pipes x 8 FP32 lanes, 512-bit FMAs executed as two 256-bit halves).
 *   Omitted when the clock cannot be read. The clock a VM reports is usually the base clock, so boost can
 *   take the measured peak above it.</li>
 *   <li><b>Kernels</b>: random matrices of each {@code --types} type (F32 and Q8_0 by default) written to a temporary GGUF, loaded with
 *   {@link WeightMatrix#of} and {@link VectorKernels#prepare}, then {@code matmul} over all rows, split in
 *   panel-aligned ranges over T threads, for each token count. One rep runs, on every thread, its row range
 *   {@code calls} times back to back (no barrier between calls), sized to take about
 *   {@link #TARGET_REP_NANOS}; the figure is the median rep. Repeating one matrix keeps small matrices in
 *   cache (L2/L3), so small shapes show cache-resident speed, not the DRAM-bound speed they get inside a
 *   full forward pass.</li>
 * </ul>
 *
 * Output: one JSON object per line ({@code env}, {@code peak}, {@code nominal_peak}, {@code matmul}).
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp ... dev.troupe.engine.bench.MatmulBench --threads 2
 * </pre>
 */
public final class MatmulBench {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Independent FMA chains in the peak loop: well above latency (4) x throughput (2) of a Zen 4 core. */
    public static final int ACCUMULATORS = 12;
    /** Nominal FP32 FLOP per cycle per core: 2 FMA pipes x 8 lanes x 2 FLOP. */
    public static final int NOMINAL_FLOP_PER_CYCLE = 32;
    static final long TARGET_REP_NANOS = 100_000_000L;
    private static final long QUICK_REP_NANOS = 2_000_000L;

    public static final String USAGE = "usage: bin/troupe bench matmul [--threads T] [--reps N] [--tokens 1,8,32,128] [--types F32,Q8_0,Q4_K,...] [--backend vector|native|native-avx2] [--quick]\n\n"
            + "The matmul kernel's GFLOP/s per weight type and token count, as a fraction of this machine's measured FMA peak (JSON lines).\n";

    /** One weight shape: {@code rows} outputs of {@code cols} inputs. */
    record Shape(String name, int rows, int cols) {}

    static final Shape[] FULL_SHAPES = {
            new Shape("ffn_up_15M", 768, 288),
            new Shape("ffn_down_15M", 288, 768),
            new Shape("classifier_15M", 32000, 288),
            new Shape("square_4096", 4096, 4096),
    };
    /** Small, with row counts that are not a multiple of 4 panels, so partial groups run too. */
    static final Shape[] QUICK_SHAPES = {
            new Shape("quick_a", 72, 64),
            new Shape("quick_b", 40, 96),
            new Shape("quick_k", 72, 256),   // a row of whole 256-element blocks, for the K-quants
    };
    private static final GgmlType[] DEFAULT_TYPES = {GgmlType.F32, GgmlType.Q8_0};

    /** {@code types}: weight types to measure; a shape whose row length is not a whole number of a type's blocks is skipped for it. */
    record Options(int threads, int reps, int[] tokens, boolean quick, GgmlType[] types, boolean nativeKernels, boolean avx2) {}

    private MatmulBench() {}

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs the benchmark; 0 on success, 2 on bad arguments, 1 when it cannot run. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        Options o;
        try {
            o = parse(args);
        } catch (IllegalArgumentException e) {
            err.println("MatmulBench: " + e.getMessage());
            err.println(USAGE);
            return 2;
        }
        if (o == null) { // --help
            err.println(USAGE);
            return 0;
        }
        if (!VectorKernels.usable()) {
            err.println("MatmulBench: the vector kernels cannot run on this JVM (preferred species " + F + ")");
            return 1;
        }
        if (o.nativeKernels && !NativeKernels.usable()) {
            err.println("MatmulBench: the native kernels cannot run here: " + NativeKernels.unavailableReason());
            return 1;
        }
        try (ThreadTeam team = new ThreadTeam(o.threads, "matmul-bench")) {
            new MatmulBench.Session(o, team, out).run();
            return 0;
        } catch (IOException | RuntimeException e) {
            err.println("MatmulBench: failed: " + e);
            e.printStackTrace(err);
            return 1;
        }
    }

    static Options parse(String[] args) {
        int threads = Runtime.getRuntime().availableProcessors();
        int reps = 5;
        int[] tokens = {1, 8, 32, 128};
        boolean quick = false;
        GgmlType[] types = DEFAULT_TYPES;
        boolean nativeKernels = false, avx2 = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--threads": threads = positive(a, value(args, ++i, a), 1024); break;
                case "--reps": reps = positive(a, value(args, ++i, a), 1000); break;
                case "--tokens": {
                    String[] parts = value(args, ++i, a).split(",");
                    tokens = new int[parts.length];
                    for (int k = 0; k < parts.length; k++) tokens[k] = positive(a, parts[k].trim(), 4096);
                    break;
                }
                case "--types": {
                    String[] parts = value(args, ++i, a).split(",");
                    types = new GgmlType[parts.length];
                    for (int k = 0; k < parts.length; k++) {
                        String name = parts[k].trim().toUpperCase(Locale.ROOT);
                        try {
                            types[k] = GgmlType.valueOf(name);
                        } catch (IllegalArgumentException e) {
                            types[k] = null;
                        }
                        if (types[k] == null || !dev.troupe.engine.gguf.RandomLlamaWriter.WRITABLE.contains(types[k])) {
                            throw new IllegalArgumentException("--types: '" + parts[k] + "' is not one of " + dev.troupe.engine.gguf.RandomLlamaWriter.WRITABLE);
                        }
                    }
                    break;
                }
                case "--backend": {
                    String b = value(args, ++i, a);
                    if (!b.equals("vector") && !b.equals("native") && !b.equals("native-avx2")) {
                        throw new IllegalArgumentException("--backend: '" + b + "' is not vector, native or native-avx2");
                    }
                    nativeKernels = b.startsWith("native");
                    avx2 = b.equals("native-avx2");
                    break;
                }
                case "--quick": quick = true; break;
                case "--help": case "-h": return null;
                default: throw new IllegalArgumentException("unknown argument '" + a + "'");
            }
        }
        if (quick) reps = 1;
        return new Options(threads, reps, tokens, quick, types, nativeKernels, avx2);
    }

    private static String value(String[] args, int i, String flag) {
        if (i >= args.length) throw new IllegalArgumentException(flag + " needs a value");
        return args[i];
    }

    private static int positive(String flag, String s, int max) {
        int v;
        try {
            v = Integer.parseInt(s);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + ": '" + s + "' is not an integer");
        }
        if (v < 1 || v > max) throw new IllegalArgumentException(flag + ": " + v + " is out of range [1, " + max + "]");
        return v;
    }

    // ---------------------------------------------------------------- peak

    /**
     * {@code iters} rounds of {@link #ACCUMULATORS} independent FMAs a = a * b + c (converging to 1, so no
     * overflow or denormals); returns a sum of the lanes so the work cannot be dropped.
     */
    static float fmaLoop(int iters, float seed) {
        FloatVector b = FloatVector.broadcast(F, 0.999f), c = FloatVector.broadcast(F, 0.001f);
        FloatVector a0 = FloatVector.broadcast(F, seed), a1 = FloatVector.broadcast(F, seed + 0.01f),
                a2 = FloatVector.broadcast(F, seed + 0.02f), a3 = FloatVector.broadcast(F, seed + 0.03f),
                a4 = FloatVector.broadcast(F, seed + 0.04f), a5 = FloatVector.broadcast(F, seed + 0.05f),
                a6 = FloatVector.broadcast(F, seed + 0.06f), a7 = FloatVector.broadcast(F, seed + 0.07f),
                a8 = FloatVector.broadcast(F, seed + 0.08f), a9 = FloatVector.broadcast(F, seed + 0.09f),
                a10 = FloatVector.broadcast(F, seed + 0.10f), a11 = FloatVector.broadcast(F, seed + 0.11f);
        for (int i = 0; i < iters; i++) {
            a0 = a0.fma(b, c);
            a1 = a1.fma(b, c);
            a2 = a2.fma(b, c);
            a3 = a3.fma(b, c);
            a4 = a4.fma(b, c);
            a5 = a5.fma(b, c);
            a6 = a6.fma(b, c);
            a7 = a7.fma(b, c);
            a8 = a8.fma(b, c);
            a9 = a9.fma(b, c);
            a10 = a10.fma(b, c);
            a11 = a11.fma(b, c);
        }
        return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11)
                .reduceLanes(VectorOperators.ADD);
    }

    /** The clock /proc/cpuinfo reports ("cpu MHz" of the first processor), or NaN. */
    static double cpuMhz() {
        String v = cpuinfo("cpu MHz");
        if (v == null) return Double.NaN;
        try {
            double mhz = Double.parseDouble(v);
            return mhz > 0 ? mhz : Double.NaN;
        } catch (NumberFormatException e) {
            return Double.NaN;
        }
    }

    private static String cpuinfo(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"), StandardCharsets.UTF_8)) {
                int colon = line.indexOf(':');
                if (colon > 0 && line.substring(0, colon).trim().equals(key)) return line.substring(colon + 1).trim();
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or not readable
        }
        return null;
    }

    // ---------------------------------------------------------------- session

    /** One benchmark run: a team, its scratch buffers, and the output. */
    private static final class Session {
        private final Options o;
        private final ThreadTeam team;
        private final PrintStream out;
        private final Kernels kernels;
        private final float[] sink = new float[64];
        private double measuredPeak;
        private double nominalPeak = Double.NaN;

        Session(Options o, ThreadTeam team, PrintStream out) {
            this.o = o;
            this.team = team;
            this.out = out;
            this.kernels = o.nativeKernels ? NativeKernels.create(new VectorKernels(), o.avx2) : new VectorKernels();
        }

        void run() throws IOException {
            int cpus = Runtime.getRuntime().availableProcessors();
            String model = cpuinfo("model name");
            out.println(String.format(Locale.ROOT,
                    "{\"test\":\"env\",\"backend\":\"%s\",\"lanes\":%d,\"cpus\":%d,\"threads\":%d,\"reps\":%d,\"quick\":%b,"
                            + "\"java\":\"%s\",\"cpu_model\":%s}",
                    kernels.name(), F.length(), cpus, o.threads, o.reps, o.quick,
                    esc(System.getProperty("java.version")), model == null ? "null" : "\"" + esc(model) + "\""));
            measuredPeak = peak("start");
            double mhz = cpuMhz();
            if (!Double.isNaN(mhz)) {
                int cores = Math.min(o.threads, cpus);
                nominalPeak = cores * mhz * 1e6 * NOMINAL_FLOP_PER_CYCLE / 1e9;
                out.println(String.format(Locale.ROOT,
                        "{\"test\":\"nominal_peak\",\"threads\":%d,\"cores\":%d,\"cpu_mhz\":%.1f,\"flop_per_cycle_per_core\":%d,"
                                + "\"gflops\":%s,\"measured_over_nominal\":%s,\"assumption\":\"%s\"}",
                        o.threads, cores, mhz, NOMINAL_FLOP_PER_CYCLE, num(nominalPeak), num(measuredPeak / nominalPeak),
                        "min(threads, cpus) cores x /proc/cpuinfo cpu MHz x 32 FP32 FLOP/cycle (2 FMA pipes x 8 lanes x 2;"
                                + " Zen 4 runs a 512-bit FMA as two 256-bit halves); the reported MHz is usually the base"
                                + " clock, boost can exceed it"));
            }
            kernelFigures();
            if (!o.quick) peak("end");
        }

        // ------------------------------------------------------------ peak

        private double peak(String when) {
            int runs = o.quick ? 1 : Math.max(5, o.reps);
            // Warm-up: enough calls and back-edges for C2 (~1 s; 0.4 s when quick, still enough for the loop to be
            // compiled, so a quick run never divides by an interpreted peak).
            long warmNanos = o.quick ? 400_000_000L : 1_000_000_000L;
            int iters = 100_000;
            long t0 = System.nanoTime();
            long last;
            do {
                last = peakOnce(iters);
                if (last < 20_000_000L && iters < (1 << 28)) iters *= 2;
            } while (System.nanoTime() - t0 < warmNanos);
            // Size a run to ~0.2 s (~0.01 s when quick).
            long target = o.quick ? 10_000_000L : 200_000_000L;
            iters = (int) Math.max(1_000, Math.min(Integer.MAX_VALUE, (double) iters * target / Math.max(1, last)));
            double[] gflops = new double[runs];
            double best = 0;
            for (int r = 0; r < runs; r++) {
                long ns = peakOnce(iters);
                gflops[r] = (double) o.threads * iters * ACCUMULATORS * F.length() * 2 / ns;
                best = Math.max(best, gflops[r]);
            }
            out.println(String.format(Locale.ROOT,
                    "{\"test\":\"peak\",\"when\":\"%s\",\"threads\":%d,\"lanes\":%d,\"accumulators\":%d,\"iterations\":%d,"
                            + "\"gflops\":%s,\"gflops_per_thread\":%s,\"runs_gflops\":%s}",
                    when, o.threads, F.length(), ACCUMULATORS, iters, num(best), num(best / o.threads), json(gflops)));
            return best;
        }

        private long peakOnce(int iters) {
            long t0 = System.nanoTime();
            team.run((w, n) -> sink[w % sink.length] += fmaLoop(iters, 0.5f + w));
            return System.nanoTime() - t0;
        }

        // ------------------------------------------------------------ kernels

        private void kernelFigures() throws IOException {
            Shape[] shapes = o.quick ? QUICK_SHAPES : FULL_SHAPES;
            Path dir = Files.createTempDirectory("troupe-matmul-bench");
            Path file = dir.resolve("matrices.gguf");
            try {
                GgufWriter writer = new GgufWriter().putString("general.name", "matmul-bench");
                int seed = 1;
                for (Shape s : shapes) {
                    for (GgmlType t : o.types) {
                        long stream = seed++;
                        if (s.cols % t.blockSize() != 0) continue;
                        writer.addTensor(tensorName(t, s), t, new long[]{s.cols, s.rows}, () -> random(s.rows * s.cols, stream));
                    }
                }
                writer.write(file);
                List<WeightMatrix> matrices = new ArrayList<>();
                int maxCols = 0;
                try (GgufFile gguf = GgufFile.open(file)) {
                    for (Shape s : shapes) {
                        for (GgmlType t : o.types) {
                            if (s.cols % t.blockSize() != 0) {
                                out.println(String.format(Locale.ROOT, "{\"test\":\"skip\",\"type\":\"%s\",\"shape\":\"%s\",\"cols\":%d,"
                                        + "\"reason\":\"row length is not a multiple of the block size %d\"}", t, s.name, s.cols, t.blockSize()));
                                continue;
                            }
                            WeightMatrix w = WeightMatrix.of(file, gguf.tensor(tensorName(t, s)), s.cols, s.rows);
                            kernels.prepare(w); // an off-heap copy: the mapped file is not read after this
                            matrices.add(w);
                            maxCols = Math.max(maxCols, s.cols);
                        }
                    }
                }
                // As in LlamaModel: the threads share one staging of the input, large enough for every token count.
                int maxTokens = java.util.Arrays.stream(o.tokens).max().orElse(1);
                StagedInput staging = new StagedInput(maxTokens, maxCols);
                KernelScratch[] scratch = new KernelScratch[o.threads];
                for (int i = 0; i < o.threads; i++) scratch[i] = new KernelScratch(maxCols, staging);
                warmUp(matrices, scratch);
                for (WeightMatrix w : matrices) {
                    for (int tokens : o.tokens) measure(w, tokens, scratch);
                }
            } finally {
                Files.deleteIfExists(file);
                try (var left = Files.list(dir)) { // a .partial left by a failed write
                    for (Path p : (Iterable<Path>) left::iterator) Files.deleteIfExists(p);
                }
                Files.deleteIfExists(dir);
            }
        }

        private static String tensorName(GgmlType t, Shape s) {
            return s.name + "." + t.name();
        }

        private static float[] random(int n, long stream) {
            SplittableRandom rnd = new SplittableRandom(0x5EEDL * 31 + stream);
            float[] v = new float[n];
            for (int i = 0; i < n; i++) v[i] = (float) (rnd.nextDouble() * 0.2 - 0.1);
            return v;
        }

        /**
         * Runs every matrix at every token count, round-robin in two passes (~1 s in all, at least one call
         * each), so C2 compiles the kernels having seen every path: full and partial panel groups, both types,
         * single tokens and 8-token blocks. Warming up one shape only leaves paths that deoptimize and
         * recompile in the middle of the measurements.
         */
        private void warmUp(List<WeightMatrix> matrices, KernelScratch[] scratch) {
            int configs = matrices.size() * o.tokens.length;
            long budget = (o.quick ? 50_000_000L : 1_000_000_000L) / (2L * configs);
            for (int pass = 0; pass < 2; pass++) {
                for (WeightMatrix w : matrices) {
                    for (int tokens : o.tokens) {
                        Job job = job(w, tokens, scratch, 1);
                        long t0 = System.nanoTime();
                        do {
                            team.run(job);
                        } while (System.nanoTime() - t0 < budget);
                    }
                }
            }
        }

        private Job job(WeightMatrix w, int tokens, KernelScratch[] scratch, int calls) {
            float[] x = random(tokens * w.cols(), 99);
            float[] y = new float[tokens * w.rows()];
            return new Job(kernels, w, x, y, tokens, scratch, calls);
        }

        private void measure(WeightMatrix w, int tokens, KernelScratch[] scratch) {
            Job job = job(w, tokens, scratch, 1);
            long target = o.quick ? QUICK_REP_NANOS : TARGET_REP_NANOS;
            // Calibrate (and warm this shape): double the calls until a rep takes a quarter of the target,
            // each step the faster of two timings, so one preempted rep does not leave the reps far too short.
            long ns = fasterOfTwo(job);
            while (ns < target / 4 && job.calls < (1 << 24)) {
                job.calls *= 2;
                ns = fasterOfTwo(job);
            }
            job.calls = (int) Math.max(1, Math.min(1 << 26, (double) job.calls * target / Math.max(1, ns)));
            if (!o.quick) time(job);
            double[] perCall = new double[o.reps];
            for (int r = 0; r < o.reps; r++) perCall[r] = time(job) / 1e9 / job.calls;
            double median = median(perCall);
            double flop = 2.0 * w.rows() * w.cols() * tokens;
            double gflops = flop / median / 1e9;
            double[] runs = new double[o.reps];
            for (int r = 0; r < o.reps; r++) runs[r] = flop / perCall[r] / 1e9;
            StringBuilder sb = new StringBuilder(String.format(Locale.ROOT,
                    "{\"test\":\"matmul\",\"type\":\"%s\",\"shape\":\"%s\",\"rows\":%d,\"cols\":%d,\"tokens\":%d,\"threads\":%d,"
                            + "\"calls_per_rep\":%d,\"median_s_per_call\":%s,\"gflops\":%s,\"weight_gb_s\":%s,"
                            + "\"fraction_of_measured_peak\":%s",
                    w.type(), shapeName(w.name()), w.rows(), w.cols(), tokens, o.threads, job.calls, num(median), num(gflops),
                    num(kernels.preparedBytes(w) / median / 1e9), num(gflops / measuredPeak)));
            if (!Double.isNaN(nominalPeak)) sb.append(",\"fraction_of_nominal_peak\":").append(num(gflops / nominalPeak));
            sb.append(",\"runs_gflops\":").append(json(runs)).append('}');
            out.println(sb);
        }

        private long fasterOfTwo(Job job) {
            return Math.min(time(job), time(job));
        }

        private long time(Job job) {
            long t0 = System.nanoTime();
            team.run(job);
            return System.nanoTime() - t0;
        }
    }

    private static String shapeName(String tensorName) {
        int dot = tensorName.lastIndexOf('.');
        return dot < 0 ? tensorName : tensorName.substring(0, dot);
    }

    /** Each team member runs matmul over its panel-aligned share of the rows, {@code calls} times. */
    private static final class Job implements ThreadTeam.Task {
        final Kernels kernels;
        final WeightMatrix w;
        final float[] x, y;
        final int tokens;
        final KernelScratch[] scratch;
        int calls;

        Job(Kernels kernels, WeightMatrix w, float[] x, float[] y, int tokens, KernelScratch[] scratch, int calls) {
            this.kernels = kernels;
            this.w = w;
            this.x = x;
            this.y = y;
            this.tokens = tokens;
            this.scratch = scratch;
            this.calls = calls;
        }

        @Override
        public void run(int worker, int workers) {
            int g = kernels.rowGranularity();
            int panels = (w.rows() + g - 1) / g;
            int r0 = ThreadTeam.splitStart(panels, worker, workers) * g;
            int r1 = Math.min(w.rows(), ThreadTeam.splitStart(panels, worker + 1, workers) * g);
            if (r0 >= r1) return;
            KernelScratch s = scratch[worker];
            for (int c = 0; c < calls; c++) {
                kernels.matmul(w, x, 0, w.cols(), tokens, y, 0, w.rows(), r0, r1, s);
            }
        }
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    private static String json(double[] v) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < v.length; i++) {
            if (i > 0) sb.append(',');
            sb.append(num(v[i]));
        }
        return sb.append(']').toString();
    }

    /** A JSON number with 4 significant digits, never in exponent form (null when not finite). */
    static String num(double v) {
        if (!Double.isFinite(v)) return "null";
        if (v == 0) return "0";
        return new BigDecimal(v).round(new MathContext(4)).stripTrailingZeros().toPlainString();
    }

    private static String esc(String s) {
        StringBuilder sb = new StringBuilder();
        for (char ch : s.toCharArray()) {
            if (ch == '"' || ch == '\\') sb.append('\\').append(ch);
            else if (ch < 0x20) sb.append(String.format(Locale.ROOT, "\\u%04x", (int) ch));
            else sb.append(ch);
        }
        return sb.toString();
    }
}
