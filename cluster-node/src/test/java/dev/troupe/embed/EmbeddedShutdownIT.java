package dev.troupe.embed;

import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.*;

/** The host shuts down (its coordinated shutdown) while Troupe streams: every stream ends properly, no thread stays. */
class EmbeddedShutdownIT {

    @Test
    void hostShutdownEndsEveryStreamWithATerminalEventAndLeavesNoThreads() throws Exception {
        Path model = EmbeddedHosts.shared("stories260K-f32.gguf");
        Assumptions.assumeTrue(model != null, "../shared/models/stories260K-f32.gguf not found beside the repository");
        Set<Long> before = Thread.getAllStackTraces().keySet().stream().map(Thread::getId).collect(Collectors.toSet());
        ActorSystem<Void> system = EmbeddedHosts.host(EmbeddedHosts.hostConfig(Files.createTempDirectory("troupe-embed"), null,
                "troupe.shutdown.grace = 200ms\n"), null);
        Troupe troupe = Troupe.start(system, model, "stories");

        List<CompletableFuture<List<TokenEvent>>> streams = new ArrayList<>();
        CompletableFuture<Void> firstToken = new CompletableFuture<>();
        for (int i = 0; i < 48; i++) {
            streams.add(troupe.stream(GenerateRequest.of(null, "stories", "Once upon a time " + i).withMaxTokens(120).withTemperature(0.8f)
                            .withSeed(i))
                    .wireTap(e -> firstToken.complete(null))
                    .runWith(Sink.seq(), system).toCompletableFuture());
        }
        firstToken.get(60, TimeUnit.SECONDS);
        CoordinatedShutdown.get(system).runAll(CoordinatedShutdown.unknownReason()).toCompletableFuture().get(60, TimeUnit.SECONDS);
        system.getWhenTerminated().toCompletableFuture().get(60, TimeUnit.SECONDS);

        int finished = 0, failed = 0;
        for (CompletableFuture<List<TokenEvent>> s : streams) {
            List<TokenEvent> events = s.get(10, TimeUnit.SECONDS);
            TokenEvent last = events.get(events.size() - 1);
            assertTrue(last.terminal(), "the stream ended with a terminal event: " + last);
            for (int i = 0; i < events.size() - 1; i++) assertFalse(events.get(i).terminal(), "one terminal event, last");
            if (last instanceof TokenEvent.Failed f) {
                assertEquals(503, f.status(), f.message());
                failed++;
            } else {
                finished++;
            }
        }
        assertTrue(failed > 0, "some streams were still generating at shutdown (" + finished + " had finished)");

        // Troupe's threads (step loops, engine teams, canary monitors) and the host's dispatchers are gone.
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        List<String> left;
        do {
            left = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.isAlive() && !before.contains(t.getId()))
                    // JVM-wide helpers started once per process, not per host: not the host's to stop.
                    .filter(t -> !t.getName().equals("troupe-usage-backlog") && !t.getName().startsWith("ForkJoinPool.commonPool")
                            && !t.getName().startsWith("prometheus-metrics-scheduler"))
                    .map(Thread::getName).toList();
            if (left.isEmpty()) break;
            Thread.sleep(100);
        } while (System.nanoTime() < until);
        assertEquals(List.of(), left, "threads left behind by the host's shutdown");
    }
}
