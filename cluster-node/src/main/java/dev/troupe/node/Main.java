package dev.troupe.node;

import dev.troupe.engine.EngineOptions;
import dev.troupe.engine.Generator;
import dev.troupe.engine.LlamaModel;
import dev.troupe.engine.tp.TensorParallelEngine;
import dev.troupe.engine.bench.EngineBench;
import dev.troupe.engine.sampling.SamplingParams;
import dev.troupe.engine.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/** The {@code bin/troupe} command line. Results go to stdout; diagnostics and logs to stderr. */
public final class Main {
    static final String USAGE = String.join("\n",
            "usage: bin/troupe COMMAND [options]",
            "",
            "commands:",
            "  serve         serve a model over an OpenAI-compatible HTTP API",
            "  generate      complete one prompt and print the completion",
            "  inspect FILE  what a GGUF model holds and whether Troupe can serve it (exit 0 servable, 1 not)",
            "  bench engine  measure engine throughput (JSON lines)",
            "  bench matmul  matmul kernel GFLOP/s as a fraction of this machine's peak (JSON lines)",
            "  bench tp      tensor-parallel exchange latency (Aeron IPC, UDP, plain TCP) and split vs whole decode speed (JSON lines)",
            "  bench prefix  TTFT and tokens/s of requests sharing a long system prompt, prefix cache off vs on (JSON lines)",
            "  bench serve   load a running node: TTFT, inter-token latency, tokens/s (JSON lines)",
            "  bench overhead  1-token completion latency: engine only vs the embedded API vs over HTTP (JSON)",
            "  bench rollout   deploy, canary, promote and rollbacks under load: failed requests, rollback time (JSON lines)",
            "  admin         drive a running node's admin API: models, deployments, traffic, tenants, keys, the cluster",
            "  --version     the build's version",
            "  help          this text; `bin/troupe COMMAND --help` for a command's options and an example",
            "");

    static final String GENERATE_USAGE = String.join("\n",
            "usage: bin/troupe generate --model FILE --prompt TEXT [options]",
            "",
            "Prints the completion (not the prompt) and a newline to stdout.",
            "  --model FILE        GGUF model file (llama or qwen2; `bin/troupe inspect FILE` says if it can be served)",
            "  --prompt TEXT       the prompt; BOS is added as the model's vocabulary says",
            "  --max-tokens N      most tokens to generate (default 128; the context may stop it earlier)",
            "  --temperature T     0 = greedy (default 0.8)",
            "  --top-k K           keep the K most likely tokens (0 = off, default 0)",
            "  --top-p P           nucleus sampling (1 = off, default 1)",
            "  --min-p P           drop tokens below P x the top probability (0 = off, default 0)",
            "  --repeat-penalty R  llama.cpp-style repetition penalty (1 = off, default 1)",
            "  --seed S            sampling seed: the same seed gives the same tokens",
            "  --stop TEXT         stop before this text (may repeat, up to 4)",
            "  --threads T         CPU threads (default: all cores)",
            "  --backend B         auto | native | native-avx2 | vector | scalar (default auto)",
            "  --tensor-parallel N split the model over N slices in this process, exchanging over Aeron IPC",
            "                      (default 1; N must divide the key/value heads); prints the same completion",
            "",
            "example: bin/troupe generate --model ../shared/models/stories260K-f32.gguf --prompt 'Once upon a time' --temperature 0",
            "");

    static final String BENCH_USAGE = String.join("\n",
            "usage: bin/troupe bench engine --model FILE [options]",
            "",
            "Prints one JSON object per test: ppP (prompt of P tokens in one step), tgG (one stream decoding",
            "G tokens), batchN (N streams decoding G tokens each, aggregate tokens/s). Median of --reps runs",
            "after at least three seconds of warm-up runs.",
            "  --model FILE          GGUF model file",
            "  --threads T           CPU threads (default: all cores)",
            "  --prompt-tokens P     default 128 (0 skips pp)",
            "  --gen-tokens G        default 128 (0 skips tg and batch)",
            "  --batch LIST          comma-separated stream counts (default 1,8,32; 1 is the tg test)",
            "  --reps N              measured runs per test (default 5, at least 3)",
            "  --backend B           auto | native | native-avx2 | vector | scalar (default auto)",
            "  --kv-cache-type T     f16 | f32: how the KV cache stores keys and values (default f16)",
            "  --dram-mib M          after tg, read M MiB (default 1024, 0 skips) with the kernels' threads and print",
            "                        a dram line: read bandwidth, weight bytes a token, the decode bound they give",
            "                        (bandwidth / bytes) and tg's share of it",
            "");

