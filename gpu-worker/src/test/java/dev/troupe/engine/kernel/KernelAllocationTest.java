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
    private static final long BUDGET_BYTES = 16 * 1024;

    private static long allocatedBytes() {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        return mx.getThreadAllocatedBytes(Thread.currentThread().getId());
    }

    /** Bytes the last round of 2,000 calls allocated, after rounds until one is within budget (or time runs out). */
    private static long settledAllocation(Runnable call) {
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
}
