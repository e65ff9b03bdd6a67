package dev.troupe.node.tracing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/** An OTLP/HTTP collector for tests: takes JSON ExportTraceServiceRequests at /v1/traces and keeps their spans. */
public final class OtlpReceiver implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpServer server;
    private final List<JsonNode> spans = new CopyOnWriteArrayList<>();
    private final List<String> resources = new CopyOnWriteArrayList<>();

    public OtlpReceiver() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/v1/traces", ex -> {
            try (ex) {
                boolean json = "application/json".equals(ex.getRequestHeaders().getFirst("Content-Type"));
                JsonNode body = JSON.readTree(ex.getRequestBody());
                if (!json || !"POST".equals(ex.getRequestMethod())) {
                    ex.sendResponseHeaders(415, -1);
                    return;
                }
                for (JsonNode rs : body.get("resourceSpans")) {
                    resources.add(rs.get("resource").toString());
                    for (JsonNode ss : rs.get("scopeSpans")) for (JsonNode s : ss.get("spans")) spans.add(s);
                }
                byte[] ok = "{}".getBytes();
                ex.getResponseHeaders().add("Content-Type", "application/json");
                ex.sendResponseHeaders(200, ok.length);
                ex.getResponseBody().write(ok);
            }
        });
        server.start();
    }

    /** The base address to configure as troupe.tracing.otlp-endpoint. */
    public String endpoint() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    public List<String> resources() {
        return resources;
    }

    /** The first span received that matches, waiting up to 20 s for it. */
    public JsonNode await(Predicate<JsonNode> which) throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < until) {
            for (JsonNode s : spans) if (which.test(s)) return s;
            Thread.sleep(20);
        }
        throw new AssertionError("no such span among " + spans);
    }

    public List<JsonNode> spans() {
        return new ArrayList<>(spans);
    }

    /** A span's attributes as plain values: strings, longs (intValue), doubles, booleans, lists. */
    public static Map<String, Object> attributes(JsonNode span) {
        Map<String, Object> out = new TreeMap<>();
        for (JsonNode a : span.get("attributes")) out.put(a.get("key").asText(), value(a.get("value")));
        return out;
    }

    private static Object value(JsonNode v) {
        if (v.has("stringValue")) return v.get("stringValue").asText();
        if (v.has("intValue")) return Long.parseLong(v.get("intValue").asText());
        if (v.has("doubleValue")) return v.get("doubleValue").asDouble();
        if (v.has("boolValue")) return v.get("boolValue").asBoolean();
        List<Object> list = new ArrayList<>();
        for (JsonNode x : v.get("arrayValue").get("values")) list.add(value(x));
        return list;
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
