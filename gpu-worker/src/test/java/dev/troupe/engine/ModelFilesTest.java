package dev.troupe.engine;

import dev.troupe.engine.gguf.GgmlType;
import dev.troupe.engine.gguf.GgufFormatException;
import dev.troupe.engine.gguf.GgufWriter;
import dev.troupe.engine.gguf.RandomLlamaWriter;
import dev.troupe.engine.gguf.RandomLlamaWriter.LlamaShape;
import dev.troupe.engine.kernel.NativeKernels;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** Models of every supported shape and type, and the clear refusal of the ones we cannot run. */
class ModelFilesTest {
    @TempDir
    Path dir;

    private static final LlamaShape GQA_SHAPE = new LlamaShape(64, 96, 2, 4, 2, 300, 64, 10000f, 1e-5f, false);

    private static EngineOptions opts(String backend) {
        return EngineOptions.defaults().withBackend(backend).withThreads(2).withKvCacheTokens(256).withMaxBatchTokens(32);
    }

    private Path write(LlamaShape shape, GgmlType type, String name) throws Exception {
        Path p = dir.resolve(name);
        new RandomLlamaWriter(shape).type(type).seed(7).write(p);
        return p;
    }

    /** Prefill a few tokens and return the logits of the last one. */
    private static float[] logits(Path model, String backend) throws Exception {
        try (LlamaModel m = LlamaModel.load(model, opts(backend))) {
            int seq = m.kvCache().open();
            m.kvCache().reserve(seq, 8);
            Batch b = new Batch(8);
            b.addChunk(seq, new int[]{1, 5, 77, 200, 9}, 0, 5, 0, true);
            m.forward(b);
            return java.util.Arrays.copyOf(m.logits(), m.vocabSize());
        }
    }

    @Test
    void everySupportedTypeAndShapeRunsAndBackendsAgree() throws Exception {
        LlamaShape tied = new LlamaShape(64, 96, 2, 4, 4, 300, 64, 10000f, 1e-5f, true);
        Path[] models = {
                write(GQA_SHAPE, GgmlType.F32, "gqa-f32.gguf"),
                write(GQA_SHAPE, GgmlType.F16, "gqa-f16.gguf"),
                write(GQA_SHAPE, GgmlType.Q8_0, "gqa-q8.gguf"),
                write(tied, GgmlType.F32, "tied-f32.gguf"),
        };
        for (Path m : models) {
            float[] scalar = logits(m, "scalar");
            float[] vector = logits(m, "vector");
            double err = LlamaModelTest.maxRelativeError(vector, scalar);
            assertTrue(err < 1e-4, m.getFileName() + ": vector vs scalar relative error " + err);
        }
        // F16 weights are the F32 ones rounded: logits stay close
        double f16err = LlamaModelTest.maxRelativeError(logits(models[1], "vector"), logits(models[0], "vector"));
        assertTrue(f16err < 1e-2, "F16 vs F32 relative error " + f16err);
    }

    /** The native 16-bit matmuls (float fma over the widened weights, both kernel levels) agree with the scalar kernels. */
    @Test
    void nativeSixteenBitKernelsAgreeWithScalar() throws Exception {
        Assumptions.assumeTrue(NativeKernels.usable(), () -> "native kernels: " + NativeKernels.unavailableReason());
        for (GgmlType type : new GgmlType[] {GgmlType.F16, GgmlType.BF16}) {
            Path m = write(GQA_SHAPE, type, "gqa-" + type + ".gguf");
            float[] scalar = logits(m, "scalar");
            for (String backend : new String[] {"native", "native-avx2"}) {
                double err = LlamaModelTest.maxRelativeError(logits(m, backend), scalar);
                assertTrue(err < 1e-4, type + ": " + backend + " vs scalar relative error " + err);
            }
        }
    }

    @Test
    void unsupportedArchitectureIsRefusedByName() throws Exception {
        GgufWriter w = new RandomLlamaWriter(GQA_SHAPE).seed(1).build();
        w.putString("general.architecture", "gpt2");
        Path p = dir.resolve("gpt2.gguf");
        w.write(p);
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> LlamaModel.load(p, opts("auto")));
        assertTrue(e.getMessage().contains("gpt2.gguf") && e.getMessage().contains("unsupported architecture 'gpt2'"), e.getMessage());
    }

    @Test
    void missingTensorIsRefusedByName() throws Exception {
        GgufWriter w = new RandomLlamaWriter(GQA_SHAPE).seed(1).build();
        w.removeTensor("blk.1.ffn_up.weight");
        Path p = dir.resolve("missing.gguf");
        w.write(p);
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> LlamaModel.load(p, opts("auto")));
        assertTrue(e.getMessage().contains("missing tensor 'blk.1.ffn_up.weight'"), e.getMessage());
    }

    @Test
    void unsupportedTensorTypeIsRefusedByName() throws Exception {
        LlamaShape shape = new LlamaShape(256, 256, 1, 4, 4, 300, 64, 10000f, 1e-5f, false);
        GgufWriter w = new RandomLlamaWriter(shape).seed(1).build();
        w.removeTensor("blk.0.attn_q.weight");
        // Q8_1 is llama.cpp's activation format: a file with it as a weight is valid GGUF that Troupe cannot run
        w.addTensor("blk.0.attn_q.weight", GgmlType.Q8_1, new long[]{256, 256}, ByteBuffer.allocate((int) GgmlType.Q8_1.bytesFor(256 * 256)));
        Path p = dir.resolve("q8_1.gguf");
        w.write(p);
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> LlamaModel.load(p, opts("auto")));
        assertTrue(e.getMessage().contains("'blk.0.attn_q.weight' has type Q8_1") && e.getMessage().contains("supported: F32, F16, BF16, Q8_0, Q4_0"),
                e.getMessage());
    }

    @Test
    void wrongShapeIsRefusedWithExpectation() throws Exception {
        GgufWriter w = new RandomLlamaWriter(GQA_SHAPE).seed(1).build();
        w.removeTensor("blk.0.attn_k.weight");
        w.addTensor("blk.0.attn_k.weight", GgmlType.F32, new long[]{64, 64}, new float[64 * 64]);
        Path p = dir.resolve("shape.gguf");
        w.write(p);
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> LlamaModel.load(p, opts("auto")));
        assertTrue(e.getMessage().contains("'blk.0.attn_k.weight' has shape [64, 64], expected [64, 32]"), e.getMessage());
    }

    @Test
    void weightsStayOffTheHeap() throws Exception {
        // 32000 x 512 embedding + output, 4 layers: about 180 MB of F32 weights
        LlamaShape big = LlamaShape.of(512, 1024, 4, 8, 8, 32000, 64);
        Path p = write(big, GgmlType.F32, "big.gguf");
        long before = usedHeapAfterGc();
        try (LlamaModel m = LlamaModel.load(p, opts("vector"))) {
            long weights = java.nio.file.Files.size(p);
            long grown = usedHeapAfterGc() - before;
            assertTrue(weights > 150_000_000L);
            assertTrue(grown < 40_000_000L, "heap grew by " + grown + " bytes for " + weights + " bytes of weights");
            assertNotNull(m.config());
        }
    }

    private static long usedHeapAfterGc() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(50);
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }
}
