package dev.troupe.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class FastExpTest {

    @Test
    void matchesMathExpToWellBelowFloatPrecision() {
        double worst = 0;
        for (double x = -699.5; x < 699.5; x += 0.0173) {
            double expected = Math.exp(x);
            worst = Math.max(worst, Math.abs(FastExp.exp(x) - expected) / expected);
        }
        assertTrue(worst < 2e-8, "worst relative error " + worst);
        assertEquals(1.0, FastExp.exp(0.0), 0.0);
        assertEquals(Math.E, FastExp.exp(1.0), 1e-8);
    }

    @Test
    void edgeCases() {
        assertEquals(0.0, FastExp.exp(Double.NEGATIVE_INFINITY), 0.0);
        assertEquals(0.0, FastExp.exp(-1000.0), 0.0);
        assertTrue(Double.isNaN(FastExp.exp(Double.NaN)));
        assertEquals(Double.POSITIVE_INFINITY, FastExp.exp(Double.POSITIVE_INFINITY), 0.0);
        assertEquals(Math.exp(705.0), FastExp.exp(705.0), 0.0);
    }
}
