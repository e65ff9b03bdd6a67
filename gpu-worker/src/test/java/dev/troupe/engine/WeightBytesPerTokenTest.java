package dev.troupe.engine;

import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.gguf.GgufTensor;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The bytes a decode step reads for one token (the denominator of the memory bound that `bench engine` reports):
 * every matrix once in the form the vector kernels read it, plus one embedding row.
 */
class WeightBytesPerTokenTest {
    @Test
    void f32MatricesCountFourBytesAWeight() throws Exception {
        check(TestModels.RANDOM_F32, 4.0);
    }

    @Test
    void q8MatricesCountTheirPanelsInt8AndAFloatScaleEvery32() throws Exception {
        check(TestModels.RANDOM_Q8, 36.0 / 32);
    }

    private static void check(String name, double bytesPerWeight) throws Exception {
        Path file = TestModels.require(name);
        try (LlamaModel m = LlamaModel.load(file, EngineOptions.defaults().withThreads(1).withBackend("vector").withKvCacheTokens(64))) {
            long weights = 0;
            for (GgufTensor t : m.file().tensors().values()) {
                if (t.dims() == 2 && !t.name().equals("token_embd.weight")) weights += t.elements();
            }
            if (!m.file().hasTensor("output.weight")) weights += m.file().tensor("token_embd.weight").elements(); // tied
            assertEquals(Math.round(weights * bytesPerWeight) + 4L * m.config().dim(), m.weightBytesPerToken());
        }
    }
}
