package dev.troupe.sharding;

import static org.junit.jupiter.api.Assertions.*;

import dev.troupe.actors.registry.JournalConfig;
import dev.troupe.actors.registry.ModelRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.cluster.sharding.ShardRegion;
import org.apache.pekko.cluster.sharding.typed.ClusterShardingQuery;
import org.apache.pekko.cluster.sharding.typed.GetShardRegionState;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.persistence.jdbc.testkit.javadsl.SchemaUtils;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two nodes in one real cluster (Artery TCP on loopback, one journal): a registry command sent through either
 * node reaches the model's single registry entity, wherever sharding placed it, and both nodes read the same
 * state. Before, each node ran its own registry actor, two writers of one persistence id.
 */
class ModelRegistryAcrossNodesTest {
    private static final String SHA = "0".repeat(64);

    @TempDir Path dir;
    private TestCluster cluster;

    @AfterEach
    void stop() {
        if (cluster != null) cluster.close();
    }

    private List<ModelRegistrySharding> start() throws Exception {
        cluster = TestCluster.start(2, "troupe", JournalConfig.h2(dir.resolve("journal")));
        SchemaUtils.createIfNotExists(cluster.node(0)).toCompletableFuture().get(60, TimeUnit.SECONDS);
        // Snapshots every 2 events: they go through Jackson while the commands cross nodes in Kryo.
        return List.of(new ModelRegistrySharding(cluster.node(0), 2), new ModelRegistrySharding(cluster.node(1), 2));
    }

    private static CompletableFuture<ModelRegistry.Reply> ask(ModelRegistrySharding via, String model,
            Function<ActorRef<ModelRegistry.Reply>, ModelRegistry.Command> command) {
        return via.registry(model).<ModelRegistry.Reply>ask(command::apply, Duration.ofSeconds(15)).toCompletableFuture();
    }

    private static ModelRegistry.State accepted(ModelRegistrySharding via, String model,
            Function<ActorRef<ModelRegistry.Reply>, ModelRegistry.Command> command) throws Exception {
        ModelRegistry.Reply r = ask(via, model, command).get(20, TimeUnit.SECONDS);
        return assertInstanceOf(ModelRegistry.Reply.Accepted.class, r, () -> "expected Accepted, got " + r).state();
    }

    private static ModelRegistry.State current(ModelRegistrySharding via, String model) throws Exception {
        return ((ModelRegistry.Reply.Current) ask(via, model, ModelRegistry.GetState::new).get(20, TimeUnit.SECONDS)).state();
    }

    private static ModelRegistry.RegisterVersion register(String version, ActorRef<ModelRegistry.Reply> to) {
        return new ModelRegistry.RegisterVersion("test", version, "/models/" + version + ".gguf", SHA, "llama", Map.of("dim", "64"), to);
    }

    @Test
    void commandsThroughEitherNodeReachTheOneEntityAndBothSeeTheSameState() throws Exception {
        List<ModelRegistrySharding> nodes = start();
        // Several models, so that sharding puts registries on both nodes: half of the commands below run on
        // the node they were not sent through.
        List<String> models = List.of("alpha", "beta", "gamma", "delta", "epsilon", "zeta");
        for (int i = 0; i < models.size(); i++) {
            String m = models.get(i);
            ModelRegistrySharding one = nodes.get(i % 2), other = nodes.get((i + 1) % 2);
            accepted(one, m, to -> register("v1", to));
            accepted(other, m, to -> register("v2", to));
            accepted(one, m, to -> new ModelRegistry.Deploy("test", "v1", 1, 1, to));
            ModelRegistry.State promoted = accepted(other, m, to -> new ModelRegistry.Promote("test", "v1", to));

            ModelRegistry.State viaOne = current(one, m), viaOther = current(other, m);
            assertEquals(promoted, viaOne);
            assertEquals(viaOne, viaOther);
            assertEquals("v1", viaOne.live());
            assertEquals(List.of(1L, 2L, 3L, 4L), viaOne.history().stream().map(ModelRegistry.HistoryEntry::seq).toList());
        }

        List<String> onA = hosted(cluster.node(0)), onB = hosted(cluster.node(1));
        System.out.printf("model registries hosted: %s on one node, %s on the other%n", onA, onB);
        List<String> all = new ArrayList<>(onA);
        all.addAll(onB);
        assertEquals(models.stream().sorted().toList(), all.stream().sorted().toList(), "every registry runs exactly once");
        assertFalse(onA.isEmpty() || onB.isEmpty(), "all registries on one node: commands never crossed");
    }

    @Test
    void concurrentCommandsThroughBothNodesAreAllPersistedByTheOneWriter() throws Exception {
        List<ModelRegistrySharding> nodes = start();
        int n = 20;
        List<CompletableFuture<ModelRegistry.Reply>> replies = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String version = "v" + i;
            replies.add(ask(nodes.get(i % 2), "shared", to -> register(version, to)));
        }
        for (CompletableFuture<ModelRegistry.Reply> r : replies) {
            assertInstanceOf(ModelRegistry.Reply.Accepted.class, r.get(20, TimeUnit.SECONDS));
        }
        // Two writers of one persistence id would clash on sequence numbers; one writer numbers them 1..n.
        ModelRegistry.State a = current(nodes.get(0), "shared"), b = current(nodes.get(1), "shared");
        assertEquals(a, b);
        assertEquals(n, a.versions().size());
        assertEquals(java.util.stream.LongStream.rangeClosed(1, n).boxed().toList(),
                a.history().stream().map(ModelRegistry.HistoryEntry::seq).toList());
    }

    private static List<String> hosted(ActorSystem<?> s) throws Exception {
        ShardRegion.CurrentShardRegionState state = AskPattern.<ClusterShardingQuery, ShardRegion.CurrentShardRegionState>ask(
                        ClusterSharding.get(s).shardState(),
                        to -> new GetShardRegionState(ModelRegistrySharding.TYPE_KEY, to),
                        Duration.ofSeconds(10), s.scheduler())
                .toCompletableFuture().get(15, TimeUnit.SECONDS);
        List<String> ids = new ArrayList<>();
        for (ShardRegion.ShardState shard : state.getShards()) ids.addAll(shard.getEntityIds());
        return ids;
    }
}
