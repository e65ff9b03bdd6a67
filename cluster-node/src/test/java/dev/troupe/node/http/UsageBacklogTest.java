package dev.troupe.node.http;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/** A usage line its ledger refused is sent again until taken, and given up (counted out) after the limit. */
class UsageBacklogTest {

    private static void await(String what, java.util.function.BooleanSupplier done) throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!done.getAsBoolean()) {
            assertTrue(System.nanoTime() < until, "timed out waiting for " + what);
            Thread.sleep(5);
        }
    }

    @Test
    void aLineIsSentAgainUntilTheLedgerTakesIt() throws Exception {
        UsageBacklog backlog = new UsageBacklog(Duration.ofMillis(20), Duration.ofSeconds(30));
        AtomicInteger attempts = new AtomicInteger();
        backlog.add("acme", "req-1", () -> attempts.incrementAndGet() < 3
                ? CompletableFuture.failedFuture(new IllegalStateException("ledger moving"))
                : CompletableFuture.completedFuture("ok"));
        assertEquals(1, backlog.pending());
        await("the line taken", () -> backlog.pending() == 0);
        assertEquals(3, attempts.get());
    }

    @Test
    void aLineTheLedgerNeverTakesIsGivenUpAfterTheLimit() throws Exception {
        UsageBacklog backlog = new UsageBacklog(Duration.ofMillis(20), Duration.ofMillis(150));
        AtomicInteger attempts = new AtomicInteger();
        CompletionStage<?> never = CompletableFuture.failedFuture(new IllegalStateException("gone"));
        backlog.add("acme", "req-2", () -> {
            attempts.incrementAndGet();
            return never;
        });
        await("the line given up", () -> backlog.pending() == 0);
        int tried = attempts.get();
        assertTrue(tried >= 3, "tried " + tried + " times");
        Thread.sleep(100);
        assertEquals(tried, attempts.get(), "nothing sent after giving up");
    }
}
