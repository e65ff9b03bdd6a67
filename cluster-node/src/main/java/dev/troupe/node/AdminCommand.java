package dev.troupe.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.troupe.node.deploy.Sha256;

import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code bin/troupe admin ...}: drives a running node's admin API (models, deployments, traffic, tenants,
 * keys, usage, the cluster) and prints readable tables, or the server's JSON with {@code --json}. A refusal
 * prints the server's own message and exits 1; a usage mistake exits 2.
 */
final class AdminCommand {
    private static final ObjectMapper JSON = new ObjectMapper();

    static final String USAGE = String.join("\n",
            "usage: bin/troupe admin [--url URL] [--token TOKEN] [--json] [--actor NAME] COMMAND ...",
            "",
            "Drives a running node's admin API. URL and token default to TROUPE_URL (else http://127.0.0.1:8080)",
            "and TROUPE_ADMIN_TOKEN; --json prints the server's answer as it is; --actor names who acts in the history.",
            "",
            "  models [MODEL]                           the models, or one model's versions, deployments and traffic",
            "  register MODEL VERSION FILE [--sha256 H] register a file as a version (its sha256 computed when not given)",
            "  deploy MODEL VERSION [--replicas N] [--tensor-parallel N]",
            "                                           load a version (N replicas; each over N slices, 0 = the fewest that fit)",
            "  traffic MODEL VERSION=PERCENT...         split the traffic, e.g. traffic stories v1=90 v2=10",
            "  promote MODEL VERSION                    all traffic to the version",
            "  rollback MODEL [--to VERSION] [--reason TEXT]",
            "  retire MODEL VERSION                     retire a version that has no traffic",
            "  history MODEL                            who did what, when and why",
            "  tenants [TENANT]                         the tenants, or one tenant",
            "  tenant-create TENANT [--weight W] [--rpm N] [--tpm N] [--concurrent N] [--models a,b]",
            "  key-issue TENANT                         a new API key (printed once: the server keeps only its hash)",
            "  key-revoke TENANT KEY_ID",
            "  usage TENANT                             tokens and requests by day and model",
            "  cluster                                  members, slices and where each replica runs",
            "",
            "example: bin/troupe admin --token secret traffic stories v1=90 v2=10",
            "");

    private final String url;
    private final String token;
    private final String actor;
    private final boolean json;
    private final PrintStream out;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private AdminCommand(String url, String token, String actor, boolean json, PrintStream out) {
        this.url = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
        this.token = token;
        this.actor = actor;
        this.json = json;
        this.out = out;
    }

    /** A refusal from the server: its message and status. */
    static final class Refused extends Exception {
        Refused(String message) { super(message); }
    }

    static int run(String[] argv, PrintStream out, PrintStream err, Map<String, String> env) throws Exception {
        Args args = new Args(argv, 1, Set.of("url", "token", "actor", "sha256", "replicas", "tensor-parallel", "to", "reason", "weight",
                "rpm", "tpm", "concurrent", "models"), Set.of("json"));
        List<String> p = args.positional();
        if (p.isEmpty()) throw new Args.UsageException("which command? (bin/troupe admin --help)");
        String token = args.has("token") ? args.string("token", "") : env.getOrDefault("TROUPE_ADMIN_TOKEN", "");
        if (token.isBlank()) throw new Args.UsageException("no admin token: --token or TROUPE_ADMIN_TOKEN");
        AdminCommand c = new AdminCommand(args.has("url") ? args.string("url", "") : env.getOrDefault("TROUPE_URL", "http://127.0.0.1:8080"),
                token, args.has("actor") ? args.string("actor", "") : env.getOrDefault("USER", "admin"), args.has("json"), out);
        try {
            c.dispatch(p, args);
            return 0;
        } catch (Refused e) {
            err.println("troupe admin: " + e.getMessage());
            return 1;
        } catch (IOException e) {
            err.println("troupe admin: cannot reach " + c.url + ": " + e);
            return 1;
        }
    }

