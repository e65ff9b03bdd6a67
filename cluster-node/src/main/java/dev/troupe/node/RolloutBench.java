package dev.troupe.node;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;

import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@code bin/troupe bench rollout --model FILE [--v2 FILE]}: versioned rollout under load. Starts a node in
 * this JVM serving FILE as v1, keeps {@code --clients} clients sending short completions back to back, and
 * over the admin API deploys v2 (FILE again unless --v2 is given), shifts 10% to it, promotes it, then
 * alternates rollback / promote {@code --rollbacks} times. Prints JSON lines: how long the deployment took
 * to become ready, every request's outcome during all of it (the target is zero failed), and the time from
 * each rollback call to the first response served by the version rolled back to (target: under 100 ms).
 */
final class RolloutBench {
    private static final String TOKEN = "bench-admin-token";

    private RolloutBench() {}

    static int run(String[] argv, PrintStream out, PrintStream err) throws Exception {
        Args args = new Args(argv, 2, Set.of("model", "v2", "threads", "clients", "rollbacks", "config"), Set.of());
        Path model = Path.of(args.required("model"));
        Path v2 = Path.of(args.string("v2", model.toString()));
        for (Path p : List.of(model, v2)) if (!Files.isRegularFile(p)) throw new Args.UsageException("model file not found: " + p);
        int clients = args.integer("clients", 2);
        int rollbacks = args.integer("rollbacks", 20);
        Config file = args.has("config") ? ConfigFactory.parseFile(new java.io.File(args.required("config"))) : ConfigFactory.empty();
        // The versions are registered from where the bench's files are (troupe.weights.model-dirs).
        Config c = ConfigFactory.parseString("troupe.http.port = 0\ntroupe.admin.token = " + TOKEN + "\ntroupe.engine.threads = "
                        + args.integer("threads", 0))
                .withFallback(file)
                .withFallback(ConfigFactory.parseMap(java.util.Map.of("troupe.weights.model-dirs", List.of(
                        model.toAbsolutePath().getParent().toString(), v2.toAbsolutePath().getParent().toString()))))
                .withFallback(ConfigFactory.parseString("troupe.data-dir = \""
                        + Files.createTempDirectory("troupe-bench").toString().replace('\\', '/') + "\""))
                .withFallback(ServeCommand.nodeDefaults()).resolve();
        ServeCommand.Node node = ServeCommand.start(model, "m", c);
        HttpClient http = HttpClient.newHttpClient();
        String base = "http://127.0.0.1:" + node.port();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger ok = new AtomicInteger();
        List<String> failed = java.util.Collections.synchronizedList(new ArrayList<>());
        List<Thread> load = new ArrayList<>();
        try {
            for (int i = 0; i < clients; i++) {
                Thread t = new Thread(() -> {
                    while (!stop.get()) {
                        try {
                            HttpResponse<String> r = complete(http, base);
                            if (r.statusCode() == 200) ok.incrementAndGet();
                            else failed.add(r.statusCode() + " " + r.body());
                        } catch (Exception e) {
                            failed.add(e.toString());
                        }
                    }
                }, "bench-client-" + i);
                t.start();
                load.add(t);
            }
            admin(http, base, "POST", "/admin/models/m/versions", "{\"version\":\"v2\",\"path\":" + quote(v2.toAbsolutePath().toString())
                    + ",\"sha256\":\"" + dev.troupe.node.deploy.Sha256.of(v2) + "\"}", 201);
            long t0 = System.nanoTime();
            admin(http, base, "POST", "/admin/models/m/deployments", "{\"version\":\"v2\"}", 202);
            node.deployments().whenReady("v2").get();
            double deployMs = (System.nanoTime() - t0) / 1e6;
            admin(http, base, "PUT", "/admin/models/m/traffic", "{\"weights\":{\"v1\":90,\"v2\":10}}", 200);
            Thread.sleep(500);
            admin(http, base, "POST", "/admin/models/m/promote", "{\"version\":\"v2\"}", 200);
            Thread.sleep(500);
            out.println(String.format(Locale.ROOT, "{\"bench\":\"rollout\",\"deploy_to_ready_ms\":%.1f}", deployMs));

            double[] ms = new double[rollbacks];
            double[] callMs = new double[rollbacks];
            for (int i = 0; i < rollbacks; i++) {
                String back = "v1";
                long start = System.nanoTime();
                admin(http, base, "POST", "/admin/models/m/rollback", "{\"reason\":\"bench\"}", 200);
                callMs[i] = (System.nanoTime() - start) / 1e6;
                while (!back.equals(complete(http, base).headers().firstValue("X-Troupe-Version").orElse(""))) {
                    if (System.nanoTime() - start > Duration.ofSeconds(30).toNanos()) throw new IllegalStateException("rollback never served");
                }
                ms[i] = (System.nanoTime() - start) / 1e6;
                Thread.sleep(200);
                admin(http, base, "POST", "/admin/models/m/promote", "{\"version\":\"v2\"}", 200);
                Thread.sleep(200);
            }
            stop.set(true);
            for (Thread t : load) t.join(30_000);
            Arrays.sort(ms);
            Arrays.sort(callMs);
            out.println(String.format(Locale.ROOT, "{\"bench\":\"rollback_to_warm\",\"rollbacks\":%d,\"to_first_response_p50_ms\":%.1f,"
                            + "\"to_first_response_max_ms\":%.1f,\"rollback_call_p50_ms\":%.1f,\"cold_load_ms\":%.1f,\"cold_over_warm\":%.0f}",
                    rollbacks, ms[rollbacks / 2], ms[rollbacks - 1], callMs[rollbacks / 2], deployMs, deployMs / ms[rollbacks / 2]));
            out.println(String.format(Locale.ROOT, "{\"bench\":\"requests_during_rollout\",\"ok\":%d,\"failed\":%d%s}", ok.get(), failed.size(),
                    failed.isEmpty() ? "" : ",\"first_failure\":" + quote(failed.get(0))));
            return failed.isEmpty() ? 0 : 1;
        } finally {
            stop.set(true);
            node.stop();
        }
    }

    private static HttpResponse<String> complete(HttpClient http, String base) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions")).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"m\",\"prompt\":\"Once upon a time\",\"max_tokens\":4}")).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static void admin(HttpClient http, String base, String method, String path, String body, int expect) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + path)).header("Authorization", "Bearer " + TOKEN)
                .header("Content-Type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != expect) throw new IllegalStateException(method + " " + path + " -> " + r.statusCode() + ": " + r.body());
    }

    private static String quote(String s) throws Exception {
        return new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(s);
    }
}
