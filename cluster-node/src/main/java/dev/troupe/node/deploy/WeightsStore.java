package dev.troupe.node.deploy;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Pattern;

/**
 * The model files this node has, by sha256: the one it was started with and those it fetched from peers
 * (kept under {@code data-dir/models/<sha256>.gguf}). A version whose file this node lacks is fetched from a
 * peer that announces it: over the peer's HTTP API ({@code GET /internal/weights/<sha256>}, the admin token),
 * streamed to a {@code .part} file that a later attempt resumes with a Range request, verified by sha256
 * before it is used, and tried again on the next peer (three attempts in all).
 */
public final class WeightsStore implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(WeightsStore.class);
    private static final Pattern SHA = Pattern.compile("[0-9a-f]{64}");
    static final int ATTEMPTS = 3;

    /** A peer that has a file: its HTTP API's base URL. */
    public record Peer(String node, String httpBase) {}

    private final Path dir;
    private final String adminToken;
    private final Map<String, Path> files = new ConcurrentHashMap<>();
    private final Map<String, CompletableFuture<Path>> fetching = new ConcurrentHashMap<>();
    /** Made on the first fetch from a peer: a JDK 17 client cannot be closed, and its selector thread would outlive the node. */
    private HttpClient http; // guarded by this
    private final ExecutorService fetcher = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "troupe-weights-fetch");
        t.setDaemon(true);
        return t;
    });

    /** dir: where fetched files go (scanned for earlier ones); own: the file this node was started with. */
    public WeightsStore(Path dir, String adminToken, Map<String, Path> own) throws IOException {
        this.dir = dir;
        this.adminToken = adminToken;
        Files.createDirectories(dir);
        try (var list = Files.list(dir)) {
            list.forEach(p -> {
                String name = p.getFileName().toString();
                if (name.endsWith(".gguf") && SHA.matcher(name.substring(0, name.length() - 5)).matches()) {
                    files.put(name.substring(0, name.length() - 5), p);
                }
            });
        }
        files.putAll(own);
    }

    /** A file this node verified (its sha256 computed) and may now give to peers. */
    public void add(String sha256, Path file) {
        files.putIfAbsent(sha256, file);
    }

    /** This node's copy of the file with this sha256, or null. */
    public Path path(String sha256) {
        return files.get(sha256);
    }

    /** The sha256s of the files this node can give to its peers. */
    public List<String> shas() {
        return new ArrayList<>(files.keySet());
    }

    /** The file, fetched from one of the peers if this node lacks it (one fetch per file at a time). */
    public CompletableFuture<Path> fetch(String sha256, List<Peer> peers) {
        Path have = files.get(sha256);
        if (have != null) return CompletableFuture.completedFuture(have);
        return fetching.computeIfAbsent(sha256, s -> CompletableFuture.supplyAsync(() -> fetchNow(s, peers), fetcher)
                .whenComplete((p, t) -> fetching.remove(s)));
    }

    private Path fetchNow(String sha256, List<Peer> peers) {
        if (peers.isEmpty()) throw new IllegalStateException("no node of the cluster announces a file with sha256 " + sha256);
        if (adminToken.isBlank()) {
            throw new IllegalStateException("cannot fetch the file with sha256 " + sha256 + " from a peer: troupe.admin.token is not set");
        }
        Path part = dir.resolve(sha256 + ".gguf.part");
        Exception last = null;
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            Peer peer = peers.get(attempt % peers.size());
            try {
                long have = Files.exists(part) ? Files.size(part) : 0;
                download(peer, sha256, part, have);
                String got = Sha256.of(part);
                if (!got.equals(sha256)) {
                    Files.deleteIfExists(part);
                    throw new IOException("the file from " + peer.node() + " has sha256 " + got + ", not " + sha256);
                }
                Path done = dir.resolve(sha256 + ".gguf");
                Files.move(part, done, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                files.put(sha256, done);
                log.info("fetched the file with sha256 {} from {} ({} bytes)", sha256.substring(0, 12), peer.node(), Files.size(done));
                return done;
            } catch (Exception e) {
                last = e;
                log.warn("fetching the file with sha256 {} from {} failed (attempt {} of {}): {}", sha256.substring(0, 12), peer.node(),
                        attempt + 1, ATTEMPTS, e.toString());
            }
        }
        throw new IllegalStateException("could not fetch the file with sha256 " + sha256 + " from " + peers + ": " + last, last);
    }

    /** Streams the file into part from offset on (a Range request when resuming). */
    private void download(Peer peer, String sha256, Path part, long offset) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(peer.httpBase() + "/internal/weights/" + sha256))
                .header("Authorization", "Bearer " + adminToken).timeout(Duration.ofMinutes(30)).GET();
        if (offset > 0) b.header("Range", "bytes=" + offset + "-");
        HttpResponse<InputStream> r = client().send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
        boolean resumed = r.statusCode() == 206;
        if (r.statusCode() != 200 && !resumed) {
            try (InputStream in = r.body()) {
                throw new IOException(peer.node() + " answered " + r.statusCode() + ": " + new String(in.readNBytes(300)));
            }
        }
        try (InputStream in = r.body();
             OutputStream out = Files.newOutputStream(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                     resumed ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
            in.transferTo(out);
        }
    }

    private synchronized HttpClient client() {
        if (http == null) http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        return http;
    }

    @Override
    public void close() {
        fetcher.shutdownNow();
    }
}
