package dev.troupe.node.http;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * Usage lines whose ledger did not answer in time (its node died and the entity is moving): sent again
 * every {@code every} until the ledger takes them (it dedupes by request key, so a line that did arrive
 * counts once), for up to {@code giveUpAfter}. The response does not wait for this; a gateway that dies
 * with lines here loses them (logged as it goes).
 */
final class UsageBacklog {
    private static final Logger log = LoggerFactory.getLogger(UsageBacklog.class);
    private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "troupe-usage-backlog");
        t.setDaemon(true);
        return t;
    });

    private final Duration every;
    private final Duration giveUpAfter;
    private final AtomicInteger pending = new AtomicInteger();

    UsageBacklog(Duration every, Duration giveUpAfter) {
        this.every = every;
        this.giveUpAfter = giveUpAfter;
    }

    /** Lines waiting for their ledger now. */
    int pending() {
        return pending.get();
    }

    /** Tries the line again (attempt: one ask of the ledger) until it is taken or the time is up. */
    void add(String tenant, String requestKey, Supplier<CompletionStage<?>> attempt) {
        pending.incrementAndGet();
        log.warn("the usage of request {} of tenant '{}' is not recorded yet (its ledger did not answer): trying again every {} ms",
                requestKey, tenant, every.toMillis());
        schedule(tenant, requestKey, attempt, System.nanoTime() + giveUpAfter.toNanos());
    }

    private void schedule(String tenant, String requestKey, Supplier<CompletionStage<?>> attempt, long giveUpAt) {
        TIMER.schedule(() -> attempt.get().whenComplete((ok, failed) -> {
            if (failed == null) {
                pending.decrementAndGet();
                log.info("the usage of request {} of tenant '{}' is recorded", requestKey, tenant);
            } else if (System.nanoTime() > giveUpAt) {
                pending.decrementAndGet();
                log.error("the usage of request {} of tenant '{}' could not be recorded in {} s: lost ({})", requestKey, tenant,
                        giveUpAfter.toSeconds(), failed.toString());
            } else {
                schedule(tenant, requestKey, attempt, giveUpAt);
            }
        }), every.toMillis(), TimeUnit.MILLISECONDS);
    }
}
