package dev.troupe.engine.kernel;

import dev.troupe.engine.gguf.Float16;
import dev.troupe.engine.gguf.GgmlType;
import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.gguf.GgufWriter;
import dev.troupe.engine.model.WeightMatrix;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The native int8 kernels compute exactly the arithmetic troupe_kernels.c states (checked bit for bit against
 * {@link #reference}, a Java transcription of it), for every token count the tiling takes apart (single tokens,
 * short and full tiles, more than one chunk of 64), row ranges that start and end inside the matrix, partial last
 * panels, and inputs read and written at offsets and strides; and that arithmetic stays within int8 quantization
 * error of the float product. Runs where the library loads and the CPU has AVX-512 VNNI.
 */
class NativeKernelsTest {
    @TempDir Path dir;

    @BeforeEach
    void needsTheNativeKernels() {
        Assumptions.assumeTrue(NativeKernels.usable(), () -> "native int8 kernels: " + NativeKernels.unavailableReason());
        Assumptions.assumeTrue(vectorUsable(), "the Vector API is not available to this JVM");
    }

    @Test
    void q8MatmulIsTheStatedArithmeticBitForBit() throws Exception {
        for (int[] shape : new int[][] {{40, 96}, {16, 32}, {100, 512}, {33, 2048}}) {
            int rows = shape[0], cols = shape[1];
            WeightMatrix w = q8Matrix(rows, cols, rows * 31L + cols);
            Kernels k = new NativeKernels(new VectorKernels());
            k.prepare(w);
            SplittableRandom rnd = new SplittableRandom(rows + cols);
            for (int tokens : new int[] {1, 2, 7, 8, 9, 64, 65, 130}) {
                int xOff = 5, xStride = cols + 3, outOff = 2, outStride = rows + 7;
                float[] x = new float[xOff + tokens * xStride];
                for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() * (i % 97 == 0 ? 30 : 1));
                // a block of zeros: its scale is 0 and it adds nothing
                if (cols >= 64) java.util.Arrays.fill(x, xOff + 32, xOff + 64, 0f);
                for (int[] range : new int[][] {{0, rows}, {16, rows}, {0, Math.min(16, rows)}, {16, Math.min(32, rows)}}) {
                    if (range[0] >= range[1]) continue;
                    float[] out = new float[outOff + tokens * outStride];
                    java.util.Arrays.fill(out, Float.NaN);
                    k.matmul(w, x, xOff, xStride, tokens, out, outOff, outStride, range[0], range[1], null);
                    for (int t = 0; t < tokens; t++) {
                        for (int r = 0; r < rows; r++) {
                            float got = out[outOff + t * outStride + r];
                            if (r < range[0] || r >= range[1]) {
                                assertTrue(Float.isNaN(got), "row " + r + " outside [" + range[0] + ", " + range[1] + ") was written");
                                continue;
                            }
                            float want = reference(w, r, x, xOff + t * xStride);
                            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got),
                                    rows + "x" + cols + ", " + tokens + " tokens, row " + r + " token " + t + ": native " + got + ", reference " + want);
                        }
                    }
                }
            }
        }
    }

    @Test
    void int8InputsStayWithinQuantizationErrorOfTheFloatProduct() throws Exception {
        int rows = 64, cols = 2048;
        WeightMatrix w = q8Matrix(rows, cols, 3);
        Kernels k = new NativeKernels(new VectorKernels());
        k.prepare(w);
        SplittableRandom rnd = new SplittableRandom(4);
        float[] x = new float[cols], out = new float[rows], row = new float[cols];
        for (int i = 0; i < cols; i++) x[i] = (float) rnd.nextGaussian();
        k.matmul(w, x, 0, cols, 1, out, 0, rows, 0, rows, null);
        for (int r = 0; r < rows; r++) {
            w.dequantizeRow(r, row, 0);
            double exact = 0, magnitude = 0;
            for (int c = 0; c < cols; c++) {
                exact += (double) row[c] * x[c];
                magnitude += Math.abs((double) row[c] * x[c]);
            }
            // each input moves by at most half a step of its block's 1/127 scale: under 0.4% of the block's largest
            assertTrue(Math.abs(out[r] - exact) <= 4e-3 * magnitude, "row " + r + ": int8 " + out[r] + ", float " + exact + " (terms " + magnitude + ")");
        }
    }

    @Test
    void indicesOutsideTheArraysAreRefusedBeforeTheNativeCall() throws Exception {
        int rows = 32, cols = 64;
        WeightMatrix w = q8Matrix(rows, cols, 5);
        Kernels k = new NativeKernels(new VectorKernels());
        k.prepare(w);
        float[] x = new float[2 * cols], out = new float[2 * rows];
        assertThrows(IndexOutOfBoundsException.class, () -> k.matmul(w, x, 1, cols, 2, out, 0, rows, 0, rows, null));
        assertThrows(IndexOutOfBoundsException.class, () -> k.matmul(w, x, 0, cols, 2, out, 1, rows, 0, rows, null));
        assertThrows(IndexOutOfBoundsException.class, () -> k.matmul(w, x, 0, cols, 1, out, 0, rows, 8, rows, null));
        assertThrows(IndexOutOfBoundsException.class, () -> k.matmul(w, x, 0, cols, 1, out, 0, rows, 0, rows + 1, null));
        assertThrows(IndexOutOfBoundsException.class, () -> k.matmul(w, x, 0, cols, 3, out, 0, rows, 0, rows, null));
        k.matmul(w, x, 0, cols, 2, out, 0, rows, 0, rows, null);   // the largest call that fits
    }

    /**
     * Row r of a Q8_0 matrix times one token, as troupe_kernels.c computes it: each block of 32 inputs quantized with
     * d = max|x| / 127 to q = rint(x / d) (by the reciprocal), the block's integer dot product with the weights'
     * quants, then acc = fma(idot, dw * dx, acc) block after block.
     */
    static float reference(WeightMatrix w, int r, float[] x, int x0) {
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

    private WeightMatrix q8Matrix(int rows, int cols, long seed) throws Exception {
        Path f = dir.resolve("q8-" + rows + "x" + cols + "-" + seed + ".gguf");
        new GgufWriter().putString("general.architecture", "test")
                .addTensor("w", GgmlType.Q8_0, new long[] {cols, rows}, GroupedKernelTest.randomBlocks(GgmlType.Q8_0, rows * cols / 32, seed)).write(f);
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
