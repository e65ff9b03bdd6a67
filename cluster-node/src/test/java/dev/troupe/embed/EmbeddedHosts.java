package dev.troupe.embed;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.troupe.actors.replica.StepLoop;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Host applications' actor systems for the embedding tests: the host's own config, Troupe's settings under troupe. */
final class EmbeddedHosts {
    private EmbeddedHosts() {}

    static Path shared(String name) {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path c = p.resolveSibling("shared").resolve("models").resolve(name);
            if (Files.isRegularFile(c)) return c;
        }
        return null;
    }

    /** The reference greedy completions of stories260K: prompt, max_tokens, completion. */
    static List<JsonNode> references() throws Exception {
        List<JsonNode> refs = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (String l : Files.readAllLines(shared("stories260K-greedy.jsonl"))) if (!l.isBlank()) refs.add(json.readTree(l));
        return refs;
    }

    /** A host's config: a cluster system of its own on loopback, with these Troupe roles and settings. */
    static Config hostConfig(Path dataDir, String roles, String extra) {
        return ConfigFactory.parseString("""
                pekko.loglevel = WARNING
                pekko.loggers = ["org.apache.pekko.event.slf4j.Slf4jLogger"]
                pekko.actor.provider = cluster
                pekko.remote.artery.transport = tcp
                pekko.remote.artery.canonical.hostname = 127.0.0.1
                pekko.remote.artery.canonical.port = 0
                pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
                pekko.cluster.downing-provider-class = "org.apache.pekko.cluster.sbr.SplitBrainResolverProvider"
                pekko.coordinated-shutdown.exit-jvm = off
                pekko.log-dead-letters-during-shutdown = off
                troupe.engine.threads = 1
                troupe.engine.warm-up = 300ms
                """ + "troupe.data-dir = \"" + dataDir.toString().replace('\\', '/') + "\"\n"
                + (roles == null ? "" : "pekko.cluster.roles = [" + roles + "]\n") + extra)
                .withFallback(ConfigFactory.load());
    }

    /** A host system (every member of one cluster shares the name) that joins the member at {@code seed}, or itself. */
    static ActorSystem<Void> host(Config config, ActorSystem<?> seed) {
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "host", Troupe.config(config));
        Cluster self = Cluster.get(system);
        self.manager().tell(Join.create(seed == null ? self.selfMember().address() : Cluster.get(seed).selfMember().address()));
        return system;
    }

    /** The step loop of the model's live version on this member. */
    static StepLoop loop(Troupe troupe, String model) {
        return troupe.node().models().get(model).deployments().loaded().get(0).loop();
    }
}
