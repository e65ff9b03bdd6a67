package dev.troupe.node.http;

import dev.troupe.actors.replica.StepLoop;
import dev.troupe.node.ServeCommand;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A large embeddings request over HTTP shares the replica with generation step by step (a completion sent after it
 * finishes first), and a client that hangs up on one cancels it: its KV blocks come back and it is counted as
 * cancelled. Small steps (16 tokens) make the request thousands of chunks.
 */
class EmbeddingsBudgetIT {
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    static ServeCommand.Node node;
    static String base;

    @BeforeAll
    static void start() throws Exception {
        node = ServeIT.startNode("stories260K-f32.gguf", "troupe.scheduler.max-batched-tokens = 16\ntroupe.http.request-timeout = 120s");
        base = "http://127.0.0.1:" + node.port();
    }

    @AfterAll
    static void stop() {
        if (node != null) node.stop();
    }

    /** An embeddings body of many texts of some 60 tokens each. */
    static String bigEmbeddings(int inputs) {
        StringBuilder sb = new StringBuilder("{\"model\":\"stories\",\"input\":[");
        for (int i = 0; i < inputs; i++) {
            if (i > 0) sb.append(',');
            sb.append("\"Once upon a time, there was a little girl named Lily ").append(i)
                    .append(". She loved to play outside in the park with her friends and her big red ball every day.\"");
        }
        return sb.append("]}").toString();
    }

    static CompletableFuture<HttpResponse<String>> post(String path, String body) {
        return HTTP.sendAsync(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(120))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void aCompletionSentAfterALargeEmbeddingsRequestFinishesFirst() throws Exception {
        StepLoop loop = node.stepLoop();
        CompletableFuture<HttpResponse<String>> embeddings = post("/v1/embeddings", bigEmbeddings(1500));
        long until = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (loop.stats().kvBlocksUsed() == 0 && System.nanoTime() < until) Thread.sleep(1);
        assertTrue(loop.stats().kvBlocksUsed() > 0, "the embeddings never started");
        HttpResponse<String> completion = post("/v1/completions",
                "{\"model\":\"stories\",\"prompt\":\"Once upon a time\",\"max_tokens\":20,\"temperature\":0}").get();
        assertEquals(200, completion.statusCode(), completion.body());
        assertFalse(embeddings.isDone(), "the embeddings finished before a completion sent after them: they held the replica");
        HttpResponse<String> e = embeddings.get();
        assertEquals(200, e.statusCode());
        assertEquals(1500, ServeIT.JSON.readTree(e.body()).get("data").size());
    }

    @Test
    void aClientThatHangsUpCancelsItsEmbeddings() throws Exception {
        StepLoop loop = node.stepLoop();
        double before = DisconnectWhileQueuedIT.metric(base, "embeddings", "cancelled");
        byte[] b = bigEmbeddings(2000).getBytes(StandardCharsets.UTF_8);
        try (Socket s = new Socket("127.0.0.1", node.port())) {
            OutputStream out = s.getOutputStream();
            out.write(("POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: "
                    + b.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(b);
            out.flush();
            long until = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (loop.stats().kvBlocksUsed() == 0 && System.nanoTime() < until) Thread.sleep(1);
            assertTrue(loop.stats().kvBlocksUsed() > 0, "the embeddings never started");
        }
        long until = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        double after;
        while ((after = DisconnectWhileQueuedIT.metric(base, "embeddings", "cancelled")) <= before && System.nanoTime() < until) {
            Thread.sleep(10);
        }
        assertEquals(before + 1, after, "the hung-up embeddings request is counted as cancelled");
        until = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (loop.stats().kvBlocksUsed() > 0 && System.nanoTime() < until) Thread.sleep(5);
        assertEquals(0, loop.stats().kvBlocksUsed(), "its KV blocks came back");
    }
}
