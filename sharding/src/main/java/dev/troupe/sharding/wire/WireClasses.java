package dev.troupe.sharding.wire;

import dev.troupe.actors.registry.ModelRegistry;
import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.actors.replica.GenerationRequest;
import dev.troupe.actors.replica.Replica;
import dev.troupe.actors.replica.StepLoop;
import dev.troupe.engine.sampling.SamplingParams;
import dev.troupe.sharding.ReplicaStatus;
import dev.troupe.sharding.NodeAnnouncement;
import dev.troupe.sharding.SliceInfo;
import dev.troupe.actors.slice.GpuSlice;
import dev.troupe.actors.placement.Placement;
import dev.troupe.scheduler.PlacementPlanner;
import dev.troupe.actors.tenant.Quotas;
import dev.troupe.actors.tenant.Tenant;
import dev.troupe.actors.tenant.UsageLedger;
import dev.troupe.actors.tenant.TenantQuota;
import dev.troupe.actors.tenant.QuotaLimiter;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * THE list of classes that may cross nodes, each with a stable Kryo id. {@link KryoSerializer} refuses every
 * other class, on the way out and on the way in, so bytes from another node can never make this node
 * instantiate something unexpected.
 *
 * <p><b>Append only.</b> The id is what travels: nodes of different releases must agree on it during a
 * rolling upgrade. To add a message, append {@code entry(<next free id>, YourRecord.class)} at the end of
 * {@link #ALL}, plus every class its fields carry that is not listed yet (enums, nested records,
 * collections). Never renumber, reuse or remove an id; a class that goes away leaves its id unused.
 * {@code WireClassesTest} fails the build when a {@link dev.troupe.actors.wire.CrossNode} class is missing
 * here, when an id repeats, or when a listed class has no sample value in its round-trip test.
 */
public final class WireClasses {

    /** One registered class and its wire id. */
    public record Entry(int id, Class<?> type) {}

    /** Ids below this belong to Kryo's own registrations (primitives, their wrappers, String). */
    public static final int FIRST_ID = 20;

    // JDK classes with no public name: taken from instances, so they are whatever this JDK returns.
    static final Class<?> LIST12 = List.of(1).getClass();
    static final Class<?> LISTN = List.of().getClass();
    static final Class<?> SET12 = Set.of(1).getClass();
    static final Class<?> SETN = Set.of().getClass();
    static final Class<?> MAP1 = Map.of(1, 1).getClass();
    static final Class<?> MAPN = Map.of().getClass();
    static final Class<?> UNMODIFIABLE_MAP = Collections.unmodifiableMap(new HashMap<>()).getClass();

