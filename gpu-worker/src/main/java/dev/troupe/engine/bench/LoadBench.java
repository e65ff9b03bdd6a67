package dev.troupe.engine.bench;

import dev.troupe.engine.Batch;
import dev.troupe.engine.EngineOptions;
import dev.troupe.engine.LlamaModel;
import dev.troupe.engine.kv.PagedKvCache;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Model load time and memory: wall time of {@link LlamaModel#load} (map, check, repack every weight for the
 * backend), then the process's resident memory split as Linux reports it (anonymous: the heap and the
 * off-heap panels; file: mapped pages of the GGUF still resident) against the file size, and the median
 * of 16 single-token decode steps after a 3 s warm-up. One JSON line, with the parts counted in bytes: the
 * weights in their file encoding, the backend's repacked copy, the KV pool, the Java heap in use; and the resident
 * memory once more after the decode steps (steady_*).
 *
 * <pre>java --add-modules jdk.incubator.vector -cp ... dev.troupe.engine.bench.LoadBench MODEL.gguf [threads [kvTokens]]</pre>
 * kvTokens: the KV pool in tokens; 0 = the engine's default pool; 256 when not given (a figure about the weights).
 */
public final class LoadBench {
    private LoadBench() {}

    public static void main(String[] args) throws IOException {
        if (args.length < 1 || args.length > 3) {
            System.err.println("usage: LoadBench MODEL.gguf [threads [kvTokens]]");
            System.exit(2);
        }
        run(Path.of(args[0]), args.length > 1 ? Integer.parseInt(args[1]) : 0, args.length > 2 ? Integer.parseInt(args[2]) : 256, System.out);
    }

    static void run(Path model, int threads, int kvTokens, PrintStream out) throws IOException {
        long fileBytes = Files.size(model);
        long[] before = rss();
        EngineOptions o = EngineOptions.defaults().withThreads(threads).withKvCacheTokens(kvTokens).withMaxBatchTokens(16);
        long t0 = System.nanoTime();
        try (LlamaModel m = LlamaModel.load(model, o)) {
            long loadNanos = System.nanoTime() - t0;
            System.gc();   // the heap's garbage of the load is not the model's
            long[] after = rss();
            Runtime rt = Runtime.getRuntime();
            long heapUsed = rt.totalMemory() - rt.freeMemory();
            // Decode speed after the JIT has compiled the kernels (the first steps run interpreted code).
            m.warmUp(java.time.Duration.ofSeconds(3));
            PagedKvCache kv = m.kvCache();
            int seq = kv.open();
            kv.reserve(seq, 16);
            Batch b = new Batch(m.maxBatchTokens());
            long[] steps = new long[16];
            for (int i = 0; i < steps.length; i++) {
                b.clear();
                b.add(seq, (i * 7919 + 3) % m.vocabSize(), i, true);
                long s = System.nanoTime();
                m.forward(b);
                steps[i] = System.nanoTime() - s;
            }
            java.util.Arrays.sort(steps);
            // Again in the steady state, after the steps: mappings let go of at load are unmapped by the collector
            // a moment after it runs, so the first figure may still count some of their pages.
            long[] steady = rss();
            out.println(String.format(Locale.ROOT,
                    "{\"test\":\"load\",\"model\":\"%s\",\"file_mib\":%.1f,\"weights\":\"%s\",\"backend\":\"%s\",\"threads\":%d,"
                            + "\"load_s\":%.2f,\"rss_mib\":%.1f,\"rss_anon_mib\":%.1f,\"rss_file_mib\":%.1f,\"rss_before_mib\":%.1f,"
                            + "\"rss_over_file\":%.2f,\"weights_mib\":%.1f,\"panels_mib\":%.1f,\"kv_mib\":%.1f,\"kv_tokens\":%d,"
                            + "\"kv_bytes_per_token\":%d,\"heap_used_mib\":%.1f,\"decode_step_median_ms\":%.1f,"
                            + "\"steady_rss_mib\":%.1f,\"steady_rss_anon_mib\":%.1f,\"steady_rss_file_mib\":%.1f}",
                    model.getFileName(), fileBytes / 1048576.0, m.config().architecture() + " " + fileType(m), m.backendName(), m.threads(),
                    loadNanos / 1e9, after[0] / 1024.0, after[1] / 1024.0, after[2] / 1024.0, before[0] / 1024.0,
                    after[0] * 1024.0 / fileBytes, m.weightBytes() / 1048576.0, m.preparedWeightBytes() / 1048576.0,
                    kv.bytes() / 1048576.0, kv.totalBlocks() * kv.blockSize(), kv.bytesPerToken(), heapUsed / 1048576.0,
                    steps[steps.length / 2] / 1e6, steady[0] / 1024.0, steady[1] / 1024.0, steady[2] / 1024.0));
        }
    }

    private static String fileType(LlamaModel m) {
        try {
            return "file_type " + m.file().getInt("general.file_type", -1);
        } catch (IOException e) {
            return "?";
        }
    }

    /** VmRSS, RssAnon, RssFile in KiB from /proc/self/status (zeros where not Linux). */
    static long[] rss() {
        long[] r = new long[3];
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                String[] p = line.split("\\s+");
                if (p.length < 2) continue;
                if (p[0].equals("VmRSS:")) r[0] = Long.parseLong(p[1]);
                if (p[0].equals("RssAnon:")) r[1] = Long.parseLong(p[1]);
                if (p[0].equals("RssFile:")) r[2] = Long.parseLong(p[1]);
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return r;
    }
}
