package dev.troupe.actors.replica;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** Records a request's events; checks that exactly one terminal event comes, and comes last. */
final class RecordingSink implements GenerationSink {
    final String id;
    final List<GenerationEvent> events = new ArrayList<>();
    final CompletableFuture<GenerationEvent> terminal = new CompletableFuture<>();
    final CompletableFuture<Void> firstTokens = new CompletableFuture<>();
    /** System.nanoTime of the first Tokens event, 0 before it. */
    volatile long firstTokensNanos;
    /** Calls of onStarted, and how many events had come before the first. */
    int starts, eventsBeforeStart = -1;
    private int terminals;
    private String wrongId;

    private final long delayMillis;
    /** Run (on the loop thread) after each Tokens event, if set. */
    volatile Runnable onTokens;

    RecordingSink(String id) { this(id, 0); }

    /** A sink that takes delayMillis per event: slows the loop so tests can act mid-generation on any machine. */
    RecordingSink(String id, long delayMillis) {
        this.id = id;
        this.delayMillis = delayMillis;
    }

    @Override
    public void onEvent(GenerationEvent event) {
        record(event);
        Runnable hook = onTokens;
        if (hook != null && event instanceof GenerationEvent.Tokens) hook.run();
        if (delayMillis > 0) {
            try {
                Thread.sleep(delayMillis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public synchronized void onStarted() {
        if (starts++ == 0) eventsBeforeStart = events.size();
    }

    private synchronized void record(GenerationEvent event) {
        if (!event.requestId().equals(id)) wrongId = event.requestId();
        events.add(event);
        if (event instanceof GenerationEvent.Tokens) {
            if (firstTokensNanos == 0) firstTokensNanos = System.nanoTime();
            firstTokens.complete(null);
        } else {
            terminals++;
            terminal.complete(event);
        }
    }

    GenerationEvent await() {
        try {
            return terminal.get(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("request " + id + " did not end: " + events(), e);
        }
    }

    synchronized List<GenerationEvent> events() { return new ArrayList<>(events); }

    synchronized String text() {
        StringBuilder sb = new StringBuilder();
        for (GenerationEvent e : events) if (e instanceof GenerationEvent.Tokens t) sb.append(t.text());
        return sb.toString();
    }

    synchronized int tokenCount() {
        int n = 0;
        for (GenerationEvent e : events) if (e instanceof GenerationEvent.Tokens t) n += t.tokenIds().length;
        return n;
    }

    /** Exactly one terminal event, the last one, for this request id. Call once the loop is quiet (closed or done). */
    synchronized void assertWellFormed() {
        assertNull(wrongId, "event for another request id");
        assertEquals(1, terminals, "exactly one terminal event for " + id + ": " + events);
        assertFalse(events.get(events.size() - 1) instanceof GenerationEvent.Tokens, "terminal event last for " + id);
    }

    GenerationEvent.Finished finished() {
        GenerationEvent e = await();
        assertInstanceOf(GenerationEvent.Finished.class, e, () -> id + " ended with " + e);
        return (GenerationEvent.Finished) e;
    }

    GenerationEvent.Failed failed() {
        GenerationEvent e = await();
        assertInstanceOf(GenerationEvent.Failed.class, e, () -> id + " ended with " + e);
        return (GenerationEvent.Failed) e;
    }
}
