package dev.troupe.engine.bench;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Memory read bandwidth as the decode kernels meet it: T threads each stream through their share of a buffer
 * larger than the last-level cache, with the Vector API loads the kernels use; the best of several passes.
 * Single-stream decode reads every weight once a token, so bandwidth / weight bytes is its upper bound.
 */
public final class ReadBandwidth {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    private ReadBandwidth() {}

    /** Bytes a second read by {@code threads} threads over {@code bytes} of memory, best of {@code passes}. */
    public static double bytesPerSecond(int threads, long bytes, int passes) {
        int perThread = (int) Math.min(Integer.MAX_VALUE - 64, bytes / 4 / threads) / (4 * F.length()) * (4 * F.length());
        float[][] parts = new float[threads][];
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "read-bandwidth");
            t.setDaemon(true);
            return t;
        });
        try {
            // Each thread touches its own part first (first touch places the pages by the thread that reads them).
            run(pool, threads, i -> {
                parts[i] = new float[perThread];
                java.util.Arrays.fill(parts[i], 1f);
                return 0f;
            });
            double best = 0;
            for (int p = 0; p < passes; p++) {
                long t0 = System.nanoTime();
                run(pool, threads, i -> sum(parts[i])); // the sums leave through futures, so they are computed
                double secs = (System.nanoTime() - t0) / 1e9;
                best = Math.max(best, (double) perThread * 4 * threads / secs);
            }
            return best;
        } finally {
            pool.shutdownNow();
        }
    }

    private interface Part { float apply(int index); }

    private static float run(ExecutorService pool, int threads, Part part) {
        List<Future<Float>> futures = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            int index = i;
            futures.add(pool.submit(() -> part.apply(index)));
        }
        float total = 0;
        try {
            for (Future<Float> f : futures) total += f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
        return total;
    }

    /** Four independent accumulators, so the loads, not the adds, set the pace. */
    private static float sum(float[] a) {
        FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
        int l = F.length();
        for (int i = 0; i < a.length; i += 4 * l) {
            s0 = s0.add(FloatVector.fromArray(F, a, i));
            s1 = s1.add(FloatVector.fromArray(F, a, i + l));
            s2 = s2.add(FloatVector.fromArray(F, a, i + 2 * l));
            s3 = s3.add(FloatVector.fromArray(F, a, i + 3 * l));
        }
        return s0.add(s1).add(s2.add(s3)).reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
    }
}
