package dev.troupe.actors.tenant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.troupe.actors.tenant.QuotaLimiter.Decision;
import dev.troupe.actors.tenant.QuotaLimiter.Limit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class QuotaLimiterTest {
    static final long S = 1_000_000_000L;
    final AtomicLong now = new AtomicLong(1_000 * S);
    final QuotaLimiter limiter = new QuotaLimiter(now::get);

    void advance(double seconds) {
        now.addAndGet((long) (seconds * S));
    }

    @Test
    void requestsPerMinuteSlide() {
        Quotas q = new Quotas(3, 0, 0);
        for (int i = 0; i < 3; i++) {
            assertTrue(limiter.acquire("a", q).allowed());
            limiter.release("a", 0);
            advance(10);
        }
        // Admitted at t=0, 10, 20; now t=30: the first leaves the window at t=60.
        assertEquals(new Decision(false, Limit.REQUESTS_PER_MINUTE, 30), limiter.acquire("a", q));
        assertTrue(limiter.acquire("b", q).allowed(), "tenants are independent");
        advance(29.5);
        assertEquals(new Decision(false, Limit.REQUESTS_PER_MINUTE, 1), limiter.acquire("a", q), "0.5 s left rounds up to 1");
        advance(0.5);
        assertTrue(limiter.acquire("a", q).allowed(), "at t=60 the first request has left the window");
        assertEquals(new Decision(false, Limit.REQUESTS_PER_MINUTE, 10), limiter.acquire("a", q));
    }

    @Test
    void tokensAreChargedWhenRequestsEnd() {
        Quotas q = new Quotas(0, 100, 0);
        assertTrue(limiter.acquire("a", q).allowed());
        assertTrue(limiter.acquire("a", q).allowed(), "nothing charged yet");
        limiter.release("a", 60);
        advance(5);
        limiter.release("a", 50);   // 110 of 100 used: overshoot by the running request, then refuse
        assertEquals(new Decision(false, Limit.TOKENS_PER_MINUTE, 55), limiter.acquire("a", q),
                "after the first 60 tokens leave (t=60), 50 < 100");
        advance(55);
        assertTrue(limiter.acquire("a", q).allowed());
    }

    @Test
    void concurrencyIsReleased() {
        Quotas q = new Quotas(0, 0, 2);
        assertTrue(limiter.acquire("a", q).allowed());
        assertTrue(limiter.acquire("a", q).allowed());
        assertEquals(new Decision(false, Limit.CONCURRENT_REQUESTS, 1), limiter.acquire("a", q));
        assertEquals(2, limiter.concurrent("a"));
        limiter.release("a", 0);
        assertEquals(1, limiter.concurrent("a"));
        assertTrue(limiter.acquire("a", q).allowed());
        limiter.release("a", 0);
        limiter.release("a", 0);
        limiter.release("a", 0);
        assertEquals(0, limiter.concurrent("a"), "never below zero");
    }

    @Test
    void unlimitedAlwaysAdmitsAndOldBucketsAreReused() {
        for (int i = 0; i < 10_000; i++) {
            assertTrue(limiter.acquire("a", Quotas.UNLIMITED).allowed());
            limiter.release("a", 1000);
        }
        Quotas q = new Quotas(1, 0, 0);
        assertTrue(limiter.acquire("c", q).allowed());
        advance(3600);   // an hour later the ring's stale buckets must not count
        assertTrue(limiter.acquire("c", q).allowed());
        advance(60 * 7 + 0.25);
        assertTrue(limiter.acquire("c", q).allowed());
    }
}
