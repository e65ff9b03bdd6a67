package dev.troupe.node;

import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * {@code bin/troupe bench serve}: a load generator for a running node. For each concurrency level, that
 * many clients send streaming completions of fixed length ({@code ignore_eos}) back to back until
 * {@code --requests} are done; prints one JSON line per level with TTFT and inter-token latency
 * percentiles and the aggregate output tokens/s. Only loopback or addresses you own are meant as targets.
 */
final class ServeBench {
    static final String USAGE = String.join("\n",
            "usage: bin/troupe bench serve --url URL --model NAME [options]",
            "  --url URL            the node, e.g. http://127.0.0.1:8080",
            "  --model NAME         the served model name",
            "  --concurrency LIST   comma-separated client counts (default 1,8,32)",
            "  --max-tokens N       tokens per completion, generated in full (ignore_eos; default 64)",
            "  --requests N         requests per concurrency level (default: 20 x concurrency, at least 8)",
            "  --prompt TEXT        prompt (default \"Once upon a time\")",
            "  --warm-up-s S        seconds of load before measuring, shared by the levels in order (default 10)",
            "  --client raw|jdk     raw: one keep-alive socket per client reading the SSE bytes itself (default; the",
            "                       load generator shares the CPUs with the node and should cost little); jdk: the JDK",
            "                       HttpClient, a connection pool and a thread hand-off per response",
            "");

    private record Sample(long ttftNanos, List<Long> gaps, int tokens, boolean ok) {}

    private ServeBench() {}

    static int run(String[] argv, PrintStream out, PrintStream err) throws Exception {
        for (String a : argv) {
            if (a.equals("--help")) {
                out.print(USAGE);
                return 0;
            }
        }
        Args args = new Args(argv, 2, Set.of("url", "model", "concurrency", "max-tokens", "requests", "prompt", "client", "warm-up-s"), Set.of());
        String url = args.required("url").replaceAll("/+$", "");
        String model = args.required("model");
        int[] levels = args.integers("concurrency", new int[]{1, 8, 32});
        int maxTokens = args.integer("max-tokens", 64);
        String prompt = args.string("prompt", "Once upon a time");
        String client = args.string("client", "raw");
        if (!client.equals("raw") && !client.equals("jdk")) throw new IllegalArgumentException("--client must be raw or jdk, got " + client);
        URI target = URI.create(url);
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        String body = "{\"model\":" + quote(model) + ",\"prompt\":" + quote(prompt) + ",\"max_tokens\":" + maxTokens
                + ",\"temperature\":0,\"ignore_eos\":true,\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
        // Warm-up: the JIT on both sides compiles the HTTP path (serve's own warm-up covers only the engine) and
        // the batch shapes of every level, so that compilation does not share the CPUs with a measurement. A
        // node measured at 8 x 64 still gained ~30% between its 3rd and its 10th second of load.
        long warmNanos = (long) (args.number("warm-up-s", 10f) * 1e9);
        for (int c : levels) {
            load(c, client, http, url, target, body, new AtomicInteger(Integer.MAX_VALUE), System.nanoTime() + warmNanos / levels.length);
        }
        for (int c : levels) {
            // 20 per client: a level measured over 4 requests per client was mostly its lockstep start and tail.
            int requests = args.integer("requests", Math.max(8, 20 * c));
            long t0 = System.nanoTime();
            List<Sample> samples = load(c, client, http, url, target, body, new AtomicInteger(requests), t0 + Long.MAX_VALUE / 2);
            double wall = (System.nanoTime() - t0) / 1e9;
            List<Long> ttft = new ArrayList<>(), itl = new ArrayList<>();
            long tokens = 0;
            int failed = 0;
            for (Sample s : samples) {
                if (!s.ok()) {
                    failed++;
                    continue;
                }
                ttft.add(s.ttftNanos());
                itl.addAll(s.gaps());
                tokens += s.tokens();
            }
            out.println(String.format(Locale.ROOT,
                    "{\"test\":\"serve\",\"client\":\"" + client + "\",\"concurrency\":%d,\"requests\":%d,\"failed\":%d,\"max_tokens\":%d,\"ttft_p50_ms\":%.2f,"
                            + "\"ttft_p99_ms\":%.2f,\"itl_p50_ms\":%.2f,\"itl_p99_ms\":%.2f,\"output_tokens\":%d,\"wall_s\":%.3f,"
                            + "\"output_tokens_per_s\":%.1f}",
                    c, requests, failed, maxTokens, pct(ttft, 50), pct(ttft, 99), pct(itl, 50), pct(itl, 99), tokens, wall, tokens / wall));
            out.flush();
        }
        return 0;
    }

