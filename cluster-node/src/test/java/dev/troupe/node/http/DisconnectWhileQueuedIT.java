package dev.troupe.node.http;

import dev.troupe.actors.replica.StepLoop;
import dev.troupe.node.ServeCommand;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A client that hangs up while its request still waits in the replica's queue (or before a plain response
 * is ready) cancels it: the request never runs. One sequence at a time, so a queue of long requests holds
 * the one whose client goes away.
 */
class DisconnectWhileQueuedIT {
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    static final int AHEAD = 100, TOKENS = 120;
    static ServeCommand.Node node;
    static String base;

    @BeforeAll
    static void start() throws Exception {
        node = ServeIT.startNode("stories260K-f32.gguf", "troupe.engine.warm-up = 1s\n"
                        + "troupe.scheduler.max-num-seqs = 1\ntroupe.scheduler.max-queued = 256");
        base = "http://127.0.0.1:" + node.port();
    }

    @AfterAll
    static void stop() {
        if (node != null) node.stop();
    }

    /** Requests of this node that ended cancelled (its client went away), from /metrics. */
    static double cancelled() throws Exception {
        return metric(base, "completions", "cancelled");
    }

    /** The stories@v1 requests of a node for an endpoint that ended with an outcome, from /metrics. */
    static double metric(String base, String endpoint, String outcome) throws Exception {
        String series = "troupe_requests_total{endpoint=\"" + endpoint + "\",model=\"stories\",outcome=\"" + outcome + "\",version=\"v1\"} ";
        String metrics = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/metrics")).GET().build(), HttpResponse.BodyHandlers.ofString()).body();
        for (String line : metrics.split("\n")) {
            if (line.startsWith(series)) return Double.parseDouble(line.substring(series.length()).trim());
        }
        return 0;
    }

    static String body(boolean stream) {
        return "{\"model\":\"stories\",\"prompt\":\"Once upon a time\",\"max_tokens\":" + TOKENS
                + ",\"ignore_eos\":true,\"temperature\":0,\"stream\":" + stream + "}";
    }

    @ParameterizedTest(name = "stream={0}")
    @ValueSource(booleans = {true, false})
    void aQueuedRequestWhoseClientHangsUpNeverRuns(boolean stream) throws Exception {
        StepLoop loop = node.stepLoop();
        StepLoop.Stats before = loop.stats();
        double cancelledBefore = cancelled();
        List<CompletableFuture<HttpResponse<String>>> ahead = new ArrayList<>();
        for (int i = 0; i < AHEAD; i++) {
            ahead.add(HTTP.sendAsync(HttpRequest.newBuilder(URI.create(base + "/v1/completions")).timeout(Duration.ofSeconds(120))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body(false))).build(),
                    HttpResponse.BodyHandlers.ofString()));
        }
        long until = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (loop.stats().waiting() < AHEAD / 2 && System.nanoTime() < until) Thread.sleep(2);

        byte[] b = body(stream).getBytes(StandardCharsets.UTF_8);
        try (Socket s = new Socket("127.0.0.1", node.port())) {
            OutputStream out = s.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: "
                    + b.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(b);
            out.flush();
            Thread.sleep(200); // the request reaches the queue
            assertTrue(loop.stats().waiting() > 5, "the queue ahead drained before the client hung up: nothing to test");
        }

        for (CompletableFuture<HttpResponse<String>> f : ahead) assertEquals(200, f.get().statusCode(), f.get().body());
        until = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while ((loop.stats().running() > 0 || loop.stats().waiting() > 0) && System.nanoTime() < until) Thread.sleep(10);
        StepLoop.Stats after = loop.stats();
        assertEquals(0, after.running() + after.waiting());
        assertEquals((long) AHEAD * TOKENS, after.generatedTokens() - before.generatedTokens(),
                "only the requests whose clients stayed generated tokens");
        assertEquals(0, after.kvBlocksUsed());
        until = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        double cancelled;
        while ((cancelled = cancelled())
                <= cancelledBefore && System.nanoTime() < until) Thread.sleep(10);
        assertEquals(cancelledBefore + 1, cancelled, "the hung-up request is counted as cancelled");
    }
}