    private void dispatch(List<String> p, Args a) throws Exception {
        String cmd = p.get(0);
        switch (cmd) {
            case "models" -> {
                if (p.size() == 1) show(call("GET", "/admin/models", null), this::modelsTable);
                else show(call("GET", "/admin/models/" + seg(arg(p, 1, "MODEL")), null), this::modelTable);
            }
            case "register" -> {
                Path file = Path.of(arg(p, 3, "FILE"));
                String sha = a.has("sha256") ? a.string("sha256", "") : null;
                if (sha == null) {
                    if (!Files.isRegularFile(file)) throw new Args.UsageException("no file " + file + " here to hash: give --sha256");
                    sha = Sha256.of(file);
                }
                ObjectNode b = JSON.createObjectNode().put("version", arg(p, 2, "VERSION")).put("path", file.toAbsolutePath().toString()).put("sha256", sha);
                done(call("POST", models(p) + "/versions", b), "registered " + p.get(2) + " (sha256 " + sha.substring(0, 12) + "...)");
            }
            case "deploy" -> {
                ObjectNode b = JSON.createObjectNode().put("version", arg(p, 2, "VERSION")).put("replicas", a.integer("replicas", 1));
                if (a.has("tensor-parallel")) b.put("tensorParallel", a.integer("tensor-parallel", 0));
                done(call("POST", models(p) + "/deployments", b), "deploying " + p.get(2) + ": it loads in the background (admin models " + p.get(1) + ")");
            }
            case "traffic" -> {
                if (p.size() < 3) throw new Args.UsageException("traffic MODEL VERSION=PERCENT...");
                ObjectNode weights = JSON.createObjectNode();
                for (String w : p.subList(2, p.size())) {
                    int eq = w.indexOf('=');
                    if (eq <= 0) throw new Args.UsageException("'" + w + "' is not VERSION=PERCENT");
                    try {
                        weights.put(w.substring(0, eq), Integer.parseInt(w.substring(eq + 1)));
                    } catch (NumberFormatException e) {
                        throw new Args.UsageException("'" + w + "': the percent must be a whole number");
                    }
                }
                ObjectNode b = JSON.createObjectNode();
                b.set("weights", weights);
                done(call("PUT", models(p) + "/traffic", b), "traffic of " + p.get(1) + " set");
            }
            case "promote" -> done(call("POST", models(p) + "/promote", JSON.createObjectNode().put("version", arg(p, 2, "VERSION"))),
                    p.get(2) + " is live");
            case "rollback" -> {
                ObjectNode b = JSON.createObjectNode();
                if (a.has("to")) b.put("to", a.string("to", ""));
                if (a.has("reason")) b.put("reason", a.string("reason", ""));
                JsonNode r = call("POST", models(p) + "/rollback", b);
                done(r, "rolled back: " + r.path("live").asText("?") + " is live");
            }
            case "retire" -> done(call("DELETE", models(p) + "/versions/" + seg(arg(p, 2, "VERSION")), null), p.get(2) + " retired");
            case "history" -> show(call("GET", models(p) + "/history", null), this::historyTable);
            case "tenants" -> {
                if (p.size() == 1) show(call("GET", "/admin/tenants", null), r -> tenantsTable(r.path("data")));
                else show(call("GET", "/admin/tenants/" + seg(p.get(1)), null), r -> tenantsTable(JSON.createArrayNode().add(r)));
            }
            case "tenant-create" -> {
                ObjectNode b = JSON.createObjectNode().put("id", arg(p, 1, "TENANT"));
                if (a.has("weight")) b.put("weight", a.integer("weight", 1));
                ObjectNode q = JSON.createObjectNode();
                if (a.has("rpm")) q.put("requests_per_minute", a.integer("rpm", 0));
                if (a.has("tpm")) q.put("tokens_per_minute", a.longValue("tpm"));
                if (a.has("concurrent")) q.put("max_concurrent", a.integer("concurrent", 0));
                if (!q.isEmpty()) b.set("quotas", q);
                if (a.has("models")) {
                    var models = b.putArray("models");
                    for (String m : a.string("models", "").split(",")) if (!m.isBlank()) models.add(m.trim());
                }
                done(call("POST", "/admin/tenants", b), "tenant " + p.get(1) + " created");
            }
            case "key-issue" -> {
                JsonNode r = call("POST", "/admin/tenants/" + seg(arg(p, 1, "TENANT")) + "/keys", null);
                if (json) out.println(r.toPrettyString());
                else {
                    out.println("key id: " + r.path("keyId").asText());
                    out.println("key:    " + r.path("key").asText());
                    out.println("(shown once: the server keeps only its hash)");
                }
            }
            case "key-revoke" -> done(call("DELETE", "/admin/tenants/" + seg(arg(p, 1, "TENANT")) + "/keys/" + seg(arg(p, 2, "KEY_ID")), null),
                    "key " + p.get(2) + " revoked");
            case "usage" -> show(call("GET", "/admin/tenants/" + seg(arg(p, 1, "TENANT")) + "/usage", null), this::usageTable);
            case "cluster" -> show(call("GET", "/admin/cluster", null), this::clusterTables);
            default -> throw new Args.UsageException("unknown command '" + cmd + "' (bin/troupe admin --help)");
        }
    }

