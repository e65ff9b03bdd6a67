package dev.troupe.embed;

import com.fasterxml.jackson.databind.JsonNode;
import dev.troupe.actors.replica.StepLoop;
import dev.troupe.actors.tenant.Quotas;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The host's cluster of two actor systems with Troupe embedded in both: the replica runs on the worker
 * member, requests come from the gateway member (its replica is remote), through the same admission and
 * ledger as HTTP requests.
 */
class EmbeddedClusterIT {
    static ActorSystem<Void> workerSystem;
    static ActorSystem<Void> gatewaySystem;
    static Troupe worker;
    static Troupe gateway;
    static List<JsonNode> refs;

    @BeforeAll
    static void start() throws Exception {
        Path model = EmbeddedHosts.shared("stories260K-f32.gguf");
        Assumptions.assumeTrue(model != null, "../shared/models/stories260K-f32.gguf not found beside the repository");
        refs = EmbeddedHosts.references();
        // One journal for the cluster: the two systems share this JVM's H2 database.
        Path data = Files.createTempDirectory("troupe-embed");
        workerSystem = EmbeddedHosts.host(EmbeddedHosts.hostConfig(data, "\"backend\", \"worker\"", ""), null);
        gatewaySystem = EmbeddedHosts.host(EmbeddedHosts.hostConfig(data, "\"frontend\", \"gateway\"", ""), workerSystem);
        // Every member starts Troupe (the entities' shard coordinators need a majority of members with them), together.
        var gatewayStart = java.util.concurrent.CompletableFuture.supplyAsync(() -> Troupe.start(gatewaySystem));
        worker = Troupe.start(workerSystem, model, "stories");
        gateway = gatewayStart.get(120, TimeUnit.SECONDS);
        awaitRoutable("stories");
        // A second model through the typed admin API, registered on the worker (its file is there) and deployed
        // from the gateway: random weights, 25x the parameters, so a sequence runs long enough to be cancelled
        // mid-way whatever the machine's load.
        Path random = EmbeddedHosts.shared("random15M-q8_0.gguf");
        Assumptions.assumeTrue(random != null, "../shared/models/random15M-q8_0.gguf not found beside the repository");
        worker.models().register("host-test", "random", "v1", random).toCompletableFuture().get(60, TimeUnit.SECONDS);
        gateway.models().deploy("host-test", "random", "v1", 1).toCompletableFuture().get(60, TimeUnit.SECONDS);
        var promoted = gateway.models().promote("host-test", "random", "v1").toCompletableFuture().get(60, TimeUnit.SECONDS);
        assertEquals("v1", promoted.live());
        awaitRoutable("random");
        // Roles come from the host's pekko.cluster.roles.
        assertTrue(gateway.node().isGateway());
        assertFalse(worker.node().isGateway());
    }

    /** Until the gateway routes the model's live version (its traffic table follows a moment after the replica is ready). */
    static void awaitRoutable(String model) throws Exception {
        var routes = gateway.node().models().follow(model).deployments();
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while ((!routes.hasLive() || routes.router().any() == null) && System.nanoTime() < until) Thread.sleep(20);
        assertNotNull(routes.router().any(), model + " is routable from the gateway");
    }

    @AfterAll
    static void stop() throws Exception {
        for (ActorSystem<Void> s : new ActorSystem[]{gatewaySystem, workerSystem}) {
            if (s == null) continue;
            s.terminate();
            s.getWhenTerminated().toCompletableFuture().get(60, TimeUnit.SECONDS);
        }
    }

