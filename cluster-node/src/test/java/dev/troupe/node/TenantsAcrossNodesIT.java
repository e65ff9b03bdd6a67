package dev.troupe.node;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.troupe.actors.registry.JournalConfig;
import dev.troupe.actors.tenant.ApiKeys;
import dev.troupe.actors.tenant.Quotas;
import dev.troupe.actors.tenant.Tenant;
import dev.troupe.actors.tenant.TenantDirectory;
import dev.troupe.sharding.TenantSharding;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.persistence.jdbc.testkit.javadsl.SchemaUtils;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Two nodes in one real cluster (two actor systems over Artery TCP on loopback, one journal): a key issued
 * or revoked through either node is known to both nodes' tenant directories within a second, whichever
 * node sharding placed the tenant entity on (the commands that cross nodes travel
 * in the Kryo wire format, see docs/wire.md).
 */
class TenantsAcrossNodesIT {
    @TempDir Path dir;
    private final List<ActorSystem<Void>> systems = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (ActorSystem<Void> s : systems) s.terminate();
        for (ActorSystem<Void> s : systems) s.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    private ActorSystem<Void> node(Config journal) {
        Config c = ConfigFactory.parseString("troupe.auth.refresh-interval = 0s") // only the topic may carry changes
                .withFallback(journal).withFallback(ServeCommand.nodeDefaults()).resolve();
        ActorSystem<Void> s = ActorSystem.create(Behaviors.empty(), "troupe", c);
        systems.add(s);
        return s;
    }

    private static void awaitUp(ActorSystem<?> s, int members) throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        Cluster cluster = Cluster.get(s);
        while (java.util.stream.StreamSupport.stream(cluster.state().getMembers().spliterator(), false)
                .filter(m -> m.status() == MemberStatus.up()).count() < members) {
            assertTrue(System.nanoTime() < until, "the cluster did not form: " + cluster.state().getMembers());
            Thread.sleep(20);
        }
    }

    /** Milliseconds until every directory satisfies the condition; fails after 10 s. */
    private static long await(List<TenantDirectory> dirs, Predicate<TenantDirectory> ok, String what) throws InterruptedException {
        long t0 = System.nanoTime(), until = t0 + TimeUnit.SECONDS.toNanos(10);
        while (!dirs.stream().allMatch(ok)) {
            assertTrue(System.nanoTime() < until, what + " did not reach every node in 10 s");
            Thread.sleep(2);
        }
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    }

    private static Tenant.State accepted(ActorSystem<?> via, String tenant, Function<org.apache.pekko.actor.typed.ActorRef<Tenant.Reply>, Tenant.Command> cmd)
            throws Exception {
        Tenant.Reply r = ClusterSharding.get(via).entityRefFor(TenantSharding.TENANT, tenant).ask(cmd::apply, Duration.ofSeconds(10))
                .toCompletableFuture().get(15, TimeUnit.SECONDS);
        return assertInstanceOf(Tenant.Reply.Accepted.class, r, () -> "expected Accepted, got " + r).state();
    }

    @Test
    void keysIssuedAndRevokedThroughEitherNodeReachBothWithinASecond() throws Exception {
        Config journal = JournalConfig.h2(dir.resolve("journal"));
        ActorSystem<Void> a = node(journal), b = node(journal);
        Cluster.get(a).manager().tell(Join.create(Cluster.get(a).selfMember().address()));
        Cluster.get(b).manager().tell(Join.create(Cluster.get(a).selfMember().address()));
        awaitUp(a, 2);
        awaitUp(b, 2);
        SchemaUtils.createIfNotExists(a).toCompletableFuture().get(60, TimeUnit.SECONDS);
        Config settings = a.settings().config();
        List<TenantDirectory> dirs = List.of(TenantSetup.start(a, settings, "127.0.0.1").directory(),
                TenantSetup.start(b, settings, "127.0.0.1").directory());

        // Several tenants, so that sharding puts some entities on each node: every command below is sent
        // through one node and some of them run on the other.
        List<String> tenants = List.of("acme", "globex", "initech", "umbrella", "hooli", "stark");
        List<ApiKeys.Issued> keys = new ArrayList<>();
        long slowest = 0;
        for (int i = 0; i < tenants.size(); i++) {
            String t = tenants.get(i);
            ActorSystem<Void> via = i % 2 == 0 ? a : b, other = i % 2 == 0 ? b : a;
            accepted(via, t, to -> new Tenant.Create("test", 1, Quotas.UNLIMITED, List.of(), to));
            ApiKeys.Issued k = ApiKeys.issue();
            keys.add(k);
            accepted(other, t, to -> new Tenant.IssueKey("test", k.keyId(), k.salt(), k.hash(), to));
            slowest = Math.max(slowest, await(dirs, d -> d.authenticate(k.key()).ok(), t + "'s new key"));
        }
        // Revocations, each sent through the node that did not issue the key.
        long slowestRevocation = 0;
        for (int i = 0; i < tenants.size(); i++) {
            ApiKeys.Issued k = keys.get(i);
            accepted(i % 2 == 0 ? a : b, tenants.get(i), to -> new Tenant.RevokeKey("test", k.keyId(), to));
            long ms = await(dirs, d -> d.authenticate(k.key()).denial() == TenantDirectory.Denial.REVOKED, tenants.get(i) + "'s revocation");
            slowestRevocation = Math.max(slowestRevocation, ms);
        }
        System.out.printf("two nodes: a new key reached both directories within %d ms, a revocation within %d ms (slowest of %d)%n",
                slowest, slowestRevocation, tenants.size());
        assertTrue(slowestRevocation < 1000, "a revocation took " + slowestRevocation + " ms to reach every node");
        // The entities really are spread over both nodes, so commands and replies crossed the wire both ways.
        int onA = hostedTenants(a), onB = hostedTenants(b);
        System.out.printf("tenant entities hosted: %d on one node, %d on the other%n", onA, onB);
        assertEquals(tenants.size(), onA + onB);
        assertTrue(onA > 0 && onB > 0, "all tenant entities on one node: " + onA + " / " + onB);
    }

    private static int hostedTenants(ActorSystem<?> s) throws Exception {
        org.apache.pekko.cluster.sharding.ShardRegion.CurrentShardRegionState state = org.apache.pekko.actor.typed.javadsl.AskPattern
                .<org.apache.pekko.cluster.sharding.typed.ClusterShardingQuery, org.apache.pekko.cluster.sharding.ShardRegion.CurrentShardRegionState>ask(
                        ClusterSharding.get(s).shardState(),
                        to -> new org.apache.pekko.cluster.sharding.typed.GetShardRegionState(TenantSharding.TENANT, to),
                        Duration.ofSeconds(10), s.scheduler())
                .toCompletableFuture().get(15, TimeUnit.SECONDS);
        int n = 0;
        for (org.apache.pekko.cluster.sharding.ShardRegion.ShardState shard : state.getShards()) n += shard.getEntityIds().size();
        return n;
    }
}
