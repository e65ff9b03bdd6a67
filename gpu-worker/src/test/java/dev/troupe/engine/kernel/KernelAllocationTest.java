package dev.troupe.engine.kernel;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
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

    static long settledAllocation(Runnable call) {
        return MatmulAllocationCheck.settledAllocation(call, 2_000, BUDGET_BYTES, WITHIN_NANOS);
    }

    @Test
    void elementwiseAndAttentionKernelsAllocateNothingOnceCompiled() {
        Assumptions.assumeTrue(vectorUsable(), "the Vector API is not available to this JVM");
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
        // Attention over one F32 KV block (16 slots, head size 48); HalfKvKernelTest covers the F16 cache.
        int block = 16, head = 48;
        float[] q = new float[head], keys = new float[block * head], out = new float[block + head];
        for (int i = 0; i < keys.length; i++) keys[i] = (float) rnd.nextGaussian();
        long attention = settledAllocation(() -> {
            k.blockScores(q, 0, 0.125f, keys, 0, block, head, out, 0);
            java.util.Arrays.fill(out, block, block + head, 0f);
            k.blockWeightedSum(out, 0, block, keys, 0, head, out, block);
            sink[0] += out[block + 1];
        });
        assertTrue(attention <= BUDGET_BYTES, "the F32 attention kernels still allocate " + attention + " bytes per 2,000 calls");
        assertTrue(Float.isFinite(sink[0]));
        assertTrue(swiglu <= BUDGET_BYTES, "swiglu still allocates " + swiglu + " bytes per 2,000 calls after compilation");
        assertTrue(softmax <= BUDGET_BYTES, "expShiftSum still allocates " + softmax + " bytes per 2,000 calls after compilation");
    }

    /** Every weight type's matmul (decode, batches, long prompt chunks; direct and copied panels) allocates nothing once compiled. */
    @Test
    void matmulAllocatesNothingOnceCompiled() throws Exception {
        Assumptions.assumeTrue(vectorUsable(), "the Vector API is not available to this JVM");
        List<String> failures = MatmulAllocationCheck.run(10_000_000_000L);
        assertTrue(failures.isEmpty(), "still allocating after compilation: " + failures);
    }

    /**
     * The same in a JVM that compiles in the foreground ({@code -Xbatch}): C2 then compiles the kernels at other
     * moments, with other profiles, which is how boxed accumulators that a normal run missed were found.
     */
    @Test
    void matmulAllocatesNothingWhenCompiledInTheForeground() throws Exception {
        Assumptions.assumeTrue(vectorUsable(), "the Vector API is not available to this JVM");
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(java.toString(), "-Xbatch", "--add-modules", "jdk.incubator.vector",
                "-cp", System.getProperty("java.class.path"), MatmulAllocationCheck.class.getName(), "10000000000")
                .redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.MINUTES), "the check did not end");
        assertEquals(0, p.exitValue(), "still allocating after compilation under -Xbatch:\n" + output);
    }

    private static boolean vectorUsable() {
        try {
            return VectorKernels.usable();
        } catch (Throwable e) {
            return false;
        }
    }
}