    /** c clients send requests back to back until {@code left} runs out or the deadline passes. */
    private static List<Sample> load(int c, String client, HttpClient http, String url, URI target, String body,
                                     AtomicInteger left, long deadline) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(c);
        List<Sample> samples = Collections.synchronizedList(new ArrayList<>());
        List<Future<?>> workers = new ArrayList<>();
        for (int w = 0; w < c; w++) {
            workers.add(pool.submit(() -> {
                RawHttpClient raw = null;
                while (deadline - System.nanoTime() > 0 && left.getAndDecrement() > 0) {
                    if (client.equals("jdk")) {
                        samples.add(one(http, url, body));
                        continue;
                    }
                    if (raw == null) raw = new RawHttpClient(target.getHost(), target.getPort());
                    Sample s = one(raw, body);
                    samples.add(s);
                    if (!s.ok()) { // the connection may be broken: the next request gets a new one
                        raw.close();
                        raw = null;
                    }
                }
                if (raw != null) raw.close();
                return null;
            }));
        }
        for (Future<?> f : workers) f.get();
        pool.shutdown();
        return samples;
    }

    /** Reads one SSE stream's lines: the first text chunk, the gaps between text chunks, the usage's token count. */
    private static final class StreamTimes implements java.util.function.Consumer<String> {
        final long start;
        long first, last;
        int tokens;
        final List<Long> gaps = new ArrayList<>();

        StreamTimes(long start) { this.start = start; }

        @Override
        public void accept(String line) {
            if (!line.startsWith("data: {")) return;
            long now = System.nanoTime();
            int u = line.indexOf("\"completion_tokens\":");
            if (u >= 0) {
                int e = u + 20;
                while (e < line.length() && Character.isDigit(line.charAt(e))) e++;
                tokens = Integer.parseInt(line.substring(u + 20, e));
                return;
            }
            if (!line.contains("\"text\":\"\"") && line.contains("\"text\":\"")) {
                if (first == 0) first = now;
                else gaps.add(now - last);
                last = now;
            }
        }

        Sample sample() { return new Sample(first - start, gaps, tokens, first != 0); }
    }

    private static Sample one(RawHttpClient raw, String body) {
        StreamTimes times = new StreamTimes(System.nanoTime());
        try {
            int status = raw.postStreaming("/v1/completions", body, times);
            return status == 200 ? times.sample() : new Sample(0, List.of(), 0, false);
        } catch (Exception e) {
            return new Sample(0, List.of(), 0, false);
        }
    }

    private static Sample one(HttpClient http, String url, String body) {
        long start = System.nanoTime();
        try {
            HttpResponse<Stream<String>> r = http.send(HttpRequest.newBuilder(URI.create(url + "/v1/completions"))
                    .timeout(Duration.ofSeconds(300)).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofLines());
            if (r.statusCode() != 200) {
                r.body().close();
                return new Sample(0, List.of(), 0, false);
            }
            StreamTimes times = new StreamTimes(start);
            try (Stream<String> lines = r.body()) {
                lines.forEach(times);
            }
            return times.sample();
        } catch (Exception e) {
            return new Sample(0, List.of(), 0, false);
        }
    }

    private static double pct(List<Long> xs, int p) {
        if (xs.isEmpty()) return Double.NaN;
        List<Long> s = new ArrayList<>(xs);
        Collections.sort(s);
        int i = (int) Math.ceil(p / 100.0 * s.size()) - 1;
        return s.get(Math.max(0, Math.min(s.size() - 1, i))) / 1e6;
    }

    private static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            if (ch == '"' || ch == '\\') sb.append('\\').append(ch);
            else if (ch < 0x20) sb.append(String.format("\\u%04x", (int) ch));
            else sb.append(ch);
        }
        return sb.append('"').toString();
    }
}
