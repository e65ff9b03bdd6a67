package dev.troupe.engine.kernel;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The element-wise vector kernels of every layer (SwiGLU, the softmax's exp) allocate nothing once the JIT
 * has compiled them. Before C2 they run as allocating Java fallbacks, so the test runs rounds until one
 * allocates (next to) nothing, within a generous time; a kernel that stays boxed after compilation (a helper call,
 * an op with a scalar operand or a float-to-int conversion in the loop did: ~350 MB/s of garbage under
 * load) never gets there.
 */
class KernelAllocationTest {
    private static final long WITHIN_NANOS = 20_000_000_000L;
    /** Per round of 2,000 calls: a few hundred bytes come from the measuring itself; the boxed kernels made MBs. */
    static final long BUDGET_BYTES = 16 * 1024;

    private static long allocatedBytes() {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        return mx.getThreadAllocatedBytes(Thread.currentThread().getId());
    }

    /** Bytes the last round of 2,000 calls allocated, after rounds until one is within budget (or time runs out). */
    static long settledAllocation(Runnable call) {
        long last = Long.MAX_VALUE;
        for (long end = System.nanoTime() + WITHIN_NANOS; System.nanoTime() < end && last > BUDGET_BYTES; ) {
            long before = allocatedBytes();
            for (int i = 0; i < 2_000; i++) call.run();
            last = allocatedBytes() - before;
        }
        return last;
    }

    @Test
    void swigluAndTheSoftmaxExpAllocateNothingOnceCompiled() {
        boolean vector;
        try {
            vector = VectorKernels.usable();
        } catch (Throwable e) {
            vector = false;
        }
        Assumptions.assumeTrue(vector, "the Vector API is not available to this JVM");
        Kernels k = new VectorKernels();
        SplittableRandom rnd = new SplittableRandom(11);
        float[] gate = new float[768 + 5], up = new float[768 + 5], scores = new float[256 + 3];
        for (int i = 0; i < up.length; i++) up[i] = (float) (rnd.nextDouble() * 2 - 1);
        float[] gateInit = new float[gate.length];
        for (int i = 0; i < gateInit.length; i++) gateInit[i] = (float) (rnd.nextDouble() * 8 - 4);
        float[] sink = new float[1];
        long swiglu = settledAllocation(() -> {
            System.arraycopy(gateInit, 0, gate, 0, gate.length);
            k.swiglu(gate, up, 1, 768 + 3);
            sink[0] += gate[7];
        });
        long softmax = settledAllocation(() -> {
            for (int i = 0; i < scores.length; i++) scores[i] = (i % 17) * 0.25f - 2f;
            sink[0] += k.expShiftSum(scores, 1, 256 + 1, 2f);
        });
        assertTrue(Float.isFinite(sink[0]));
        assertTrue(swiglu <= BUDGET_BYTES, "swiglu still allocates " + swiglu + " bytes per 2,000 calls after compilation");
        assertTrue(softmax <= BUDGET_BYTES, "expShiftSum still allocates " + softmax + " bytes per 2,000 calls after compilation");
    }

    /**
     * The grouped quantized matmul (decode and an 8-token batch, Q4_K with offsets and Q6_K without) allocates
     * nothing per call once compiled: its buffers are the thread's KernelScratch.
     */
    @Test
    void groupedQuantizedMatmulAllocatesNothingOnceCompiled(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        boolean vector;
        try {
            vector = VectorKernels.usable();
        } catch (Throwable e) {
            vector = false;
        }
        Assumptions.assumeTrue(vector, "the Vector API is not available to this JVM");
        for (dev.troupe.engine.gguf.GgmlType type : new dev.troupe.engine.gguf.GgmlType[] {dev.troupe.engine.gguf.GgmlType.Q4_K, dev.troupe.engine.gguf.GgmlType.Q6_K}) {
            int rows = 128, cols = 512;
            float[] values = new float[rows * cols];
            SplittableRandom rnd = new SplittableRandom(3);
            for (int i = 0; i < values.length; i++) values[i] = (float) rnd.nextGaussian();
            java.nio.file.Path f = dir.resolve(type + ".gguf");
            new dev.troupe.engine.gguf.GgufWriter().putString("general.architecture", "test")
                    .addTensor("w", type, new long[] {cols, rows}, values).write(f);
            try (dev.troupe.engine.gguf.GgufFile g = dev.troupe.engine.gguf.GgufFile.open(f)) {
                dev.troupe.engine.model.WeightMatrix w = dev.troupe.engine.model.WeightMatrix.of(f, g.tensor("w"), cols, rows);
                Kernels k = new VectorKernels();
                k.prepare(w);
                KernelScratch scratch = new KernelScratch(cols);
                float[] x = new float[8 * cols], out = new float[8 * rows];
                for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                long decode = settledAllocation(() -> k.matmul(w, x, 0, cols, 1, out, 0, rows, 0, rows, scratch));
                long batch = settledAllocation(() -> k.matmul(w, x, 0, cols, 8, out, 0, rows, 0, rows, scratch));
                assertTrue(decode <= BUDGET_BYTES, type + " decode matmul still allocates " + decode + " bytes per 2,000 calls");
                assertTrue(batch <= BUDGET_BYTES, type + " 8-token matmul still allocates " + batch + " bytes per 2,000 calls");
            }
        }
    }
}