    /** Commands whose options are few: what they do. */
    private static final Map<String, String> BRIEF = Map.of(
            "bench overhead", "usage: bin/troupe bench overhead --model FILE [--threads T] [--requests N] [--prompt TEXT] [--config FILE]\n\n"
                    + "Starts a node in this JVM and times 1-token completions straight to the step loop and over HTTP (JSON).\n",
            "bench rollout", "usage: bin/troupe bench rollout --model FILE [--v2 FILE] [--threads T] [--clients N] [--rollbacks N]\n\n"
                    + "Deploys, canaries, promotes and rolls back versions under continuous load: failed requests and\n"
                    + "rollback-to-first-response times (JSON lines).\n",
            "bench prefix", "usage: bin/troupe bench prefix [--model FILE] [--threads T] [--requests 32] [--system-tokens 1000]\n"
                    + "                         [--question-tokens 20] [--max-tokens 32]\n\n"
                    + "Requests sharing a long system prompt submitted at once to a step loop, the prefix cache off then on:\n"
                    + "TTFT p50/p99 and aggregate tokens/s (JSON lines). Without --model it writes a random model with a long context.\n");

    /** One example per command, printed after its --help. */
    private static final Map<String, String> EXAMPLES = Map.ofEntries(
            Map.entry("serve", "bin/troupe serve --model ../shared/models/stories260K-f32.gguf --port 8080"),
            Map.entry("inspect", "bin/troupe inspect ../shared/models/stories260K-f32.gguf"),
            Map.entry("bench engine", "bin/troupe bench engine --model ../shared/models/random15M-f32.gguf --threads 2"),
            Map.entry("bench serve", "bin/troupe bench serve --url http://127.0.0.1:8080 --model stories260K-f32 --concurrency 1,8"),
            Map.entry("bench overhead", "bin/troupe bench overhead --model ../shared/models/stories260K-f32.gguf --threads 2"),
            Map.entry("bench rollout", "bin/troupe bench rollout --model ../shared/models/stories260K-f32.gguf --threads 2"),
            Map.entry("bench matmul", "bin/troupe bench matmul --threads 2 --quick"),
            Map.entry("bench tp", "bin/troupe bench tp --model ../shared/models/random15M-f32.gguf --threads 2"),
            Map.entry("bench prefix", "bin/troupe bench prefix --threads 2"));

    /** The usage of a command (its first words), or null. */
    private static String usageOf(String command) {
        switch (command) {
            case "serve": return ServeCommand.USAGE;
            case "generate": return GENERATE_USAGE;
            case "inspect": return INSPECT_USAGE;
            case "admin": return AdminCommand.USAGE;
            case "bench engine": return BENCH_USAGE;
            case "bench serve": return ServeBench.USAGE;
            case "bench matmul": return dev.troupe.engine.bench.MatmulBench.USAGE;
            case "bench tp": return dev.troupe.engine.bench.TensorParallelBench.USAGE;
            default: return BRIEF.get(command);
        }
    }

    /** {@code COMMAND --help}: its usage and an example; false when the command has none. */
    private static boolean help(String[] argv, PrintStream out) {
        if (!wantsHelp(argv) || argv[0].startsWith("-")) return false;
        String command = argv[0].equals("bench") && argv.length > 1 && !argv[1].startsWith("-") ? "bench " + argv[1] : argv[0];
        String usage = usageOf(command);
        if (usage == null) return false;
        out.print(usage);
        if (EXAMPLES.containsKey(command) && !usage.contains("example:")) out.println("example: " + EXAMPLES.get(command));
        return true;
    }

    /** The build's version (from the jar's manifest; "dev" when run from classes). */
    static String version() {
        String v = Main.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }

    private Main() {}

