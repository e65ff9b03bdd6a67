package dev.troupe.engine.kernel;

import dev.troupe.engine.gguf.Float16;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Attention over an F16 KV cache: the kernels widen each half exactly, so they compute the same sums as the F32
 * kernels over the widened values, bit for bit, and allocate nothing per call.
 */
class HalfKvKernelTest {
    private static boolean vector() {
        try {
            return VectorKernels.usable();
        } catch (Throwable e) {
            return false;
        }
    }

    @Test
    void vectorWideningIsExactForEveryFiniteHalf() {
        Assumptions.assumeTrue(vector(), "the Vector API is not available to this JVM");
        short[] all = new short[65536];
        for (int i = 0; i < all.length; i++) all[i] = (short) i;
        // Through the kernel (one slot of weight 1: out = 0 + 1 * v, exact), not by calling the helper from here: a
        // helper the JIT compiles on its own is no longer inlined, and its vectors would be boxed.
        float[] got = new float[all.length];
        new VectorKernels().blockWeightedSum(new float[] {1f}, 0, 1, all, 0, all.length, got, 0);
        for (int i = 0; i < all.length; i++) {
            if (((i >>> 10) & 0x1F) == 0x1F) continue;   // infinities and NaNs: the cache never stores them
            // == : the same value (0 + 1 * -0 is +0, a sign no sum can see)
            assertTrue(Float16.toFloat(all[i]) == got[i], "half 0x" + Integer.toHexString(i) + ": " + got[i] + ", expected " + Float16.toFloat(all[i]));
        }
    }

    @Test
    void halfKernelsMatchTheFloatKernelsOnTheWidenedValues() {
        for (Kernels k : vector() ? new Kernels[] {new VectorKernels(), new ScalarKernels()} : new Kernels[] {new ScalarKernels()}) {
            SplittableRandom rnd = new SplittableRandom(5);
            for (int headDim : new int[] {8, 48, 64, 72}) {
                for (int bs : new int[] {16, 12}) {
                    int n = 3 * bs * headDim;
                    short[] h = new short[n];
                    float[] f = new float[n];
                    for (int i = 0; i < n; i++) {
                        h[i] = Float16.fromFloat((float) (rnd.nextGaussian() * 3));
                        f[i] = Float16.toFloat(h[i]);
                    }
                    float[] q = new float[headDim], p = new float[bs];
                    for (int i = 0; i < headDim; i++) q[i] = (float) rnd.nextGaussian();
                    for (int i = 0; i < bs; i++) p[i] = (float) rnd.nextDouble();
                    int base = bs * headDim;
                    float[] a = new float[bs], b = new float[bs];
                    k.blockScores(q, 0, 0.125f, f, base, bs, headDim, a, 0);
                    k.blockScores(q, 0, 0.125f, h, base, bs, headDim, b, 0);
                    assertArrayEquals(a, b, k.name() + " scores, headDim " + headDim + ", block " + bs);
                    float[] oa = new float[headDim], ob = new float[headDim];
                    k.blockWeightedSum(p, 0, bs - 1, f, base, headDim, oa, 0);
                    k.blockWeightedSum(p, 0, bs - 1, h, base, headDim, ob, 0);
                    // the vector F32 kernel keeps three chains, the half one two: the same order within each lane
                    assertArrayEquals(oa, ob, k.name() + " weighted sum, headDim " + headDim + ", block " + bs);
                }
            }
        }
    }

    @Test
    void halfAttentionKernelsAllocateNothingOnceCompiled() {
        Assumptions.assumeTrue(vector(), "the Vector API is not available to this JVM");
        Kernels k = new VectorKernels();
        int bs = 16, hd = 64;
        short[] cache = new short[4 * bs * hd];
        for (int i = 0; i < cache.length; i++) cache[i] = Float16.fromFloat((i % 13) * 0.1f - 0.6f);
        float[] q = new float[hd], p = new float[bs], scores = new float[bs], out = new float[hd];
        java.util.Arrays.fill(q, 0.3f);
        java.util.Arrays.fill(p, 0.05f);
        long bytes = KernelAllocationTest.settledAllocation(() -> {
            k.blockScores(q, 0, 0.125f, cache, bs * hd, bs, hd, scores, 0);
            k.blockWeightedSum(p, 0, bs, cache, 2 * bs * hd, hd, out, 0);
        });
        assertTrue(Float.isFinite(out[0] + scores[0]));
        assertTrue(bytes <= KernelAllocationTest.BUDGET_BYTES, "F16 attention kernels still allocate " + bytes + " bytes per 2,000 calls");
    }
}