    public static final List<Entry> ALL = List.of(
            // ---- JDK types the messages carry (20-99)
            entry(20, int[].class),
            entry(21, float[].class),
            entry(22, String[].class),
            entry(23, Instant.class),
            entry(24, LocalDate.class),
            entry(25, ArrayList.class),
            entry(26, HashMap.class),
            entry(27, LinkedHashMap.class),
            entry(28, TreeMap.class),
            entry(29, HashSet.class),
            entry(30, LIST12),
            entry(31, LISTN),
            entry(32, SET12),
            entry(33, SETN),
            entry(34, MAP1),
            entry(35, MAPN),
            // The entities' states wrap their maps read-only (Collections.unmodifiableMap).
            entry(36, UNMODIFIABLE_MAP),
            // Any typed ActorRef implementation travels as this one id (see WireKryo).
            entry(37, ActorRef.class),
            entry(38, int[][].class),
            entry(39, float[][].class),

            // ---- model registry (100-149)
            entry(100, ModelRegistry.RegisterVersion.class),
            entry(101, ModelRegistry.Deploy.class),
            entry(102, ModelRegistry.SetTraffic.class),
            entry(103, ModelRegistry.Promote.class),
            entry(104, ModelRegistry.Rollback.class),
            entry(105, ModelRegistry.Retire.class),
            entry(106, ModelRegistry.GetState.class),
            entry(107, ModelRegistry.GetHistory.class),
            entry(108, ModelRegistry.Reply.Accepted.class),
            entry(109, ModelRegistry.Reply.Rejected.class),
            entry(110, ModelRegistry.Reply.Current.class),
            entry(111, ModelRegistry.Reply.History.class),
            entry(112, ModelRegistry.State.class),
            entry(113, ModelRegistry.VersionInfo.class),
            entry(114, ModelRegistry.Deployment.class),
            entry(115, ModelRegistry.HistoryEntry.class),

            // ---- tenants (150-199)
            entry(150, Tenant.Create.class),
            entry(151, Tenant.IssueKey.class),
            entry(152, Tenant.RevokeKey.class),
            entry(153, Tenant.Update.class),
            entry(154, Tenant.Suspend.class),
            entry(155, Tenant.Resume.class),
            entry(156, Tenant.GetState.class),
            entry(157, Tenant.Reply.Accepted.class),
            entry(158, Tenant.Reply.Rejected.class),
            entry(159, Tenant.Reply.Current.class),
            entry(160, Tenant.Why.class),
            entry(161, Tenant.Changed.class),
            entry(162, Tenant.State.class),
            entry(163, Tenant.KeyInfo.class),
            entry(164, Quotas.class),

            // ---- usage ledgers (200-249)
            entry(200, UsageLedger.Record.class),
            entry(201, UsageLedger.GetUsage.class),
            entry(202, UsageLedger.Reply.Recorded.class),
            entry(203, UsageLedger.Reply.Rejected.class),
            entry(204, UsageLedger.Reply.Usage.class),
            entry(205, UsageLedger.Totals.class),

            // ---- replicas: requests, their streamed events, probes, announcements (250-299)
            entry(250, Replica.Generate.class),
            entry(251, Replica.EventBatch.class),
            entry(252, Replica.Ack.class),
            entry(253, Replica.Cancel.class),
            entry(254, Replica.Embed.class),
            entry(255, Replica.EmbedReply.class),
            entry(256, Replica.Probe.class),
            entry(257, Replica.ProbeReply.class),
            entry(258, Replica.Drain.class),
            entry(259, Replica.Drained.class),
            entry(260, Replica.Stop.class),
            entry(261, Replica.Flush.class),
            entry(262, GenerationRequest.class),
            entry(263, SamplingParams.class),
            entry(264, GenerationEvent.Tokens.class),
            entry(265, GenerationEvent.Finished.class),
            entry(266, GenerationEvent.Failed.class),
            entry(267, GenerationEvent.FinishReason.class),
            entry(268, GenerationEvent.FailureKind.class),
            entry(269, GenerationEvent.TokenLogprob.class),
            entry(270, StepLoop.Stats.class),
            entry(271, ReplicaStatus.class),
            entry(116, ModelRegistry.Changed.class),
            entry(272, NodeAnnouncement.class),
            entry(273, SliceInfo.class),

            // ---- placement (300-349)
            entry(300, Placement.Demand.class),
            entry(301, Placement.GetPlacement.class),
            entry(302, Placement.Tick.class),
            entry(303, Placement.Current.class),
            entry(304, Placement.Placed.class),
            entry(305, PlacementPlanner.Want.class),
            entry(306, PlacementPlanner.ReplicaKey.class),
            entry(307, PlacementPlanner.Assignment.class),
            entry(308, PlacementPlanner.GroupSlice.class),

            // ---- tenant quotas (350-369)
            entry(350, TenantQuota.Acquire.class),
            entry(351, TenantQuota.Release.class),
            entry(352, TenantQuota.NodeGone.class),
            entry(353, TenantQuota.Decision.class),
            entry(354, QuotaLimiter.Limit.class),

            // ---- slices (370-389)
            entry(370, GpuSlice.Reserve.class),
            entry(371, GpuSlice.Granted.class),
            entry(372, GpuSlice.Refused.class),
            entry(373, GpuSlice.Release.class),
            entry(374, GpuSlice.GetStatus.class),
            entry(375, GpuSlice.Status.class),

            // ---- liveness of remote requests (390-399)
            entry(390, Replica.StillWaiting.class),
            entry(391, Replica.Alive.class),
            entry(392, Replica.Sweep.class),
            entry(393, Replica.CheckGateways.class)

            // ---- append new entries above this line, with new ids
    );

    private WireClasses() {}

    private static Entry entry(int id, Class<?> type) {
        return new Entry(id, type);
    }

    static {
        // Kryo would silently let a repeated id replace the earlier class: refuse to start instead.
        Set<Integer> ids = new HashSet<>();
        Set<Class<?>> types = new HashSet<>();
        for (Entry e : ALL) {
            if (e.id() < FIRST_ID) throw new IllegalStateException("wire id " + e.id() + " of " + e.type().getName() + " is below " + FIRST_ID);
            if (!ids.add(e.id())) throw new IllegalStateException("wire id " + e.id() + " is used twice (" + e.type().getName() + ")");
            if (!types.add(e.type())) throw new IllegalStateException(e.type().getName() + " is registered twice");
        }
    }
}
