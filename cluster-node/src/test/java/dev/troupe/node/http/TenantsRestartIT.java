package dev.troupe.node.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.ConfigFactory;
import dev.troupe.node.ServeCommand;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static dev.troupe.node.http.TenantsIT.ADMIN;
import static dev.troupe.node.http.TenantsIT.call;
import static dev.troupe.node.http.TenantsIT.completion;
import static dev.troupe.node.http.TenantsIT.error;
import static dev.troupe.node.http.TenantsIT.json;
import static org.junit.jupiter.api.Assertions.*;

/** Tenants survive a restart of the node; the secure default refuses an open node on a public address. */
class TenantsRestartIT {
    @Test
    void tenantsKeysAndUsageSurviveARestart() throws Exception {
        Path model = ServeIT.shared("stories260K-f32.gguf");
        Assumptions.assumeTrue(model != null, "../shared/models/stories260K-f32.gguf not found");
        Path data = Files.createTempDirectory("troupe-tenants-restart");
        String live;
        String revoked;
        JsonNode before;
        JsonNode usage;
        ServeCommand.Node first = ServeCommand.start(model, "stories", TenantsIT.config(data));
        try {
            assertEquals(200, call(first, "GET", "/v1/models", null, null).statusCode(), "no tenant yet, loopback: open");
            TenantsIT.createTenant(first, "{\"id\":\"durable\",\"weight\":5,\"quotas\":{\"requests_per_minute\":1000},\"models\":[\"stories\"]}");
            error(call(first, "GET", "/v1/models", null, null), 401, null, "missing_api_key");
            live = TenantsIT.issueKey(first, "durable")[1];
            String[] old = TenantsIT.issueKey(first, "durable");
            revoked = old[1];
            json(call(first, "DELETE", "/admin/tenants/durable/keys/" + old[0], ADMIN, null), 200);
            json(call(first, "POST", "/v1/completions", live, completion(3), "Idempotency-Key", "once"), 200);
            usage = TenantsIT.awaitUsage(first, "durable", u -> u.get("total").get("requests").asInt() == 1);
            before = json(call(first, "GET", "/admin/tenants/durable", ADMIN, null), 200);
        } finally {
            first.stop();
        }

        ServeCommand.Node second = ServeCommand.start(model, "stories", TenantsIT.config(data));
        try {
            assertEquals(before, json(call(second, "GET", "/admin/tenants/durable", ADMIN, null), 200));
            assertEquals(usage, TenantsIT.usage(second, "durable", ADMIN));
            assertEquals(java.util.List.of("TenantCreated", "KeyIssued", "KeyIssued", "KeyRevoked"),
                    TenantsIT.types(json(call(second, "GET", "/admin/tenants/durable/history", ADMIN, null), 200).get("events")));
            error(call(second, "GET", "/v1/models", null, null), 401, null, "missing_api_key");
            error(call(second, "POST", "/v1/completions", revoked, completion(2)), 401, null, "invalid_api_key");
            json(call(second, "POST", "/v1/completions", live, completion(3), "Idempotency-Key", "once"), 200);
            json(call(second, "POST", "/v1/completions", live, completion(3), "Idempotency-Key", "twice"), 200);
            JsonNode after = TenantsIT.awaitUsage(second, "durable", u -> u.get("total").get("requests").asInt() >= 3);
            Thread.sleep(200);
            assertEquals(3, TenantsIT.usage(second, "durable", ADMIN).get("total").get("requests").asInt(),
                    "the usage before the restart kept, and each run after it billed: " + after);
        } finally {
            second.stop();
        }
    }

    @Test
    void noTenantsOnAPublicAddressRefusesToStart() throws Exception {
        Path model = ServeIT.shared("stories260K-f32.gguf");
        Assumptions.assumeTrue(model != null, "../shared/models/stories260K-f32.gguf not found");
        Path data = Files.createTempDirectory("troupe-tenants-open");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ServeCommand.start(model, "stories",
                ConfigFactory.parseString("troupe.http.host = \"0.0.0.0\"").withFallback(TenantsIT.config(data))));
        assertTrue(e.getMessage().startsWith("refusing to start: no tenant exists, so /v1 on 0.0.0.0 would answer anyone"), e.getMessage());
        assertTrue(e.getMessage().contains("troupe.auth.allow-anonymous = on"), e.getMessage());
    }
}
