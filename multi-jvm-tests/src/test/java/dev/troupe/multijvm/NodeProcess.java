package dev.troupe.multijvm;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** One node: a real {@code bin/troupe serve} process of this checkout, its log in a file, driven over HTTP. */
final class NodeProcess implements AutoCloseable {
    static final String ADMIN_TOKEN = "multi-jvm-secret";
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    final String name;
    /** The address the node listens on (HTTP and cluster). */
    final String host;
    final int httpPort;
    final int clusterPort;
    final Path log;
    private final Process process;

    private NodeProcess(String name, String host, int httpPort, int clusterPort, Path log, Process process) {
        this.name = name;
        this.host = host;
        this.httpPort = httpPort;
        this.clusterPort = clusterPort;
        this.log = log;
        this.process = process;
    }

    static Path root() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("bin/troupe")) && Files.isRegularFile(p.resolve("pom.xml"))) return p;
        }
        throw new IllegalStateException("bin/troupe not found above " + Path.of("").toAbsolutePath());
    }

    static Path sharedModel(String file) {
        return root().resolveSibling("shared").resolve("models").resolve(file);
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /**
     * The reference model file, for a test that starts nodes from the packaged build: the test is skipped
     * (reported, not passed) when the model or the build is missing.
     */
    static Path referenceModel() {
        return modelForNodes("stories260K-f32.gguf");
    }

    /** A model of ../shared/models for nodes started from the packaged build (skipped when either is missing). */
    static Path modelForNodes(String name) {
        Path model = sharedModel(name);
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isRegularFile(model), "../shared/models/" + name + " not found");
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isRegularFile(root().resolve("cluster-node/target/troupe-cluster-node.jar")),
                "the build is not packaged (mvn -DskipTests package)");
        return model;
    }

    /** Starts a node serving model (named modelName) with the cluster's journal; seeds may be empty. */
    static NodeProcess start(String name, Path dir, Path model, String modelName, String journalUrl, int clusterPort,
                             List<Integer> seeds, String... extra) throws IOException {
        return start(name, dir, model, modelName, journalUrl, clusterPort, seeds, java.util.Map.of(), extra);
    }

    /** The same, with extra environment variables for the node (TROUPE_* settings). */
    static NodeProcess start(String name, Path dir, Path model, String modelName, String journalUrl, int clusterPort,
                             List<Integer> seeds, java.util.Map<String, String> env, String... extra) throws IOException {
        return start(name, dir, model, modelName, journalUrl, clusterPort, seeds, env, Where.LOOPBACK, extra);
    }

    /**
     * Where a node runs: the address it listens on (HTTP and cluster), the address its seeds have, and a
     * command its JVM runs under (such as {@code ip netns exec NS}).
     */
    record Where(String host, String seedHost, List<String> prefix) {
        static final Where LOOPBACK = new Where("127.0.0.1", "127.0.0.1", List.of());
    }

    static NodeProcess start(String name, Path dir, Path model, String modelName, String journalUrl, int clusterPort,
                             List<Integer> seeds, java.util.Map<String, String> env, Where where, String... extra) throws IOException {
        int http = freePort();
        List<String> cmd = new ArrayList<>(where.prefix());
        cmd.addAll(List.of(root().resolve("bin/troupe").toString(), "serve",
                "--model", model.toString(), "--name", modelName, "--port", String.valueOf(http),
                "--cluster-port", String.valueOf(clusterPort), "--journal", "postgres", "--journal-url", journalUrl,
                "--data-dir", dir.resolve(name).toString(), "--host", where.host(), "--cluster-host", where.host()));
        for (int s : seeds) {
            cmd.add("--seed");
            cmd.add(where.seedHost() + ":" + s);
        }
        cmd.addAll(List.of(extra));
        Path log = dir.resolve(name + ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(root().toFile()).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("TROUPE_THREADS", "1");
        pb.environment().put("TROUPE_WARM_UP", "0s");
        pb.environment().put("TROUPE_ADMIN_TOKEN", ADMIN_TOKEN);
        pb.environment().put("TROUPE_AERON_DIR", dir.resolve(name + "-aeron").toString());
        pb.environment().put("TROUPE_JAVA_OPTS", "-Xmx512m");
        // The tests register versions from their temporary directories.
        pb.environment().put("TROUPE_MODEL_DIRS", "/");
        pb.environment().putAll(env);
        return new NodeProcess(name, where.host(), http, clusterPort, log, pb.start());
    }

    /** n nodes serving model as modelName, the first the seed of the others, all ready. */
    static List<NodeProcess> startCluster(int n, Path dir, Path model, String modelName, String journalUrl,
                                          java.util.Map<String, String> env) throws Exception {
        List<NodeProcess> out = new ArrayList<>();
        int seed = freePort();
        out.add(start("node1", dir, model, modelName, journalUrl, seed, List.of(), env).awaitReady(Duration.ofSeconds(120)));
        for (int i = 2; i <= n; i++) out.add(start("node" + i, dir, model, modelName, journalUrl, freePort(), List.of(seed), env));
        for (NodeProcess node : out) node.awaitReady(Duration.ofSeconds(120));
        return out;
    }

    /** The node's cluster address, as {@code host:port}. */
    String clusterAddress() {
        return host + ":" + clusterPort;
    }

    String url(String path) {
        return "http://" + host + ":" + httpPort + path;
    }

    /** Waits until /health/ready answers 200. */
    NodeProcess awaitReady(Duration limit) throws Exception {
        long until = System.nanoTime() + limit.toNanos();
        while (System.nanoTime() < until) {
            if (!process.isAlive()) throw new AssertionError(name + " exited with " + process.exitValue() + ":\n" + tail());
            try {
                if (get("/health/ready").statusCode() == 200) return this;
            } catch (IOException notYet) {
                // not listening yet
            }
            Thread.sleep(200);
        }
        throw new AssertionError(name + " not ready in " + limit + ":\n" + tail());
    }

    HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return HTTP.send(HttpRequest.newBuilder(URI.create(url(path))).timeout(Duration.ofSeconds(30)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> post(String path, String json) throws IOException, InterruptedException {
        return post(path, json, null);
    }

    /** A POST with an API key (null: none). */
    HttpResponse<String> post(String path, String json, String apiKey) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url(path))).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(json));
        if (apiKey != null) b.header("Authorization", "Bearer " + apiKey);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> admin(String method, String path, String json) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url(path))).timeout(Duration.ofSeconds(60))
                .header("Authorization", "Bearer " + ADMIN_TOKEN).header("Content-Type", "application/json");
        b = json == null ? b.method(method, HttpRequest.BodyPublishers.noBody()) : b.method(method, HttpRequest.BodyPublishers.ofString(json));
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** The JVM's exit status after SIGTERM once its shutdown (drain, leave) completed: 128 + 15. */
    static final int SIGTERM_EXIT = 143;

    /** SIGTERM: drain, leave the cluster, exit; returns the exit code. */
    int stop(Duration limit) throws Exception {
        process.destroy();
        if (!process.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) throw new AssertionError(name + " did not exit after SIGTERM:\n" + tail());
        return process.exitValue();
    }

    /** SIGKILL: the JVM dies at once, nothing drained or left. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        if (!process.waitFor(10, TimeUnit.SECONDS)) throw new AssertionError(name + " still alive after SIGKILL");
    }

    /** SIGSTOP (paused: alive but silent) or SIGCONT. */
    void signal(String sig) throws Exception {
        Process k = new ProcessBuilder("kill", "-" + sig, Long.toString(process.pid())).inheritIO().start();
        if (k.waitFor() != 0) throw new AssertionError("kill -" + sig + " " + process.pid() + " failed");
    }

    /** A streaming POST, sent without waiting: the response's lines as they come. */
    java.util.concurrent.CompletableFuture<HttpResponse<java.util.stream.Stream<String>>> stream(String path, String json) {
        return stream(path, json, null);
    }

    /** The same with an API key (null: none). */
    java.util.concurrent.CompletableFuture<HttpResponse<java.util.stream.Stream<String>>> stream(String path, String json, String apiKey) {
        HttpRequest.Builder r = HttpRequest.newBuilder(URI.create(url(path))).timeout(Duration.ofSeconds(120))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(json));
        if (apiKey != null) r.header("Authorization", "Bearer " + apiKey);
        return HTTP.sendAsync(r.build(), HttpResponse.BodyHandlers.ofLines());
    }

    int exitValue() {
        return process.exitValue();
    }

    boolean alive() {
        return process.isAlive();
    }

    String tail() {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