    @Test
    void completesAndStreamsTheReferenceTextsOnAnotherMembersReplica() throws Exception {
        JsonNode ref = refs.get(1);
        GenerateRequest r = GenerateRequest.of(null, "stories", ref.get("prompt").asText()).withMaxTokens(ref.get("max_tokens").asInt())
                .withTemperature(0);
        Completion c = gateway.complete(r).toCompletableFuture().get(60, TimeUnit.SECONDS);
        assertEquals(ref.get("completion").asText(), c.text());
        assertEquals("length", c.reason());
        assertEquals(ref.get("max_tokens").asInt(), c.completionTokens());

        JsonNode ref2 = refs.get(2);
        List<TokenEvent> events = gateway.stream(GenerateRequest.of(null, "stories", ref2.get("prompt").asText())
                        .withMaxTokens(ref2.get("max_tokens").asInt()).withTemperature(0))
                .runWith(Sink.seq(), gatewaySystem).toCompletableFuture().get(60, TimeUnit.SECONDS);
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < events.size() - 1; i++) text.append(((TokenEvent.Tokens) events.get(i)).text());
        assertEquals(ref2.get("completion").asText(), text.toString());
        assertInstanceOf(TokenEvent.Finished.class, events.get(events.size() - 1));
        assertEquals(0, EmbeddedHosts.loop(worker, "stories").stats().kvBlocksUsed());
    }

    @Test
    void theHostsActorsGenerateThroughTheTypedProtocol() throws Exception {
        // A host actor of the test's own: it collects what it is told until the terminal event, and one more moment.
        java.util.concurrent.CompletableFuture<List<TokenEvent>> received = new java.util.concurrent.CompletableFuture<>();
        List<TokenEvent> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        var collector = gatewaySystem.systemActorOf(Behaviors.<TokenEvent>receiveMessage(e -> {
            seen.add(e);
            if (e.terminal()) received.complete(seen);
            return Behaviors.same();
        }), "collector", Props.empty());
        JsonNode ref = refs.get(0);
        gateway.generator().tell(new Generator.Generate(GenerateRequest.of(null, "stories", ref.get("prompt").asText())
                .withMaxTokens(ref.get("max_tokens").asInt()).withTemperature(0).withRequestId("actor-1"), collector));
        List<TokenEvent> events = received.get(60, TimeUnit.SECONDS);
        StringBuilder text = new StringBuilder();
        for (TokenEvent e : events) {
            assertEquals("actor-1", e.requestId());
            if (e instanceof TokenEvent.Tokens t) text.append(t.text());
        }
        assertInstanceOf(TokenEvent.Finished.class, events.get(events.size() - 1));
        assertEquals(ref.get("completion").asText(), text.toString());
        Thread.sleep(200);
        assertEquals(events.size(), seen.size(), "nothing after the terminal event");
    }

    @Test
    void aHostActorsCancelStopsItsGeneration() throws Exception {
        StepLoop loop = EmbeddedHosts.loop(worker, "random");
        GenerateRequest long_ = GenerateRequest.of(null, "random", "Lily and Tom").withMaxTokens(120).withTemperature(0);
        int whole = gateway.complete(long_).toCompletableFuture().get(60, TimeUnit.SECONDS).completionTokens();
        long before = loop.stats().generatedTokens();
        // The host's actor cancels at its first token; nothing but tokens may reach it, and no terminal event.
        List<TokenEvent> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        var canceller = gatewaySystem.systemActorOf(Behaviors.<TokenEvent>receiveMessage(e -> {
            if (seen.isEmpty()) gateway.generator().tell(new Generator.Cancel(e.requestId()));
            seen.add(e);
            return Behaviors.same();
        }), "canceller", Props.empty());
        gateway.generator().tell(new Generator.Generate(long_.withRequestId("actor-cancel"), canceller));
        awaitIdle(loop);
        assertFalse(seen.isEmpty());
        assertTrue(seen.stream().noneMatch(TokenEvent::terminal), "a cancelled generation sends no terminal event: " + seen);
        long generated = loop.stats().generatedTokens() - before;
        assertTrue(generated < whole, "the sequence stopped early: " + generated + " of " + whole + " tokens");
        assertEquals(0, loop.stats().kvBlocksUsed());
    }

    @Test
    void aReplyToThatStopsCancelsItsGeneration() throws Exception {
        StepLoop loop = EmbeddedHosts.loop(worker, "random");
        GenerateRequest long_ = GenerateRequest.of(null, "random", "Tom and Lily").withMaxTokens(120).withTemperature(0);
        int whole = gateway.complete(long_).toCompletableFuture().get(60, TimeUnit.SECONDS).completionTokens();
        long before = loop.stats().generatedTokens();
        // An actor that wants one event and stops: the generator watches it and cancels the rest.
        var once = gatewaySystem.systemActorOf(Behaviors.<TokenEvent>receiveMessage(e -> Behaviors.stopped()), "once", Props.empty());
        gateway.generator().tell(new Generator.Generate(long_, once));
        Thread.sleep(100);
        awaitIdle(loop);
        long generated = loop.stats().generatedTokens() - before;
        assertTrue(generated < whole, "the sequence stopped early: " + generated + " of " + whole + " tokens");
        assertEquals(0, loop.stats().kvBlocksUsed());
    }

    /** Waits until the loop is idle (nothing running or waiting, no KV block used) three reads in a row. */
    static void awaitIdle(StepLoop loop) throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        int idle = 0;
        while (idle < 3 && System.nanoTime() < until) {
            StepLoop.Stats st = loop.stats();
            idle = st.kvBlocksUsed() == 0 && st.running() == 0 && st.waiting() == 0 ? idle + 1 : 0;
            Thread.sleep(50);
        }
    }

    @Test
    void cancellingTheStreamCancelsTheSequenceAndFreesItsKvBlocks() throws Exception {
        StepLoop loop = EmbeddedHosts.loop(worker, "random");
        GenerateRequest long_ = GenerateRequest.of(null, "random", "Once upon a time").withMaxTokens(120).withTemperature(0);
        int whole = gateway.complete(long_).toCompletableFuture().get(60, TimeUnit.SECONDS).completionTokens();
        assertTrue(whole > 50, "the uncancelled completion runs long: " + whole);
        long before = loop.stats().generatedTokens();
        // The first token event is all this consumer wants: take(1) cancels the rest.
        List<TokenEvent> got = gateway.stream(long_).take(1).runWith(Sink.seq(), gatewaySystem).toCompletableFuture().get(60, TimeUnit.SECONDS);
        assertInstanceOf(TokenEvent.Tokens.class, got.get(0));
        // The loop publishes its stats after each step.
        awaitIdle(loop);
        assertEquals(0, loop.stats().kvBlocksUsed(), "the cancelled sequence's KV blocks are free");
        assertEquals(0, loop.stats().running());
        long generated = loop.stats().generatedTokens() - before;
        assertTrue(generated < whole, "the sequence stopped early: " + generated + " of " + whole + " tokens");
    }

    @Test
    void theRegistryRollsBackThroughTheTypedApi() throws Exception {
        Path random = EmbeddedHosts.shared("random15M-q8_0.gguf");
        Models models = gateway.models();
        worker.models().register("host-test", "random", "v2", random).toCompletableFuture().get(60, TimeUnit.SECONDS);
        models.deploy("host-test", "random", "v2", 1).toCompletableFuture().get(60, TimeUnit.SECONDS);
        gateway.node().models().get("random").deployments().whenRoutable("v2").get(60, TimeUnit.SECONDS);
        assertEquals("v2", models.promote("host-test", "random", "v2").toCompletableFuture().get(30, TimeUnit.SECONDS).live());
        assertEquals("v1", models.rollback("host-test", "random", null, "test").toCompletableFuture().get(30, TimeUnit.SECONDS).live());
        // A refusal carries the admin API's status: an unknown version is a 404.
        var e = assertThrows(java.util.concurrent.ExecutionException.class,
                () -> models.promote("host-test", "random", "v9").toCompletableFuture().get(30, TimeUnit.SECONDS));
        assertEquals(404, ((TroupeException) e.getCause()).status());
    }

    @Test
    void httpIsThereOnlyWhenTheHostAsksForIt() throws Exception {
        // Troupe binds no HTTP server of its own until the host asks, as here.
        int port = gateway.bindHttp("127.0.0.1", 0);
        JsonNode ref = refs.get(1);
        String body = "{\"model\":\"stories\",\"prompt\":" + new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(
                ref.get("prompt").asText()) + ",\"max_tokens\":" + ref.get("max_tokens").asInt() + ",\"temperature\":0}";
        var http = java.net.http.HttpClient.newHttpClient();
        var response = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                .header("Content-Type", "application/json").POST(java.net.http.HttpRequest.BodyPublishers.ofString(body)).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), response.body());
        assertEquals(ref.get("completion").asText(),
                new com.fasterxml.jackson.databind.ObjectMapper().readTree(response.body()).get("choices").get(0).get("text").asText());
    }

    @Test
    void aSlowConsumerGetsMergedTokensNotAnUnboundedBuffer() throws Exception {
        JsonNode ref = refs.get(1);
        List<TokenEvent> events = gateway.stream(GenerateRequest.of(null, "stories", ref.get("prompt").asText())
                        .withMaxTokens(ref.get("max_tokens").asInt()).withTemperature(0))
                .throttle(1, Duration.ofMillis(100))
                .runWith(Sink.seq(), gatewaySystem).toCompletableFuture().get(60, TimeUnit.SECONDS);
        StringBuilder text = new StringBuilder();
        int tokens = 0;
        for (TokenEvent e : events) if (e instanceof TokenEvent.Tokens t) { text.append(t.text()); tokens += t.tokenIds().length; }
        assertEquals(ref.get("completion").asText(), text.toString());
        assertEquals(ref.get("max_tokens").asInt(), tokens);
        // 80 tokens arrive in far fewer events: what the replica generated meanwhile waited as one event.
        assertTrue(events.size() < 20, "events: " + events.size());
    }

    @Test
    void tenantsQuotasAndTheLedgerApplyAsOverHttp() throws Exception {
        gateway.tenants().create("host-test", "acme", 1, new Quotas(1, 0, 0), List.of("stories")).toCompletableFuture()
                .get(30, TimeUnit.SECONDS);
        GenerateRequest r = GenerateRequest.of("acme", "stories", "Once upon a time").withMaxTokens(8).withTemperature(0)
                .withRequestId("acme-1");
        Completion c = gateway.complete(r).toCompletableFuture().get(60, TimeUnit.SECONDS);
        assertEquals(8, c.completionTokens());
        // Over the quota (1 request per minute): refused with 429 before it reaches a replica, as over HTTP.
        var e429 = assertThrows(java.util.concurrent.ExecutionException.class,
                () -> gateway.complete(r.withRequestId("acme-2")).toCompletableFuture().get(30, TimeUnit.SECONDS));
        assertEquals(429, ((TroupeException) e429.getCause()).status());
        TokenEvent.Failed limited = (TokenEvent.Failed) gateway.stream(r.withRequestId("acme-3")).runWith(Sink.head(), gatewaySystem)
                .toCompletableFuture().get(30, TimeUnit.SECONDS);
        assertEquals(429, limited.status());
        var usage = gateway.tenants().usage("acme").toCompletableFuture().get(30, TimeUnit.SECONDS);
        long requests = usage.byDay().values().stream().flatMap(m -> m.values().stream()).mapToLong(t -> t.requests()).sum();
        assertEquals(1, requests, "the ledger recorded the one request that ran");
        // Unknown tenants and models are refused with the HTTP API's statuses.
        TokenEvent.Failed unknown = (TokenEvent.Failed) gateway.stream(GenerateRequest.of("nobody", "stories", "x"))
                .runWith(Sink.head(), gatewaySystem).toCompletableFuture().get(30, TimeUnit.SECONDS);
        assertEquals(403, unknown.status());
        var e = assertThrows(java.util.concurrent.ExecutionException.class,
                () -> gateway.complete(GenerateRequest.of("acme", "no-such-model", "x")).toCompletableFuture().get(30, TimeUnit.SECONDS));
        assertEquals(404, ((TroupeException) e.getCause()).status());
    }
}
