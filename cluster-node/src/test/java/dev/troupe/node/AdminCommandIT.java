package dev.troupe.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.troupe.engine.gguf.RandomLlamaWriter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** {@code bin/troupe admin} against a real node: every command, its tables, --json, and the server's refusals. */
class AdminCommandIT {
    private static final String TOKEN = "cli-admin-token";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static ServeCommand.Node node;
    private static Map<String, String> env;

    @TempDir static Path tmp;

    @BeforeAll
    static void start() throws Exception {
        Path model = TroupeCli.sharedModel("stories260K-f32.gguf");
        Assumptions.assumeTrue(Files.isRegularFile(model), "../shared/models/stories260K-f32.gguf not found");
        Config c = ConfigFactory.parseString("troupe.http.port = 0\ntroupe.engine.threads = 1\ntroupe.engine.warm-up = 0s\n"
                        + "troupe.admin.token = " + TOKEN + "\ntroupe.data-dir = \"" + tmp.resolve("data").toString().replace('\\', '/') + "\"")
                .withFallback(ServeCommand.nodeDefaults()).resolve();
        node = ServeCommand.start(model, "stories", c);
        env = Map.of("TROUPE_URL", "http://127.0.0.1:" + node.port(), "TROUPE_ADMIN_TOKEN", TOKEN, "USER", "cli-test");
    }

    @AfterAll
    static void stop() {
        if (node != null) node.stop();
    }

    private record Run(int code, String out, String err) {}

    private static Run admin(String... args) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        String[] argv = new String[args.length + 1];
        argv[0] = "admin";
        System.arraycopy(args, 0, argv, 1, args.length);
        int code = AdminCommand.run(argv, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8), env);
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static Run ok(String... args) throws Exception {
        Run r = admin(args);
        assertEquals(0, r.code(), String.join(" ", args) + ": " + r.err());
        return r;
    }

    @Test
    void everyCommandAgainstARealNode() throws Exception {
        Run models = ok("models");
        assertTrue(models.out().startsWith("MODEL"), models.out());
        assertTrue(models.out().contains("stories") && models.out().contains("v1=100%"), models.out());

        Path v2 = tmp.resolve("v2.gguf");
        new RandomLlamaWriter(RandomLlamaWriter.LlamaShape.of(64, 128, 2, 4, 4, 512, 256))
                .tokenizerFrom(TroupeCli.sharedModel("stories260K-f32.gguf")).seed(3).write(v2);
        assertTrue(ok("register", "stories", "v2", v2.toString()).out().startsWith("registered v2"));
        assertTrue(ok("deploy", "stories", "v2", "--replicas", "1").out().startsWith("deploying v2"));
        long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!JSON.readTree(ok("models", "stories", "--json").out()).path("versions").path("v2").path("node").path("phase").asText().equals("ready")) {
            assertTrue(System.nanoTime() < until, "v2 did not load");
            Thread.sleep(100);
        }
        Run table = ok("models", "stories");
        assertTrue(table.out().lines().anyMatch(l -> l.startsWith("v2") && l.contains("ready") && l.contains("1 x auto")), table.out());

        ok("traffic", "stories", "v1=50", "v2=50");
        assertTrue(ok("promote", "stories", "v2").out().contains("v2 is live"));
        assertEquals("rolled back: v1 is live\n", ok("rollback", "stories", "--reason", "canary latency").out());
        Run history = ok("history", "stories");
        assertTrue(history.out().lines().anyMatch(l -> l.contains("cli-test") && l.contains("RolledBack") && l.contains("canary latency")),
                history.out());
        assertTrue(ok("retire", "stories", "v2").out().contains("v2 retired"));

        // Refusals are the server's messages, exit 1.
        Run refused = admin("deploy", "stories", "v9");
        assertEquals(1, refused.code());
        assertTrue(refused.err().contains("v9") && refused.err().contains("HTTP 404"), refused.err());
        Run badSplit = admin("deploy", "stories", "v1", "--tensor-parallel", "3");
        assertEquals(1, badSplit.code());
        assertTrue(badSplit.err().contains("4 key/value heads") && badSplit.err().contains("HTTP 400"), badSplit.err());

        assertTrue(ok("tenant-create", "acme", "--weight", "2", "--rpm", "100", "--models", "stories").out().contains("acme created"));
        Run tenants = ok("tenants");
        assertTrue(tenants.out().lines().anyMatch(l -> l.startsWith("acme") && l.contains("100") && l.contains("stories")), tenants.out());
        Run key = ok("key-issue", "acme");
        String keyId = key.out().lines().filter(l -> l.startsWith("key id:")).findFirst().orElseThrow().substring(7).trim();
        String secret = key.out().lines().filter(l -> l.startsWith("key:")).findFirst().orElseThrow().substring(4).trim();
        assertFalse(secret.isEmpty());
        assertFalse(ok("tenants", "acme", "--json").out().contains(secret), "the key is shown once, never again");
        assertTrue(ok("usage", "acme").out().lines().anyMatch(l -> l.startsWith("total")));
        assertTrue(ok("key-revoke", "acme", keyId).out().contains("revoked"));
        assertTrue(ok("tenants", "acme").out().contains("0 live"));

        Run cluster = ok("cluster");
        assertTrue(cluster.out().contains("(this node)") && cluster.out().contains("SLICE") && cluster.out().contains("stories@v1#0"), cluster.out());

        assertThrows(Args.UsageException.class, () -> admin("traffic", "stories", "v1"));
        assertThrows(Args.UsageException.class, () -> admin("frobnicate"));
    }
}
