package dev.troupe.engine.kernel;

import dev.troupe.engine.gguf.Float16;
import dev.troupe.engine.gguf.GgmlType;
import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.gguf.GgufWriter;
import dev.troupe.engine.gguf.IntScaledCodec;
import dev.troupe.engine.model.WeightMatrix;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The native kernels compute exactly the arithmetic troupe_kernels.c states for Q8_0, Q4_K, Q6_K, F16 and BF16 (checked
 * bit for bit against {@link #reference}, a Java transcription of it), for every token count the tiling takes apart (single tokens,
 * short and full tiles, more than one chunk of 64), row ranges that start and end inside the matrix, partial last
 * panels, and inputs read and written at offsets and strides; and that arithmetic stays within int8 quantization
 * error of the float product. F16 and BF16 are held bit for bit to the plain fma chain in column order, whatever
 * the batch and the rows. Runs where the library loads (AVX2 or AVX-512 VNNI), once for each level the CPU
 * runs: both levels are held to the same reference.
 */
class NativeKernelsTest {
    @TempDir Path dir;

    @BeforeEach
    void needsTheNativeKernels() {
        Assumptions.assumeTrue(NativeKernels.usable(), () -> "native int8 kernels: " + NativeKernels.unavailableReason());
        Assumptions.assumeTrue(vectorUsable(), "the Vector API is not available to this JVM");
    }

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q8_0", "Q4_K", "Q6_K", "F16", "BF16"})
    void matmulIsTheStatedArithmeticBitForBit(GgmlType type) throws Exception {
        boolean half = type == GgmlType.F16 || type == GgmlType.BF16;
        // 100 and 120 rows: groups of four panels, then two and one (the 16-bit kernels' tiles of rows)
        int[][] shapes = type == GgmlType.Q8_0 ? new int[][] {{40, 96}, {16, 32}, {100, 512}, {33, 2048}}
                : half ? new int[][] {{40, 96}, {16, 37}, {100, 512}, {120, 64}, {33, 2048}}
                : new int[][] {{40, 256}, {16, 512}, {33, 2048}};
        for (int level = NativeMatmul.AVX2; level <= NativeMatmul.level(); level++) for (int[] shape : shapes) {
            int rows = shape[0], cols = shape[1];
            WeightMatrix w = matrix(type, rows, cols, rows * 31L + cols);
            Kernels k = new NativeKernels(new VectorKernels(), level);
            k.prepare(w);
            SplittableRandom rnd = new SplittableRandom(rows + cols);
            for (int tokens : new int[] {1, 2, 3, 4, 7, 8, 9, 64, 65, 130}) {
                int xOff = 5, xStride = cols + 3, outOff = 2, outStride = rows + 7;
                float[] x = new float[xOff + tokens * xStride];
                for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() * (i % 97 == 0 ? 30 : 1));
                // a block of zeros: its scale is 0 and it adds nothing
                if (cols >= 64) java.util.Arrays.fill(x, xOff + 32, xOff + 64, 0f);
                for (int[] range : new int[][] {{0, rows}, {16, rows}, {0, Math.min(16, rows)}, {16, Math.min(32, rows)}}) {
                    if (range[0] >= range[1]) continue;
                    float[] out = new float[outOff + tokens * outStride];
                    if (type != GgmlType.Q8_0 && !half && tokens > 9 && cols > 512) continue;   // the reference is slow; 130 tokens cover the tiling above
                    java.util.Arrays.fill(out, Float.NaN);
                    k.matmul(w, x, xOff, xStride, tokens, out, outOff, outStride, range[0], range[1], new KernelScratch(cols));
                    for (int t = 0; t < tokens; t++) {
                        for (int r = 0; r < rows; r++) {
                            float got = out[outOff + t * outStride + r];
                            if (r < range[0] || r >= range[1]) {
                                assertTrue(Float.isNaN(got), "row " + r + " outside [" + range[0] + ", " + range[1] + ") was written");
                                continue;
                            }
                            float want = reference(w, r, x, xOff + t * xStride);
                            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got),
                                    NativeMatmul.levelName(level) + " " + type + " " + rows + "x" + cols + ", " + tokens + " tokens, row " + r + " token " + t + ": native " + got + ", reference " + want);
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q8_0", "Q4_K", "Q6_K"})
    void int8InputsStayWithinQuantizationErrorOfTheFloatProduct(GgmlType type) throws Exception {
        int rows = 64, cols = 2048, block = type == GgmlType.Q8_0 ? 32 : 256;
        WeightMatrix w = matrix(type, rows, cols, 3);
        Kernels k = new NativeKernels(new VectorKernels());   // the bit-exact test ties the other level to this one
        k.prepare(w);
        SplittableRandom rnd = new SplittableRandom(4);
        float[] x = new float[cols], out = new float[rows], row = new float[cols];
        for (int i = 0; i < cols; i++) x[i] = (float) rnd.nextGaussian();
        k.matmul(w, x, 0, cols, 1, out, 0, rows, 0, rows, new KernelScratch(cols));
        for (int r = 0; r < rows; r++) {
            w.dequantizeRow(r, row, 0);
            double exact = 0, magnitude = 0, bound = 0;
            for (int b = 0; b < cols / block; b++) {
                double amax = 0, weights = 0;
                for (int c = b * block; c < (b + 1) * block; c++) {
                    exact += (double) row[c] * x[c];
                    magnitude += Math.abs((double) row[c] * x[c]);
                    amax = Math.max(amax, Math.abs(x[c]));
                    weights += Math.abs(row[c]);
                }
                // each input moves by at most half a step of its block's scale max|x| / 127
                bound += amax / 254 * weights;
            }
            double tolerance = bound * 1.01 + 1e-5 * magnitude;
            assertTrue(Math.abs(out[r] - exact) <= tolerance, type + " row " + r + ": int8 " + out[r] + ", float " + exact + " (tolerance " + tolerance + ")");
        }
    }

    /** A decode-sized and a batched matmul allocate nothing per call once the input's quantized copy exists. */
    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q8_0", "Q4_K", "Q6_K", "F16"})
    void matmulAllocatesNothingPerCall(GgmlType type) throws Exception {
        int rows = 64, cols = 512;
        WeightMatrix w = matrix(type, rows, cols, 6);
        Kernels k = new NativeKernels(new VectorKernels());
        k.prepare(w);
        float[] x = new float[8 * cols], out = new float[8 * rows];
        java.util.Arrays.fill(x, 0.5f);
        KernelScratch scratch = new KernelScratch(cols);
        int[] round = {0};
        long bytes = KernelAllocationTest.settledAllocation(() -> {
            scratch.newInput();   // a new input each time: quantizing is part of the call
            int tokens = round[0]++ % 2 == 0 ? 1 : 8;
            k.matmul(w, x, 0, cols, tokens, out, 0, rows, 0, rows, scratch);
        });
        assertTrue(bytes <= KernelAllocationTest.BUDGET_BYTES, type + ": " + bytes + " bytes allocated per 2,000 calls");
    }

    @Test
    void indicesOutsideTheArraysAreRefusedBeforeTheNativeCall() throws Exception {
        int rows = 32, cols = 64;
        WeightMatrix w = matrix(GgmlType.Q8_0, rows, cols, 5);
        Kernels k = new NativeKernels(new VectorKernels());
        k.prepare(w);
        float[] x = new float[2 * cols], out = new float[2 * rows];
        assertThrows(IndexOutOfBoundsException.class, () -> k.matmul(w, x, 1, cols, 2, out, 0, rows, 0, rows, null));
        assertThrows(IndexOutOfBoundsException.class, () -> k.matmul(w, x, 0, cols, 2, out, 1, rows, 0, rows, null));
        assertThrows(IndexOutOfBoundsException.class, () -> k.matmul(w, x, 0, cols, 1, out, 0, rows, 8, rows, null));
        assertThrows(IndexOutOfBoundsException.class, () -> k.matmul(w, x, 0, cols, 1, out, 0, rows, 0, rows + 1, null));
        assertThrows(IndexOutOfBoundsException.class, () -> k.matmul(w, x, 0, cols, 3, out, 0, rows, 0, rows, null));
        k.matmul(w, x, 0, cols, 2, out, 0, rows, 0, rows, new KernelScratch(cols));   // the largest call that fits
    }

    /** Row r of a matrix times one token, as troupe_kernels.c computes it for the matrix's type. */
    static float reference(WeightMatrix w, int r, float[] x, int x0) {
        if (w.type() == GgmlType.F16 || w.type() == GgmlType.BF16) return referenceHalf(w, r, x, x0);
        return w.type() == GgmlType.Q8_0 ? referenceQ8(w, r, x, x0) : referenceK(w, IntScaledCodec.of(w.type()), r, x, x0);
    }

    /** F16 and BF16: the weights widened exactly, acc = fma(w, x, acc) column after column from zero. */
    static float referenceHalf(WeightMatrix w, int r, float[] x, int x0) {
        float[] row = new float[w.cols()];
        w.dequantizeRow(r, row, 0);
        float acc = 0f;
        for (int c = 0; c < row.length; c++) acc = Math.fma(row[c], x[x0 + c], acc);
        return acc;
    }

    /**
     * Q8_0: each block of 32 inputs quantized with
     * d = max|x| / 127 to q = rint(x / d) (by the reciprocal), the block's integer dot product with the weights'
     * quants, then acc = fma(idot, dw * dx, acc) block after block.
     */
    static float referenceQ8(WeightMatrix w, int r, float[] x, int x0) {
        ByteBuffer b = w.data();
        int blocks = w.cols() / 32;
        float acc = 0f;
        for (int blk = 0; blk < blocks; blk++) {
            float amax = 0f;
            for (int i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[x0 + blk * 32 + i]));
            float d = amax / 127f;
            float id = d != 0f ? 1f / d : 0f;
            int at = r * w.rowBytes() + blk * 34;
            int idot = 0;
            for (int i = 0; i < 32; i++) {
                int q = (int) Math.max(-128, Math.min(127, Math.rint(x[x0 + blk * 32 + i] * id)));
                idot += q * b.get(at + 2 + i);
            }
            float dw = Float16.toFloat(b.getShort(at));
            acc = Math.fma((float) idot, dw * d, acc);
        }
        return acc;
    }

    /**
     * K-quants: each super-block of 256 inputs quantized with d = max|x| / 127 (by the reciprocal, rint), then
     * isum = sum_g sc[g] * (u . q)_g and msum = sum_g mn[g] * sum(q)_g as integers, and
     * acc = fma(isum, a * d, acc); acc = fma(msum, b * d, acc) super-block after super-block.
     */
    static float referenceK(WeightMatrix w, IntScaledCodec codec, int r, float[] x, int x0) {
        int groups = 256 / codec.groupSize(), gs = codec.groupSize();
        byte[] u = new byte[256];
        int[] sc = new int[groups], mn = new int[groups];
        float[] ab = new float[2];
        float acc = 0f;
        for (int blk = 0; blk < w.cols() / 256; blk++) {
            codec.unpackInts(w.data(), r * w.rowBytes() + blk * w.type().blockBytes(), u, 0, sc, mn, 0, ab);
            float amax = 0f;
            for (int i = 0; i < 256; i++) amax = Math.max(amax, Math.abs(x[x0 + blk * 256 + i]));
            float d = amax / 127f;
            float id = d != 0f ? 1f / d : 0f;
            int isum = 0, msum = 0;
            for (int g = 0; g < groups; g++) {
                int dot = 0, sum = 0;
                for (int i = g * gs; i < (g + 1) * gs; i++) {
                    int q = (int) Math.max(-128, Math.min(127, Math.rint(x[x0 + blk * 256 + i] * id)));
                    dot += (u[i] & 0xFF) * q;
                    sum += q;
                }
                isum += sc[g] * dot;
                msum += mn[g] * sum;
            }
            acc = Math.fma((float) isum, ab[0] * d, acc);
            acc = Math.fma((float) msum, ab[1] * d, acc);
        }
        return acc;
    }

    private WeightMatrix matrix(GgmlType type, int rows, int cols, long seed) throws Exception {
        Path f = dir.resolve(type + "-" + rows + "x" + cols + "-" + seed + ".gguf");
        new GgufWriter().putString("general.architecture", "test")
                .addTensor("w", type, new long[] {cols, rows}, GroupedKernelTest.randomBlocks(type, rows * cols / type.blockSize(), seed)).write(f);
        GgufFile g = GgufFile.open(f);   // stays open: the matrix reads its mapping in reference()
        return WeightMatrix.of(f, g.tensor("w"), cols, rows);
    }

    private static boolean vectorUsable() {
        try {
            return VectorKernels.usable();
        } catch (Throwable e) {
            return false;
        }
    }
}