    private static String arg(List<String> p, int i, String name) {
        if (p.size() <= i) throw new Args.UsageException(p.get(0) + " needs " + name + " (bin/troupe admin --help)");
        return p.get(i);
    }

    private static String models(List<String> p) {
        return "/admin/models/" + seg(arg(p, 1, "MODEL"));
    }

    private static String seg(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    /** One admin call; a non-2xx answer is a {@link Refused} with the server's message. */
    private JsonNode call(String method, String path, JsonNode body) throws IOException, InterruptedException, Refused {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(60))
                .header("Authorization", "Bearer " + token).header("X-Troupe-Actor", actor)
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body.toString()));
        if (body != null) b.header("Content-Type", "application/json");
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        JsonNode n;
        try {
            n = r.body().isBlank() ? JSON.createObjectNode() : JSON.readTree(r.body());
        } catch (IOException e) {
            n = JSON.createObjectNode().put("text", r.body());
        }
        if (r.statusCode() / 100 != 2) {
            String message = n.path("error").path("message").asText(n.path("text").asText(r.body()));
            throw new Refused(message + " (HTTP " + r.statusCode() + ")");
        }
        return n;
    }

    private interface Printer {
        void print(JsonNode n);
    }

    private void show(JsonNode n, Printer tables) {
        if (json) out.println(n.toPrettyString());
        else tables.print(n);
    }

    private void done(JsonNode n, String message) {
        if (json) out.println(n.toPrettyString());
        else out.println(message);
    }

    // ------------------------------------------------------------------ tables

    private void modelsTable(JsonNode r) {
        Table t = new Table("MODEL", "LIVE", "VERSIONS", "SERVING");
        for (JsonNode m : r.path("data")) t.row(m.path("name").asText(), m.path("live").asText("-"), join(m.path("versions")), weights(m.path("serving")));
        t.print(out);
    }

    private void modelTable(JsonNode r) {
        Table t = new Table("VERSION", "LIVE", "TRAFFIC", "DEPLOYED", "HERE", "ARCHITECTURE", "REGISTERED BY");
        for (Iterator<Map.Entry<String, JsonNode>> it = r.path("versions").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> v = it.next();
            JsonNode d = r.path("deployments").path(v.getKey());
            String deployed = d.isMissingNode() ? "-" : d.path("replicas").asInt() + " x " + (d.path("tensor_parallel").asInt() == 0 ? "auto"
                    : d.path("tensor_parallel").asInt() + " slices");
            String here = v.getValue().path("node").path("phase").asText("-");
            t.row(v.getKey() + (v.getValue().path("retired").asBoolean() ? " (retired)" : ""), v.getKey().equals(r.path("live").asText()) ? "yes" : "",
                    r.path("traffic").has(v.getKey()) ? r.path("traffic").path(v.getKey()).asInt() + "%" : "", deployed, here,
                    v.getValue().path("architecture").asText(), v.getValue().path("registered_by").asText());
        }
        t.print(out);
    }

    private void historyTable(JsonNode r) {
        Table t = new Table("SEQ", "AT", "ACTOR", "EVENT", "DETAILS");
        for (JsonNode e : r.path("events")) {
            List<String> details = new ArrayList<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = e.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> f = it.next();
                if (!Set.of("seq", "at", "actor", "type").contains(f.getKey())) details.add(f.getKey() + "=" + f.getValue().asText());
            }
            t.row(e.path("seq").asText(), e.path("at").asText(), e.path("actor").asText(), e.path("type").asText(), String.join(" ", details));
        }
        t.print(out);
    }

    private void tenantsTable(JsonNode tenants) {
        Table t = new Table("TENANT", "WEIGHT", "RPM", "TPM", "CONCURRENT", "MODELS", "KEYS", "SUSPENDED");
        for (JsonNode n : tenants) {
            int live = 0;
            for (JsonNode k : n.path("keys")) if (!k.path("revoked").asBoolean()) live++;
            JsonNode q = n.path("quotas");
            t.row(n.path("id").asText(), n.path("weight").asText(), q.path("requests_per_minute").asText(), q.path("tokens_per_minute").asText(),
                    q.path("max_concurrent").asText(), n.path("models").isEmpty() ? "all" : join(n.path("models")), live + " live",
                    n.path("suspended").asBoolean() ? "yes: " + n.path("suspend_reason").asText() : "");
        }
        t.print(out);
    }

    private void usageTable(JsonNode r) {
        Table t = new Table("DAY", "MODEL", "REQUESTS", "PROMPT TOKENS", "COMPLETION TOKENS", "TOTAL");
        for (JsonNode d : r.path("data")) {
            t.row(d.path("day").asText(), d.path("model").asText(), d.path("requests").asText(), d.path("prompt_tokens").asText(),
                    d.path("completion_tokens").asText(), d.path("total_tokens").asText());
        }
        JsonNode tot = r.path("total");
        t.row("total", "", tot.path("requests").asText(), tot.path("prompt_tokens").asText(), tot.path("completion_tokens").asText(),
                tot.path("total_tokens").asText());
        t.print(out);
    }

    private void clusterTables(JsonNode r) {
        Table m = new Table("MEMBER", "STATUS", "REACHABLE", "ROLES");
        for (JsonNode n : r.path("members")) {
            m.row(n.path("node").asText() + (n.path("node").asText().equals(r.path("self").asText()) ? " (this node)" : ""),
                    n.path("status").asText(), n.path("reachable").asBoolean() ? "yes" : "NO", join(n.path("roles")));
        }
        m.print(out);
        out.println();
        Table s = new Table("SLICE", "MEMORY MiB", "PLACED MiB", "FREE MiB", "THREADS", "REPLICAS");
        for (JsonNode n : r.path("slices")) {
            s.row(n.path("id").asText(), mib(n.path("memory_total_bytes")), mib(n.path("memory_placed_bytes")), mib(n.path("memory_free_bytes")),
                    n.path("threads").asText(), join(n.path("replicas")));
        }
        s.print(out);
        out.println();
        Table p = new Table("REPLICA", "SLICES", "MiB EACH", "STATE");
        java.util.Map<String, String> state = new java.util.HashMap<>();
        for (JsonNode n : r.path("replicas")) state.put(n.path("node").asText() + "|" + n.path("model").asText() + "@" + n.path("version").asText(),
                n.path("state").asText() + ", " + n.path("running").asInt() + " running, " + n.path("queued").asInt() + " queued");
        for (JsonNode a : r.path("placement").path("assignments")) {
            List<String> slices = new ArrayList<>();
            if (a.has("group")) for (JsonNode g : a.path("group")) slices.add(g.path("slice").asText());
            else slices.add(a.path("slice").asText());
            p.row(a.path("replica").asText(), String.join(" + ", slices), mib(a.path("memory_bytes")),
                    state.getOrDefault(a.path("node").asText() + "|" + a.path("model").asText() + "@" + a.path("version").asText(), "loading"));
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = r.path("placement").path("unplaceable").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> u = it.next();
            p.row(u.getKey(), "-", "-", "unplaceable: " + u.getValue().asText());
        }
        p.print(out);
    }

    private static String mib(JsonNode bytes) {
        return Long.toString(bytes.asLong() >> 20);
    }

    private static String join(JsonNode array) {
        List<String> out = new ArrayList<>();
        for (JsonNode n : array) out.add(n.asText());
        return out.isEmpty() ? "-" : String.join(",", out);
    }

    private static String weights(JsonNode w) {
        List<String> out = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = w.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            out.add(e.getKey() + "=" + e.getValue().asText() + "%");
        }
        return out.isEmpty() ? "-" : String.join(" ", out);
    }

    /** Columns padded to their widest cell. */
    private static final class Table {
        private final List<String[]> rows = new ArrayList<>();

        Table(String... header) {
            rows.add(header);
        }

        void row(String... cells) {
            rows.add(cells);
        }

        void print(PrintStream out) {
            int[] width = new int[rows.get(0).length];
            for (String[] r : rows) for (int i = 0; i < r.length; i++) width[i] = Math.max(width[i], r[i].length());
            for (String[] r : rows) {
                StringBuilder line = new StringBuilder();
                for (int i = 0; i < r.length; i++) {
                    line.append(r[i]);
                    if (i + 1 < r.length) line.append(" ".repeat(width[i] - r[i].length() + 2));
                }
                out.println(line.toString().stripTrailing());
            }
        }
    }
}
