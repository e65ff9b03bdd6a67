package dev.troupe.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The distribution archive that {@code mvn package} makes, unpacked into a temporary folder far from the
 * checkout, serves the reference model: its launcher finds its own jars, with the JDK on the PATH.
 */
class DistributionIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @TempDir Path tmp;

    @Test
    void theUnpackedArchiveServesTheReferenceModel() throws Exception {
        Path model = TroupeCli.sharedModel("stories260K-f32.gguf");
        Assumptions.assumeTrue(Files.isRegularFile(model), "../shared/models/stories260K-f32.gguf not found");
        Path archive;
        try (var files = Files.list(TroupeCli.root().resolve("cluster-node/target"))) {
            archive = files.filter(f -> f.getFileName().toString().matches("troupe-.*\\.tar\\.gz")).findFirst().orElseThrow(
                    () -> new AssertionError("no troupe-<version>.tar.gz in cluster-node/target: mvn package makes it"));
        }
        Process untar = new ProcessBuilder("tar", "xzf", archive.toString(), "-C", tmp.toString()).inheritIO().start();
        assertEquals(0, untar.waitFor());
        Path home;
        try (var dirs = Files.list(tmp)) {
            home = dirs.filter(Files::isDirectory).findFirst().orElseThrow();
        }
        for (String expected : new String[] {"bin/troupe", "lib/troupe-cluster-node.jar", "config/troupe.service", "config/troupe-node.conf",
                "docs/deploy.md", "README.md"}) {
            assertTrue(Files.exists(home.resolve(expected)), expected + " in the archive");
        }
        assertTrue(Files.isExecutable(home.resolve("bin/troupe")));

        JsonNode ref = JSON.readTree(Files.readAllLines(TroupeCli.sharedModel("stories260K-greedy.jsonl")).get(0));
        int port = TroupeCli.freePort();
        Path log = tmp.resolve("serve.log");
        Path work = Files.createDirectories(tmp.resolve("elsewhere"));
        Process p = new ProcessBuilder(home.resolve("bin/troupe").toString(), "serve", "--model", model.toString(), "--port", String.valueOf(port),
                "--threads", "2", "--data-dir", work.resolve("data").toString())
                .directory(work.toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            String base = "http://127.0.0.1:" + port;
            int status = TroupeCli.awaitReady(p, port, Duration.ofSeconds(90));
            assertEquals(200, status, "the unpacked node never became ready:\n" + Files.readString(log));
            String body = "{\"model\":\"stories260K-f32\",\"prompt\":" + JSON.writeValueAsString(ref.get("prompt").asText())
                    + ",\"max_tokens\":" + ref.get("max_tokens").asInt() + ",\"temperature\":0}";
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            assertEquals(ref.get("completion").asText(), JSON.readTree(r.body()).get("choices").get(0).get("text").asText());
        } finally {
            p.destroy();
            if (!p.waitFor(60, TimeUnit.SECONDS)) p.destroyForcibly();
        }
    }
}
