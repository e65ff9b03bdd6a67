package dev.troupe.engine.gguf;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Our decoding of every supported quantized type equals llama.cpp's (ggml's {@code to_float}) bit for bit.
 *
 * <p>The fixtures in {@code reference-dequant/TYPE.bin} are {@code u32 type id, u32 element count}, the raw
 * blocks, then ggml's floats for them (all little-endian). They were made outside this repository: a random
 * model from RandomLlamaWriter (dim 256, so every row is a multiple of 256), quantized to each type by
 * llama.cpp's {@code llama-quantize} (llama.cpp as bundled by node-llama-cpp 3.22.1), the first blocks of one
 * tensor of the type taken, plus random-byte blocks (redrawn until finite) so that bit patterns the quantizer
 * never writes are covered too; a small C program linked against ggml wrote {@code to_float} of them.
 * Q8_K (never a file type) comes from ggml's CPU quantizer (from_float) applied to random floats of four
 * magnitudes, decoded by ggml's dequantize_row_q8_K. docs/models.md gives the steps.
 */
class ReferenceDequantizationTest {

    @ParameterizedTest
    @ValueSource(strings = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "BF16"})
    void decodingEqualsGgmlBitForBit(String name) throws Exception {
        GgmlType type = GgmlType.valueOf(name);
        ByteBuffer b;
        try (InputStream in = getClass().getResourceAsStream("/reference-dequant/" + name + ".bin")) {
            assertNotNull(in, "fixture for " + name);
            b = ByteBuffer.wrap(in.readAllBytes()).order(ByteOrder.LITTLE_ENDIAN);
        }
        assertEquals(type.id(), b.getInt(0), "fixture type id");
        int n = b.getInt(4);
        int rawBytes = (int) type.bytesFor(n);
        assertEquals(8 + rawBytes + 4L * n, b.capacity(), "fixture size");
        ByteBuffer raw = b.slice(8, rawBytes).order(ByteOrder.LITTLE_ENDIAN);
        float[] got = new float[n];
        TensorCodec.of(type).dequantize(raw, 0, got, 0, n);
        int mismatches = 0, first = -1;
        for (int i = 0; i < n; i++) {
            float want = b.getFloat(8 + rawBytes + 4 * i);
            if (Float.floatToRawIntBits(want) != Float.floatToRawIntBits(got[i])) {
                if (first < 0) first = i;
                mismatches++;
            }
        }
        assertEquals(0, mismatches, name + ": " + mismatches + " of " + n + " elements differ from ggml, first at " + first
                + (first >= 0 ? " (ggml " + b.getFloat(8 + rawBytes + 4 * first) + ", ours " + got[first] + ")" : ""));
        // the fixture is not trivial: it has many distinct values and both signs
        assertTrue(java.util.stream.IntStream.range(0, n).mapToObj(i -> got[i]).distinct().count() > 16, "too few distinct values");
    }
}
