package dev.troupe.node.http;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.troupe.actors.registry.ModelRegistry;
import dev.troupe.node.ServeCommand;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** `serve` records its model as v1 in the journal under the data directory, once. */
class RegistryServeIT {
    @Test
    void serveRegistersV1OnceAcrossRestarts() throws Exception {
        Path model = ServeIT.shared("stories260K-f32.gguf");
        Assumptions.assumeTrue(model != null, "../shared/models/stories260K-f32.gguf not found");
        Config c = ConfigFactory.parseString("troupe.http.port = 0\ntroupe.engine.threads = 1\ntroupe.engine.warm-up = 0s")
                .withFallback(ServeIT.tempDataDir()).withFallback(ServeCommand.nodeDefaults()).resolve();
        ServeCommand.Node first = ServeCommand.start(model, "stories", c);
        ModelRegistry.State before;
        try {
            before = first.registryState();
            assertEquals("v1", before.live());
            assertEquals(model.toAbsolutePath().toString(), before.versions().get("v1").path());
            assertEquals("047bf46455a544931cff6fef14d7910154c56afbc23ab1c5e56a72e69912c04b", before.versions().get("v1").sha256());
            assertEquals(3, before.history().size(), before.history().toString());
        } finally {
            first.stop();
        }
        ServeCommand.Node second = ServeCommand.start(model, "stories", c);
        try {
            assertEquals(before, second.registryState(), "restarting with the same file must add no events");
        } finally {
            second.stop();
        }
    }
}
