package dev.troupe.engine.kernel;

import dev.troupe.engine.gguf.GgmlType;
import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.gguf.GgufWriter;
import dev.troupe.engine.model.WeightMatrix;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * F16 and BF16 weights stay 16-bit in their panels (half of a widened F32 copy) and give bit for bit what F32
 * panels of the widened values give: decode, batches of eight, the copying path (over 8 tokens, and every count
 * on later JDKs), row ranges ending inside a panel.
 */
class HalfPanelsTest {
    @TempDir Path dir;

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"F16", "BF16"})
    void sixteenBitPanelsComputeWhatWidenedFloatPanelsCompute(GgmlType type) throws Exception {
        try {
            Assumptions.assumeTrue(VectorKernels.usable(), "the Vector API is not available to this JVM");
        } catch (LinkageError e) {
            Assumptions.abort("the Vector API is not available to this JVM");
        }
        int rows = 72, cols = 256;
        float[] values = new float[rows * cols];
        SplittableRandom rnd = new SplittableRandom(4);
        for (int i = 0; i < values.length; i++) values[i] = (float) (rnd.nextGaussian() * 0.05);
        Path half = dir.resolve(type + ".gguf"), f32 = dir.resolve(type + "-widened.gguf");
        new GgufWriter().putString("general.architecture", "test").addTensor("w", type, new long[] {cols, rows}, values).write(half);
        float[] widened = new float[rows * cols];
        try (GgufFile g = GgufFile.open(half)) {
            WeightMatrix h = WeightMatrix.of(half, g.tensor("w"), cols, rows);
            for (int r = 0; r < rows; r++) h.dequantizeRow(r, widened, r * cols);
        }
        new GgufWriter().putString("general.architecture", "test").addTensor("w", GgmlType.F32, new long[] {cols, rows}, widened).write(f32);
        try (GgufFile g = GgufFile.open(half); GgufFile gf = GgufFile.open(f32)) {
            for (boolean direct : new boolean[] {true, false}) {
                WeightMatrix h = WeightMatrix.of(half, g.tensor("w"), cols, rows), f = WeightMatrix.of(f32, gf.tensor("w"), cols, rows);
                Kernels k = new VectorKernels(direct);
                k.prepare(h);
                k.prepare(f);
                int L = k.rowGranularity();
                assertEquals((long) (rows + L - 1) / L * L * cols * 2, k.preparedBytes(h), "two bytes per weight (rows padded to whole panels)");
                assertEquals(k.preparedBytes(f), 2 * k.preparedBytes(h));
                for (int tokens : new int[] {1, 8, 11, 70}) {
                    float[] x = new float[tokens * cols];
                    for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                    for (int[] range : new int[][] {{0, rows}, {0, 64}, {64, 70}}) {
                        float[] a = new float[tokens * rows], b = new float[tokens * rows];
                        k.matmul(h, x, 0, cols, tokens, a, 0, rows, range[0], range[1], new KernelScratch(cols));
                        k.matmul(f, x, 0, cols, tokens, b, 0, rows, range[0], range[1], new KernelScratch(cols));
                        for (int i = 0; i < a.length; i++) {
                            assertEquals(Float.floatToRawIntBits(b[i]), Float.floatToRawIntBits(a[i]),
                                    type + (direct ? " direct" : " copying") + " tokens " + tokens + " range " + range[0] + ".." + range[1] + " output " + i);
                        }
                    }
                }
            }
        }
    }
}
