package dev.troupe.node.http;

import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.actors.replica.GenerationEvent.FinishReason;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

class ResponseEventSourceTest {
    static ActorSystem<Void> system;
    static Materializer mat;

    @BeforeAll
    static void start() {
        system = ActorSystem.create(Behaviors.empty(), "local-event-source");
        mat = Materializer.matFromSystem(system);
    }

    @AfterAll
    static void stop() {
        system.terminate();
    }

    static GenerationEvent.Tokens token(int i, boolean logprob) {
        List<GenerationEvent.TokenLogprob> lp = logprob
                ? List.of(new GenerationEvent.TokenLogprob(i, "t" + i, -i, new int[0], new String[0], new float[0])) : List.of();
        return new GenerationEvent.Tokens("r", "t" + i + " ", new int[]{i}, lp);
    }

    static String expectedText(int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) sb.append("t").append(i).append(' ');
        return sb.toString();
    }

    /** Everything between the first element and the terminal one, checked: tokens in order, one terminal, last. */
    static void assertWhole(List<GenerationEvent> got, int tokens, boolean logprobs) {
        StringBuilder text = new StringBuilder();
        int next = 0;
        for (int k = 0; k < got.size() - 1; k++) {
            GenerationEvent.Tokens t = assertInstanceOf(GenerationEvent.Tokens.class, got.get(k));
            text.append(t.text());
            assertEquals(logprobs ? t.tokenIds().length : 0, t.logprobs().size());
            for (int j = 0; j < t.tokenIds().length; j++) {
                assertEquals(next, t.tokenIds()[j]);
                if (logprobs) assertEquals(next, t.logprobs().get(j).token());
                next++;
            }
        }
        assertEquals(tokens, next, "every token once, in order");
        assertEquals(expectedText(tokens), text.toString());
        assertInstanceOf(GenerationEvent.Finished.class, got.get(got.size() - 1));
    }

    @Test
    void eventsBeforeTheStreamStartsArriveMergedThenTheTerminal() throws Exception {
        ResponseEventSource s = new ResponseEventSource();
        for (int i = 0; i < 5; i++) s.onEvent(token(i, true));
        s.onEvent(new GenerationEvent.Finished("r", FinishReason.LENGTH, 3, 5));
        GenerationEvent.Tokens first = assertInstanceOf(GenerationEvent.Tokens.class, s.first().getNow(null));
        assertEquals("t0 ", first.text(), "the first event, as it came");
        List<GenerationEvent> got = Source.fromGraph(s).runWith(Sink.seq(), mat).toCompletableFuture().get(10, TimeUnit.SECONDS);
        assertEquals(2, got.size(), "one merged tokens event and the finish: " + got);
        assertWhole(got, 5, true);
        assertThrows(IllegalStateException.class, () -> Source.fromGraph(s).runWith(Sink.seq(), mat), "runs once");
    }

    @Test
    void aSlowResponseGetsTokensMergedAndLosesNone() throws Exception {
        ResponseEventSource s = new ResponseEventSource();
        // The consumer takes 5 ms per element; the producer sends 400 tokens 0.05 ms apart.
        CompletableFuture<List<GenerationEvent>> done = Source.fromGraph(s)
                .mapAsync(1, e -> CompletableFuture.supplyAsync(() -> e, CompletableFuture.delayedExecutor(5, TimeUnit.MILLISECONDS)))
                .runWith(Sink.seq(), mat).toCompletableFuture();
        Thread producer = new Thread(() -> {
            for (int i = 0; i < 400; i++) {
                s.onEvent(token(i, false));
                long until = System.nanoTime() + 50_000;
                while (System.nanoTime() < until) Thread.onSpinWait();
            }
            s.onEvent(new GenerationEvent.Finished("r", FinishReason.LENGTH, 3, 400));
        });
        producer.start();
        List<GenerationEvent> got = done.get(30, TimeUnit.SECONDS);
        producer.join();
        assertWhole(got, 400, false);
        assertTrue(got.size() < 100, "merged while behind: " + got.size() + " elements for 400 tokens");
    }

    @Test
    void aResponseThatKeepsUpGetsAnElementPerEvent() throws Exception {
        ResponseEventSource s = new ResponseEventSource();
        CompletableFuture<List<GenerationEvent>> done = Source.fromGraph(s).runWith(Sink.seq(), mat).toCompletableFuture();
        for (int i = 0; i < 20; i++) {
            s.onEvent(token(i, false));
            Thread.sleep(20); // far longer than the stream needs to take one element
        }
        s.onEvent(new GenerationEvent.Finished("r", FinishReason.LENGTH, 3, 20));
        List<GenerationEvent> got = done.get(10, TimeUnit.SECONDS);
        assertWhole(got, 20, false);
        assertTrue(got.size() >= 15, "about one element per token when the response keeps up: " + got.size());
    }

    @Test
    void aFailureEndsTheStreamAfterTheTokensBeforeIt() throws Exception {
        ResponseEventSource s = new ResponseEventSource();
        CompletableFuture<List<GenerationEvent>> done = Source.fromGraph(s).idleTimeout(Duration.ofSeconds(10))
                .runWith(Sink.seq(), mat).toCompletableFuture();
        s.onEvent(token(0, false));
        s.onEvent(new GenerationEvent.Failed("r", GenerationEvent.FailureKind.CANCELLED, "cancelled", 3, 1));
        s.onEvent(token(1, false)); // nothing after a terminal event reaches the stream
        List<GenerationEvent> got = done.get(10, TimeUnit.SECONDS);
        assertEquals(2, got.size(), got.toString());
        assertInstanceOf(GenerationEvent.Failed.class, got.get(1));
    }
}
