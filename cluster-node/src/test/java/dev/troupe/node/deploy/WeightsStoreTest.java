package dev.troupe.node.deploy;

import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Fetching a model file from peers over real HTTP (a JDK server standing in for a peer's weights route): the
 * admin token is sent, an interrupted download resumes with a Range request, a peer sending the wrong bytes
 * is caught by the sha256 and the next peer is tried, and the result is kept for next time.
 */
class WeightsStoreTest {
    @TempDir Path dir;
    private HttpServer server;
    private byte[] file;
    private String sha;
    private final List<String> ranges = new ArrayList<>();
    private volatile boolean corrupt;

    @BeforeEach
    void startPeer() throws Exception {
        file = new byte[300_000];
        new Random(7).nextBytes(file);
        Path original = Files.write(dir.resolve("original.gguf"), file);
        sha = Sha256.of(original);
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/internal/weights/", ex -> {
            if (!"Bearer secret".equals(ex.getRequestHeaders().getFirst("Authorization"))) {
                ex.sendResponseHeaders(401, -1);
                return;
            }
            String range = ex.getRequestHeaders().getFirst("Range");
            ranges.add(String.valueOf(range));
            int from = range == null ? 0 : Integer.parseInt(range.substring("bytes=".length(), range.length() - 1));
            byte[] body = java.util.Arrays.copyOfRange(file, from, file.length);
            if (corrupt) body[body.length - 1] ^= 1;
            ex.sendResponseHeaders(range == null ? 200 : 206, body.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private WeightsStore.Peer peer() {
        return new WeightsStore.Peer("peer-1", "http://127.0.0.1:" + server.getAddress().getPort());
    }

    @Test
    void anInterruptedFetchResumesWhereItStoppedAndIsVerifiedAndKept() throws Exception {
        Path store = dir.resolve("models");
        Files.createDirectories(store);
        // A first attempt got this far before the connection dropped.
        Files.write(store.resolve(sha + ".gguf.part"), java.util.Arrays.copyOf(file, 123_456));
        try (WeightsStore w = new WeightsStore(store, "secret", Map.of())) {
            Path got = w.fetch(sha, List.of(peer())).get(30, TimeUnit.SECONDS);
            assertEquals(store.resolve(sha + ".gguf"), got);
            assertArrayEquals(file, Files.readAllBytes(got));
            assertEquals(List.of("bytes=123456-"), ranges, "only the rest was asked for");
            assertEquals(got, w.path(sha));
            assertTrue(w.shas().contains(sha));
        }
        // A new store (the node restarted) finds the kept copy without fetching.
        try (WeightsStore again = new WeightsStore(store, "secret", Map.of())) {
            assertEquals(store.resolve(sha + ".gguf"), again.path(sha));
        }
    }

    @Test
    void wrongBytesAreRefusedByTheirSha256AndNothingIsKept() throws Exception {
        corrupt = true;
        try (WeightsStore w = new WeightsStore(dir.resolve("models"), "secret", Map.of())) {
            ExecutionException e = assertThrows(ExecutionException.class, () -> w.fetch(sha, List.of(peer())).get(30, TimeUnit.SECONDS));
            assertTrue(e.getCause().getMessage().contains("could not fetch"), e.getCause().getMessage());
            assertEquals(WeightsStore.ATTEMPTS, ranges.size(), "every attempt tried");
            assertNull(w.path(sha));
            assertFalse(Files.exists(dir.resolve("models").resolve(sha + ".gguf")));
        }
    }

    @Test
    void withoutPeersOrTokenTheFetchFailsSayingWhy() throws Exception {
        try (WeightsStore w = new WeightsStore(dir.resolve("models"), "secret", Map.of())) {
            ExecutionException none = assertThrows(ExecutionException.class, () -> w.fetch(sha, List.of()).get(30, TimeUnit.SECONDS));
            assertTrue(none.getCause().getMessage().contains("no node of the cluster announces"), none.getCause().getMessage());
        }
        try (WeightsStore w = new WeightsStore(dir.resolve("models2"), "", Map.of())) {
            ExecutionException noToken = assertThrows(ExecutionException.class, () -> w.fetch(sha, List.of(peer())).get(30, TimeUnit.SECONDS));
            assertTrue(noToken.getCause().getMessage().contains("troupe.admin.token is not set"), noToken.getCause().getMessage());
        }
    }
}
