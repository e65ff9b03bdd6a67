package dev.troupe.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

class SamplingParamsTest {

    @Test
    void builderDefaults() {
        SamplingParams p = SamplingParams.builder().build();
        assertEquals(1f, p.temperature());
        assertEquals(0, p.topK());
        assertEquals(1f, p.topP());
        assertEquals(0f, p.minP());
        assertEquals(1f, p.repetitionPenalty());
        assertEquals(0f, p.frequencyPenalty());
        assertEquals(0f, p.presencePenalty());
        assertEquals(64, p.penaltyLastN());
        assertNull(p.seed());
        assertEquals(16, p.maxTokens());
        assertEquals(List.of(), p.stop());
        assertEquals(0, p.topLogprobs());
        assertFalse(p.ignoreEos());
        assertFalse(p.penaltiesEnabled());
    }

    @Test
    void greedyFactory() {
        SamplingParams p = SamplingParams.greedy(7);
        assertEquals(0f, p.temperature());
        assertEquals(7, p.maxTokens());
        assertEquals(1f, p.topP());
    }

    @Test
    void builderSetsEveryField() {
        SamplingParams p = SamplingParams.builder().temperature(0.7f).topK(40).topP(0.9f).minP(0.05f)
                .repetitionPenalty(1.1f).frequencyPenalty(0.5f).presencePenalty(-0.5f).penaltyLastN(-1)
                .seed(42L).maxTokens(100).stop("\n\n", "END").topLogprobs(5).ignoreEos(true).jsonSchema("{\"type\":\"object\"}").build();
        assertEquals(new SamplingParams(0.7f, 40, 0.9f, 0.05f, 1.1f, 0.5f, -0.5f, -1, 42L, 100,
                List.of("\n\n", "END"), 5, true, "{\"type\":\"object\"}"), p);
        assertTrue(p.penaltiesEnabled());
        assertEquals(p, p.toBuilder().build());
    }

    @Test
    void boundaryValuesAreAccepted() {
        SamplingParams.builder().temperature(0f).build();
        SamplingParams.builder().temperature(2f).topP(Float.MIN_VALUE).minP(1f).frequencyPenalty(-2f)
                .presencePenalty(2f).penaltyLastN(0).maxTokens(1).topLogprobs(20)
                .stop("a", "b", "c", "d").build();
    }

    @Test
    void stopListIsCopied() {
        List<String> stops = new ArrayList<>(List.of("x"));
        SamplingParams p = SamplingParams.builder().stop(stops).build();
        stops.add("y");
        assertEquals(List.of("x"), p.stop());
        assertThrows(UnsupportedOperationException.class, () -> p.stop().add("z"));
    }

    @Test
    void temperatureMessageNamesFieldAndRange() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SamplingParams.builder().temperature(3.5f).build());
        assertEquals("temperature must be between 0 and 2, got 3.5", e.getMessage());
    }

    @Test
    void eachBadFieldIsRejectedByName() {
        expectBad("temperature", b -> b.temperature(-0.1f));
        expectBad("temperature", b -> b.temperature(2.01f));
        expectBad("temperature", b -> b.temperature(Float.NaN));
        expectBad("topK", b -> b.topK(-1));
        expectBad("topP", b -> b.topP(0f));
        expectBad("topP", b -> b.topP(1.01f));
        expectBad("topP", b -> b.topP(Float.NaN));
        expectBad("minP", b -> b.minP(-0.01f));
        expectBad("minP", b -> b.minP(1.5f));
        expectBad("minP", b -> b.minP(Float.NaN));
        expectBad("repetitionPenalty", b -> b.repetitionPenalty(0f));
        expectBad("repetitionPenalty", b -> b.repetitionPenalty(-1f));
        expectBad("repetitionPenalty", b -> b.repetitionPenalty(Float.NaN));
        expectBad("repetitionPenalty", b -> b.repetitionPenalty(Float.POSITIVE_INFINITY));
        expectBad("frequencyPenalty", b -> b.frequencyPenalty(2.5f));
        expectBad("frequencyPenalty", b -> b.frequencyPenalty(-2.5f));
        expectBad("frequencyPenalty", b -> b.frequencyPenalty(Float.NaN));
        expectBad("presencePenalty", b -> b.presencePenalty(2.5f));
        expectBad("presencePenalty", b -> b.presencePenalty(-2.5f));
        expectBad("presencePenalty", b -> b.presencePenalty(Float.NaN));
        expectBad("penaltyLastN", b -> b.penaltyLastN(-2));
        expectBad("maxTokens", b -> b.maxTokens(0));
        expectBad("maxTokens", b -> b.maxTokens(-5));
        expectBad("stop", b -> b.stop((List<String>) null));
        expectBad("stop", b -> b.stop("a", "b", "c", "d", "e"));
        expectBad("stop", b -> b.stop("a", ""));
        expectBad("stop", b -> b.stop("a", null));
        expectBad("topLogprobs", b -> b.topLogprobs(-1));
        expectBad("topLogprobs", b -> b.topLogprobs(21));
    }

    private static void expectBad(String field, UnaryOperator<SamplingParams.Builder> setter) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> setter.apply(SamplingParams.builder()).build(), field);
        assertTrue(e.getMessage().startsWith(field + " "), () -> "message should name " + field + ": "
                + e.getMessage());
    }
}
