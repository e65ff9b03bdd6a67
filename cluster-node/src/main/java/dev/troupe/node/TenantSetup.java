package dev.troupe.node;

import com.typesafe.config.Config;
import dev.troupe.actors.tenant.QuotaCounter;
import dev.troupe.sharding.ClusterQuotaCounter;
import dev.troupe.sharding.PinnedToNode;
import dev.troupe.node.cluster.ClusterSettings;
import dev.troupe.actors.tenant.Tenant;
import dev.troupe.actors.tenant.TenantDirectory;
import dev.troupe.actors.tenant.TenantFeed;
import dev.troupe.actors.tenant.TenantLoader;
import dev.troupe.node.http.AdminAuth;
import dev.troupe.node.http.TenantAdminApi;
import dev.troupe.node.http.TenantGate;
import dev.troupe.sharding.TenantSharding;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A node's tenant machinery: the sharded Tenant and UsageLedger entities, the pub-sub topic their changes
 * travel on, this node's {@link TenantDirectory} (loaded from the journal at start-up, kept current by the
 * topic and re-read every {@code troupe.auth.refresh-interval} in case a message was lost), the
 * {@link TenantGate} for {@code /v1} and the {@link TenantAdminApi}. Applies the secure default: no tenant
 * and a non-loopback address refuses to start unless {@code troupe.auth.allow-anonymous} is on.
 */
public final class TenantSetup {
    private static final Logger log = LoggerFactory.getLogger(TenantSetup.class);

    private final TenantDirectory directory;
    private final TenantGate gate;
    private final TenantAdminApi adminApi;
    private final TenantSharding sharding;

    private TenantSetup(TenantDirectory directory, TenantGate gate, TenantAdminApi adminApi, TenantSharding sharding) {
        this.directory = directory;
        this.gate = gate;
        this.adminApi = adminApi;
        this.sharding = sharding;
    }

    /** The sharded Tenant and UsageLedger entities (for the typed admin operations of the embedded API). */
    public TenantSharding sharding() {
        return sharding;
    }

    public TenantDirectory directory() {
        return directory;
    }

    public TenantGate gate() {
        return gate;
    }

    public TenantAdminApi adminApi() {
        return adminApi;
    }

    /** Needs the journal tables to exist. Throws IllegalStateException when the secure default forbids starting. */
    public static TenantSetup start(ActorSystem<?> system, Config config, String host) throws Exception {
        boolean allowAnonymous = config.getBoolean("troupe.auth.allow-anonymous");
        boolean loopback = isLoopback(host);
        TenantDirectory directory = new TenantDirectory();
        ActorRef<Topic.Command<Tenant.Changed>> topic = system.systemActorOf(
                Topic.create(Tenant.Changed.class, Tenant.TOPIC), "tenants-topic", Props.empty());
        system.systemActorOf(TenantFeed.create(topic, directory), "tenants-feed", Props.empty());
        TenantSharding sharding = new TenantSharding(system, topic, config.getInt("troupe.tenants.snapshot-every"),
                config.getInt("troupe.tenants.usage-dedupe-days"));
        int n = TenantLoader.loadAll(system, sharding::tenant, directory, Duration.ofSeconds(30))
                .toCompletableFuture().get(60, TimeUnit.SECONDS);

        if (n == 0 && !loopback && !allowAnonymous) {
            throw new IllegalStateException("refusing to start: no tenant exists, so /v1 on " + host + " would answer anyone without"
                    + " an API key. Create a tenant and a key first while listening on 127.0.0.1 (POST /admin/tenants, then"
                    + " POST /admin/tenants/{id}/keys; see docs/tenants.md), or set troupe.auth.allow-anonymous = on"
                    + " (TROUPE_ALLOW_ANONYMOUS=on) to serve without keys on purpose.");
        }
        if (n == 0 && loopback) {
            log.info("no tenants yet: /v1 answers without API keys because the node listens only on loopback ({});"
                    + " the first tenant created (POST /admin/tenants) makes keys required", host);
        } else if (n == 0) {
            log.warn("no tenants and troupe.auth.allow-anonymous = on: /v1 on {} answers anyone without an API key", host);
        } else {
            log.info("{} tenant(s): /v1 needs an API key{}", n, allowAnonymous ? " (or none: troupe.auth.allow-anonymous = on)" : "");
        }

        // Quotas count cluster-wide, at each tenant's one quota entity.
        org.apache.pekko.cluster.typed.Cluster cluster = org.apache.pekko.cluster.typed.Cluster.get(system);
        QuotaCounter quotas = new ClusterQuotaCounter(sharding::quota, PinnedToNode.shardOf(cluster.selfMember().address()),
                config.getDuration("troupe.tenants.quota-timeout"), () -> (int) java.util.stream.StreamSupport.stream(
                        cluster.state().getMembers().spliterator(), false).filter(m -> m.hasRole(ClusterSettings.GATEWAY)).count());
        TenantGate gate = new TenantGate(directory, quotas, sharding::usage,
                loopback || allowAnonymous, allowAnonymous, Clock.systemUTC());
        TenantAdminApi adminApi = new TenantAdminApi(system, new AdminAuth(config.getString("troupe.admin.token")), gate,
                sharding::tenant, sharding::usage);

        Duration refresh = config.getDuration("troupe.auth.refresh-interval");
        if (!refresh.isZero()) {
            system.scheduler().scheduleWithFixedDelay(refresh, refresh, () ->
                    TenantLoader.loadAll(system, sharding::tenant, directory, Duration.ofSeconds(30)).whenComplete((x, t) -> {
                        if (t != null) log.warn("re-reading the tenants failed: {}", t.toString());
                    }), system.executionContext());
        }
        return new TenantSetup(directory, gate, adminApi, sharding);
    }

    static boolean isLoopback(String host) {
        try {
            for (InetAddress a : InetAddress.getAllByName(host)) {
                if (!a.isLoopbackAddress()) return false;
            }
            return true;
        } catch (UnknownHostException e) {
            return false;
        }
    }
}