    public static void main(String[] argv) {
        int code;
        try {
            // stdout carries UTF-8 text whatever the platform's default charset is
            PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false, StandardCharsets.UTF_8);
            code = run(argv, out, System.err);
            out.flush();
        } catch (Args.UsageException e) {
            System.err.println("troupe: " + e.getMessage());
            code = 2;
        }
        System.exit(code);
    }

    static int run(String[] argv, PrintStream out, PrintStream err) {
        if (argv.length == 0 || argv[0].equals("help") || argv[0].equals("--help") || argv[0].equals("-h")) {
            (argv.length == 0 ? err : out).print(USAGE);
            return argv.length == 0 ? 2 : 0;
        }
        if (argv[0].equals("--version") || argv[0].equals("version")) {
            out.println("troupe " + version() + " (Java " + Runtime.version() + ")");
            return 0;
        }
        if (help(argv, out)) return 0;
        try {
            switch (argv[0]) {
                case "generate":
                    return generate(argv, out, err);
                case "serve":
                    return ServeCommand.run(argv, out, err);
                case "inspect":
                    return inspect(argv, out, err);
                case "admin":
                    if (wantsHelp(argv)) {
                        out.print(AdminCommand.USAGE);
                        return 0;
                    }
                    return AdminCommand.run(argv, out, err, System.getenv());
                case "bench":
                    if (argv.length > 1 && argv[1].equals("engine")) return benchEngine(argv, out, err);
                    if (argv.length > 1 && argv[1].equals("serve")) return ServeBench.run(argv, out, err);
                    if (argv.length > 1 && argv[1].equals("overhead")) return OverheadBench.run(argv, out, err);
                    if (argv.length > 1 && argv[1].equals("rollout")) return RolloutBench.run(argv, out, err);
                    if (argv.length > 1 && argv[1].equals("matmul")) {
                        return dev.troupe.engine.bench.MatmulBench.run(java.util.Arrays.copyOfRange(argv, 2, argv.length), out, err);
                    }
                    if (argv.length > 1 && argv[1].equals("prefix")) return PrefixCacheBench.run(argv, out, err);
                    if (argv.length > 1 && argv[1].equals("tp")) {
                        return dev.troupe.engine.bench.TensorParallelBench.run(java.util.Arrays.copyOfRange(argv, 2, argv.length), out, err);
                    }
                    err.print(BENCH_USAGE);
                    return 2;
                default:
                    err.println("troupe: unknown command '" + argv[0] + "'");
                    err.print(USAGE);
                    return 2;
            }
        } catch (Exception e) {
            if (e instanceof Args.UsageException) throw (Args.UsageException) e;
            err.println("troupe: " + e.getMessage());
            return 1;
        }
    }

    static final String INSPECT_USAGE = "usage: bin/troupe inspect FILE\n\nPrints a GGUF file's architecture, shape, tensor types, tokenizer and chat template,\n"
            + "and whether Troupe can serve it (if not, why). Exit status 0 when it can, 1 when it cannot.\n";

    private static int inspect(String[] argv, PrintStream out, PrintStream err) throws IOException {
        if (wantsHelp(argv)) {
            out.print(INSPECT_USAGE);
            return 0;
        }
        if (argv.length != 2) {
            err.print(INSPECT_USAGE);
            return 2;
        }
        Path file = Path.of(argv[1]);
        if (!Files.isRegularFile(file)) {
            err.println("troupe: no file at '" + file + "'");
            return 2;
        }
        dev.troupe.engine.model.ModelReport r = dev.troupe.engine.model.ModelReport.of(file);
        out.print(r.text());
        return r.servable() ? 0 : 1;
    }

    private static boolean wantsHelp(String[] argv) {
        for (String a : argv) if (a.equals("--help") || a.equals("-h")) return true;
        return false;
    }

    private static Path modelFile(Args args) {
        Path p = Path.of(args.required("model"));
        if (!Files.isRegularFile(p)) throw new Args.UsageException("model file not found: " + p);
        return p;
    }

    private static int generate(String[] argv, PrintStream out, PrintStream err) throws IOException {
        if (wantsHelp(argv)) {
            out.print(GENERATE_USAGE);
            return 0;
        }
        java.util.List<String> stops = new java.util.ArrayList<>();
        for (int i = 1; i + 1 < argv.length; i++) if (argv[i].equals("--stop")) stops.add(argv[i + 1]);
        Args args = new Args(argv, 1, Set.of("model", "prompt", "max-tokens", "temperature", "top-k", "top-p", "min-p",
                "repeat-penalty", "seed", "stop", "threads", "backend", "tensor-parallel"), Set.of());
        Path model = modelFile(args);
        String prompt = args.required("prompt");
        SamplingParams.Builder p = SamplingParams.builder()
                .maxTokens(args.integer("max-tokens", 128))
                .temperature(args.number("temperature", 0.8f))
                .topK(args.integer("top-k", 0))
                .topP(args.number("top-p", 1f))
                .minP(args.number("min-p", 0f))
                .repetitionPenalty(args.number("repeat-penalty", 1f))
                .stop(stops);
        if (args.has("seed")) p.seed(args.longValue("seed"));
        SamplingParams params;
        try {
            params = p.build();
        } catch (IllegalArgumentException e) {
            throw new Args.UsageException(e.getMessage());
        }
        EngineOptions options = EngineOptions.defaults()
                .withThreads(args.integer("threads", 0))
                .withBackend(args.string("backend", "auto"))
                .withMaxSequences(1)
                .withKvCacheTokens(0);
        int slices = args.integer("tensor-parallel", 1);
        if (slices < 1) throw new Args.UsageException("--tensor-parallel must be at least 1, got " + slices);
        TensorParallelEngine engine;
        try {
            engine = TensorParallelEngine.load(model, options, slices);
        } catch (IllegalArgumentException e) {
            throw new Args.UsageException(e.getMessage());
        }
        try (engine) {
            LlamaModel m = engine.model();
            Tokenizer tokenizer = Tokenizer.fromGguf(m.file());
            Generator g = new Generator(m, tokenizer);
            Generator.Result r = g.generate(prompt, params, piece -> {
                out.print(piece);
                out.flush();
            });
            out.println();
            out.flush();
            err.printf("troupe: %d prompt tokens, %d generated (%s); prefill %.1f ms, decode %.1f tokens/s%n",
                    r.promptTokens(), r.completionTokens(), r.finishReason().name().toLowerCase(),
                    r.prefillNanos() / 1e6, r.completionTokens() / Math.max(1e-9, r.decodeNanos() / 1e9));
            return 0;
        }
    }

    private static int benchEngine(String[] argv, PrintStream out, PrintStream err) throws IOException {
        if (wantsHelp(argv)) {
            out.print(BENCH_USAGE);
            return 0;
        }
        Args args = new Args(argv, 2, Set.of("model", "threads", "prompt-tokens", "gen-tokens", "batch", "reps", "backend", "kv-cache-type", "dram-mib"), Set.of());
        Path model = modelFile(args);
        int promptTokens = args.integer("prompt-tokens", 128);
        int genTokens = args.integer("gen-tokens", 128);
        int[] batches = args.integers("batch", new int[]{1, 8, 32});
        int reps = args.integer("reps", 5);
        int dramMib = args.integer("dram-mib", 1024);
        if (dramMib < 0) throw new Args.UsageException("--dram-mib must be >= 0");
        if (reps < 3) throw new Args.UsageException("--reps must be at least 3");
        if (promptTokens < 0 || genTokens < 0) throw new Args.UsageException("--prompt-tokens and --gen-tokens must be >= 0");
        int maxStreams = 1;
        for (int b : batches) {
            if (b < 1) throw new Args.UsageException("--batch values must be >= 1");
            maxStreams = Math.max(maxStreams, b);
        }
        EngineOptions options = EngineOptions.defaults()
                .withThreads(args.integer("threads", 0))
                .withBackend(args.string("backend", "auto"))
                .withKvCacheType(dev.troupe.engine.kv.PagedKvCache.Type.parse(args.string("kv-cache-type", "f16")))
                .withMaxSequences(maxStreams)
                .withMaxBatchTokens(Math.max(Math.max(promptTokens, maxStreams), 1))
                .withKvCacheTokens(EngineBench.kvTokensNeeded(promptTokens, genTokens, batches));
        try (LlamaModel m = LlamaModel.load(model, options)) {
            int ctx = m.config().contextLength();
            if (promptTokens > ctx || genTokens > ctx) {
                throw new Args.UsageException("the model's context is " + ctx + " tokens; lower --prompt-tokens/--gen-tokens");
            }
            String weights = m.config() == null ? "?" : weightsType(m);
            for (EngineBench.Result r : new EngineBench(m, reps).run(promptTokens, genTokens, batches)) {
                out.println(r.toJson(model.getFileName().toString(), m.backendName(), m.threads(), weights));
                out.flush();
                if (r.test().startsWith("tg") && dramMib > 0) {
                    out.println(dramLine(m, r.tokensPerSecond(), dramMib));
                    out.flush();
                }
            }
            return 0;
        }
    }

    /** Decode against the memory bound: every weight is read once a token (the embedding, one row of it). */
    private static String dramLine(LlamaModel m, double tgTokensPerSecond, int mib) {
        double bandwidth = dev.troupe.engine.bench.ReadBandwidth.bytesPerSecond(m.threads(), (long) mib << 20, 5);
        long bytesPerToken = m.weightBytesPerToken();
        double bound = bandwidth / bytesPerToken;
        return String.format(java.util.Locale.ROOT,
                "{\"test\":\"dram\",\"read_mib\":%d,\"threads\":%d,\"read_gb_per_s\":%.2f,\"weight_mib_per_token\":%.1f,"
                        + "\"bound_tokens_per_s\":%.1f,\"tg_tokens_per_s\":%.1f,\"tg_of_bound\":%.3f}",
                mib, m.threads(), bandwidth / 1e9, bytesPerToken / 1048576.0, bound, tgTokensPerSecond, tgTokensPerSecond / bound);
    }

    private static String weightsType(LlamaModel m) {
        try {
            return m.file().tensor("blk.0.attn_q.weight").type().name();
        } catch (IOException e) {
            return "?";
        }
    }
}
