package dev.troupe.sharding;

import dev.troupe.actors.tenant.Tenant;
import dev.troupe.actors.tenant.TenantQuota;
import dev.troupe.actors.tenant.UsageLedger;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Subscribe;
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
    public static final EntityTypeKey<TenantQuota.Command> QUOTA = EntityTypeKey.create(TenantQuota.Command.class, "tenant-quota");

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
        sharding.init(Entity.of(QUOTA, ctx -> Behaviors.<TenantQuota.Command>setup(c -> {
            // A gateway node that is gone has no requests in flight any more.
            Cluster.get(c.getSystem()).subscriptions().tell(Subscribe.create(c.messageAdapter(ClusterEvent.MemberRemoved.class,
                    e -> new TenantQuota.NodeGone(PinnedToNode.shardOf(e.member().address()))), ClusterEvent.MemberRemoved.class));
            return TenantQuota.create(ctx.getEntityId());
        })));
    }

    /** The cluster-wide quota counter of a tenant. */
    public EntityRef<TenantQuota.Command> quota(String id) {
        return sharding.entityRefFor(QUOTA, id);
    }

    public EntityRef<Tenant.Command> tenant(String id) {
        return sharding.entityRefFor(TENANT, id);
    }

    public EntityRef<UsageLedger.Command> usage(String id) {
        return sharding.entityRefFor(USAGE, id);
    }
}
