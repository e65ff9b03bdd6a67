package dev.troupe.actors.tenant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.time.LocalDate;
import org.junit.jupiter.api.Test;

/** The ledger's working state: constant work per recorded request, and the dedupe window kept. */
class UsageLedgerCostTest {
    static final LocalDate D1 = LocalDate.parse("2026-03-01");

    static UsageLedger.UsageRecorded line(String key, LocalDate day) {
        return new UsageLedger.UsageRecorded(Instant.EPOCH, "t", key, "m", day, 3, 4);
    }

    @Test
    void aBusyDayCostsTheSamePerRequest() {
        UsageLedger.Ledger l = new UsageLedger.Ledger();
        // The previous state copied every remembered key per request: 200,000 requests in a day were 2e10 copies.
        int n = 200_000;
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) l.apply(line("k" + i, D1), 2);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(ms < 5_000, n + " requests took " + ms + " ms");
        assertEquals(n, l.keysRemembered());
        assertEquals(n, l.totals().get(D1).get("m").requests());
        assertEquals(4L * n, l.totals().get(D1).get("m").completionTokens());
    }

    @Test
    void keysLeaveTheWindowByTheDay() {
        UsageLedger.Ledger l = new UsageLedger.Ledger();
        l.apply(line("a", D1), 2);
        l.apply(line("b", D1.plusDays(1)), 2);
        assertTrue(l.seen("a") && l.seen("b"));
        l.apply(line("c", D1.plusDays(2)), 2);
        assertFalse(l.seen("a"), "a day older than the window is forgotten");
        assertTrue(l.seen("b") && l.seen("c"));
        // A late line for a day already out of the window counts but is not remembered.
        l.apply(line("late", D1), 2);
        assertFalse(l.seen("late"));
        assertEquals(2, l.totals().get(D1).get("m").requests());
        // The snapshot round trip keeps keys and totals.
        UsageLedger.Ledger back = UsageLedger.Ledger.of(l.snapshot());
        assertEquals(l.snapshot(), back.snapshot());
        back.apply(line("d", D1.plusDays(3)), 2);
        assertFalse(back.seen("b"));
        assertTrue(back.seen("c") && back.seen("d"));
    }
}
