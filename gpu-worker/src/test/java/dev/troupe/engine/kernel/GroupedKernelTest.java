package dev.troupe.engine.kernel;

import dev.troupe.engine.gguf.GgmlType;
import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.gguf.GgufWriter;
import dev.troupe.engine.gguf.GroupedCodec;
import dev.troupe.engine.gguf.TensorCodec;
import dev.troupe.engine.model.WeightMatrix;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The vector kernels' grouped int8 layout computes, for every new quantized type, the product the scalar
 * kernels compute from the reference decoding (to float rounding), for single tokens, batches of eight and
 * a short batch, and for row ranges that end inside a panel. The weights are random bytes (with sane
 * scales), so every bit of the packed format takes part.
 */
class GroupedKernelTest {
    @TempDir Path dir;

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "BF16", "F16"})
    void vectorMatmulMatchesTheScalarReference(GgmlType type) throws Exception {
        boolean vector;
        try {
            vector = VectorKernels.usable();
        } catch (Throwable e) {
            vector = false;
        }
        Assumptions.assumeTrue(vector, "the Vector API is not available to this JVM");
        int rows = 72, cols = 512;   // 72 rows: four full panels and a partial one at any width up to 16
        ByteBuffer raw = randomBlocks(type, rows * cols / type.blockSize(), 5);
        Path f = dir.resolve(type + ".gguf");
        new GgufWriter().putString("general.architecture", "test")
                .addTensor("w", type, new long[] {cols, rows}, raw).write(f);
        try (GgufFile g = GgufFile.open(f)) {
            WeightMatrix a = WeightMatrix.of(f, g.tensor("w"), cols, rows);
            WeightMatrix b = WeightMatrix.of(f, g.tensor("w"), cols, rows);
            Kernels sk = new ScalarKernels();
            sk.prepare(b);
            // in-place loads (JDK 17) and the copying kernels (later JDKs, batches over 64 tokens)
            for (boolean direct : new boolean[] {true, false}) {
            Kernels vk = new VectorKernels(direct);
            vk.prepare(a);
            SplittableRandom rnd = new SplittableRandom(9);
            for (int tokens : new int[] {1, 3, 8, 11, 70}) {
                float[] x = new float[tokens * cols];
                for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                for (int[] range : new int[][] {{0, rows}, {0, 64}, {64, 70}}) {
                    float[] got = new float[tokens * rows], want = new float[tokens * rows];
                    KernelScratch s1 = new KernelScratch(cols), s2 = new KernelScratch(cols);
                    vk.matmul(a, x, 0, cols, tokens, got, 0, rows, range[0], range[1], s1);
                    sk.matmul(b, x, 0, cols, tokens, want, 0, rows, range[0], range[1], s2);
                    for (int t = 0; t < tokens; t++) {
                        for (int r = range[0]; r < range[1]; r++) {
                            float w = want[t * rows + r], v = got[t * rows + r];
                            // the sums differ in order and in where the scale is applied: allow rounding, scaled
                            // by the magnitude of the terms (the sum of |w| |x|), not of the result
                            float tol = 1e-5f * magnitude(b, r, x, t * cols) + 1e-6f;
                            assertTrue(Math.abs(w - v) <= tol, type + (direct ? " direct" : " copying") + " tokens " + tokens + " row " + r + " token " + t
                                    + ": vector " + v + " scalar " + w + " (tolerance " + tol + ")");
                        }
                        for (int r = 0; r < rows; r++) {
                            if (r < range[0] || r >= range[1]) assertEquals(0f, got[t * rows + r], "row " + r + " outside the range was written");
                        }
                    }
                }
            }
            }
        }
    }

    /**
     * A token's products do not depend on its batch: alone (the decode path), in a group of eight or in a short
     * last group, every output is the same float, as the step loop's determinism needs.
     */
    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q4_1", "Q6_K", "Q4_K", "Q2_K", "Q5_1", "Q8_0", "F32", "F16", "BF16"})
    void aTokensResultDoesNotDependOnItsBatch(GgmlType type) throws Exception {
        Assumptions.assumeTrue(vectorUsable(), "the Vector API is not available to this JVM");
        int rows = 128, cols = 512, tokens = 11;
        Path f = dir.resolve(type + "-batch.gguf");
        new GgufWriter().putString("general.architecture", "test")
                .addTensor("w", type, new long[] {cols, rows}, randomBlocks(type, rows * cols / type.blockSize(), 6)).write(f);
        try (GgufFile g = GgufFile.open(f)) {
            WeightMatrix w = WeightMatrix.of(f, g.tensor("w"), cols, rows);
            for (boolean direct : new boolean[] {true, false}) {
            Kernels vk = new VectorKernels(direct);
            vk.prepare(w);
            SplittableRandom rnd = new SplittableRandom(2);
            float[] x = new float[tokens * cols];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            float[] batched = new float[tokens * rows];
            KernelScratch s = new KernelScratch(cols);
            s.newInput();
            vk.matmul(w, x, 0, cols, tokens, batched, 0, rows, 0, rows, s);
            for (int t = 0; t < tokens; t++) {
                float[] alone = new float[rows];
                s.newInput();
                vk.matmul(w, x, t * cols, cols, 1, alone, 0, rows, 0, rows, s);
                for (int r = 0; r < rows; r++) {
                    assertEquals(Float.floatToRawIntBits(batched[t * rows + r]), Float.floatToRawIntBits(alone[r]),
                            type + (direct ? " direct" : " copying") + " token " + t + " row " + r + ": batched " + batched[t * rows + r] + ", alone " + alone[r]);
                }
            }
            }
        }
    }

    private static boolean vectorUsable() {
        try {
            return VectorKernels.usable();
        } catch (Throwable e) {
            return false;
        }
    }

    private static float magnitude(WeightMatrix w, int r, float[] x, int x0) {
        float[] row = new float[w.cols()];
        w.dequantizeRow(r, row, 0);
        double m = 0;
        for (int c = 0; c < row.length; c++) m += Math.abs(row[c] * x[x0 + c]);
        return (float) m;
    }

    /**
     * Random bytes for {@code blocks} blocks of a type, each redrawn until it decodes to finite values no larger
     * than 1e3 (a random half-precision scale can be infinite, NaN or huge).
     */
    static ByteBuffer randomBlocks(GgmlType type, int blocks, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        TensorCodec codec = TensorCodec.of(type);
        ByteBuffer buf = ByteBuffer.allocate(blocks * type.blockBytes()).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[type.blockSize()];
        for (int b = 0; b < blocks; b++) {
            int at = b * type.blockBytes();
            while (true) {
                for (int i = 0; i < type.blockBytes(); i++) buf.put(at + i, (byte) rnd.nextInt(256));
                codec.dequantize(buf, at, out, 0, out.length);
                boolean ok = true;
                for (float v : out) ok &= Float.isFinite(v) && Math.abs(v) <= 1e3f;
                if (ok) break;
            }
        }
        return buf;
    }
}
