package dev.troupe.node.http;

import com.typesafe.config.ConfigFactory;
import dev.troupe.node.ServeCommand;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.*;

/** Readiness follows the step loop's heartbeat; a request past its deadline gets 504. */
class ReadinessAndDeadlineIT {
    private static Path model() {
        Path m = ServeIT.shared("stories260K-f32.gguf");
        Assumptions.assumeTrue(m != null, "../shared/models/stories260K-f32.gguf not found");
        return m;
    }

    private static HttpResponse<String> get(ServeCommand.Node node, String path) throws Exception {
        return ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.port() + path))
                .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void aDeadStepLoopTurnsReadinessOff() throws Exception {
        ServeCommand.Node node = ServeCommand.start(model(), "stories", ConfigFactory.parseString(
                "troupe.http.port = 0\ntroupe.engine.threads = 1\ntroupe.engine.warm-up = 0s\ntroupe.health.max-heartbeat-age = 1s")
                .withFallback(ServeIT.tempDataDir()).withFallback(ServeCommand.nodeDefaults()).resolve());
        try {
            assertEquals(200, get(node, "/health/ready").statusCode());
            node.stepLoop().close(); // the worker dies
            long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            int status = 200;
            while (status == 200 && System.nanoTime() < until) {
                Thread.sleep(100);
                status = get(node, "/health/ready").statusCode();
            }
            assertEquals(503, status, "readiness stayed on with a dead step loop");
            assertEquals(200, get(node, "/health/live").statusCode());
        } finally {
            node.stop();
        }
    }

    @Test
    void aDrainingNodeAnswers503WithRetryAfter() throws Exception {
        ServeCommand.Node node = ServeCommand.start(model(), "stories", ConfigFactory.parseString(
                "troupe.http.port = 0\ntroupe.engine.threads = 1\ntroupe.engine.warm-up = 0s")
                .withFallback(ServeIT.tempDataDir()).withFallback(ServeCommand.nodeDefaults()).resolve());
        try {
            node.stopAccepting();
            HttpResponse<String> r = ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.port() + "/v1/completions"))
                    .header("Content-Type", "application/json").timeout(Duration.ofSeconds(30))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"stories\",\"prompt\":\"Zoo\",\"max_tokens\":5}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            ServeIT.assertError(r, 503, null);
            assertEquals("1", r.headers().firstValue("retry-after").orElse(null));
            assertEquals(503, get(node, "/health/ready").statusCode(), "a draining node is not ready");
        } finally {
            node.stop();
        }
    }

    @Test
    void aRequestPastItsDeadlineGets504() throws Exception {
        ServeCommand.Node node = ServeCommand.start(model(), "stories", ConfigFactory.parseString(
                "troupe.http.port = 0\ntroupe.engine.threads = 1\ntroupe.engine.warm-up = 0s\ntroupe.http.request-timeout = 1ms")
                .withFallback(ServeIT.tempDataDir()).withFallback(ServeCommand.nodeDefaults()).resolve());
        try {
            HttpResponse<String> r = ServeIT.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.port() + "/v1/completions"))
                    .header("Content-Type", "application/json").timeout(Duration.ofSeconds(30))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"stories\",\"prompt\":\"Once upon a time\",\"max_tokens\":50}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            ServeIT.assertError(r, 504, null);
        } finally {
            node.stop();
        }
    }
}
