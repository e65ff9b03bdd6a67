package dev.troupe.sharding;

import dev.troupe.actors.tenant.Tenant;
import dev.troupe.actors.tenant.UsageLedger;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;

/**
 * Tenants and their usage ledgers as Cluster Sharding entities (one {@code tenant} and one {@code usage}
 * entity per tenant id), so each persistence id has exactly one writer in the cluster wherever the request
 * lands.
 */
public final class TenantSharding {
    public static final EntityTypeKey<Tenant.Command> TENANT = EntityTypeKey.create(Tenant.Command.class, "tenant");
    public static final EntityTypeKey<UsageLedger.Command> USAGE = EntityTypeKey.create(UsageLedger.Command.class, "usage");

    private final ClusterSharding sharding;

    /**
     * @param topic         this node's tenants topic: entities started here publish their changes on it
     * @param snapshotEvery snapshot the entities after every N events
     * @param dedupeDays    how many days a usage ledger remembers request keys
     */
    public TenantSharding(ActorSystem<?> system, ActorRef<Topic.Command<Tenant.Changed>> topic, int snapshotEvery, int dedupeDays) {
        this.sharding = ClusterSharding.get(system);
        sharding.init(Entity.of(TENANT, ctx -> Tenant.create(ctx.getEntityId(), topic, snapshotEvery)));
        sharding.init(Entity.of(USAGE, ctx -> UsageLedger.create(ctx.getEntityId(), snapshotEvery, dedupeDays, java.time.Clock.systemUTC())));
    }

    public EntityRef<Tenant.Command> tenant(String id) {
        return sharding.entityRefFor(TENANT, id);
    }

    public EntityRef<UsageLedger.Command> usage(String id) {
        return sharding.entityRefFor(USAGE, id);
    }
}
