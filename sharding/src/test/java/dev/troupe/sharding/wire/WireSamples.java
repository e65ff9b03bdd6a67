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
 * Representative values of every class in {@link WireClasses}, built the way the entities build them (states
 * through their own {@code apply}, so the collections are the runtime classes that really travel). A class
 * appended to WireClasses needs a sample here: {@code WireRoundTripTest} fails otherwise.
 */
final class WireSamples {
    private WireSamples() {}

    @SuppressWarnings({"unchecked", "rawtypes"})
    static List<Object> all(ActorRef<?> ref) {
        ActorRef<Tenant.Reply> tenantReplies = (ActorRef) ref;
        ActorRef<ModelRegistry.Reply> registryReplies = (ActorRef) ref;
        ActorRef<UsageLedger.Reply> usageReplies = (ActorRef) ref;
        Instant t = Instant.parse("2025-03-01T10:15:30.123456789Z");
        LocalDate day = LocalDate.of(2025, 3, 1);
        Quotas quotas = new Quotas(60, 100_000L, 4);

        ModelRegistry.State registry = ModelRegistry.State.EMPTY
                .apply(new ModelRegistry.VersionRegistered(t, "alice", "v1", "/models/a.gguf", "a".repeat(64), "llama",
                        Map.of("quant", "q8_0", "ctx", "4096")))
                .apply(new ModelRegistry.VersionRegistered(t.plusSeconds(1), "alice", "v2", "/models/b.gguf", "b".repeat(64), "llama", null))
                .apply(new ModelRegistry.DeploymentRolledOut(t.plusSeconds(2), "bob", "v1", 2, 1))
                .apply(new ModelRegistry.DeploymentRolledOut(t.plusSeconds(3), "bob", "v2", 1, 2))
                .apply(new ModelRegistry.Promoted(t.plusSeconds(4), "bob", "v1", null))
                .apply(new ModelRegistry.TrafficSet(t.plusSeconds(5), "bob", Map.of("v1", 90, "v2", 10)));
        Tenant.State tenant = Tenant.State.empty("acme")
                .apply(new Tenant.TenantCreated(t, "admin", 3, quotas, List.of("m1", "m2")))
                .apply(new Tenant.KeyIssued(t.plusSeconds(1), "admin", "k1", "salt", "hash"))
                .apply(new Tenant.KeyIssued(t.plusSeconds(2), "admin", "k2", "salt2", "hash2"))
                .apply(new Tenant.KeyRevoked(t.plusSeconds(3), "admin", "k1"))
                .apply(new Tenant.Suspended(t.plusSeconds(4), "admin", "unpaid"));
        Map<LocalDate, Map<String, UsageLedger.Totals>> byDay = Collections.unmodifiableMap(new TreeMap<>(Map.of(
                day, Collections.unmodifiableMap(new TreeMap<>(Map.of("m1", new UsageLedger.Totals(3, 120, 480),
                        "m2", new UsageLedger.Totals(1, 7, 9)))),
                day.minusDays(1), Collections.unmodifiableMap(new TreeMap<>(Map.of("m1", new UsageLedger.Totals(1, 1, 1)))))));

        List<Object> out = new ArrayList<>();
        // JDK types
        out.add(new int[] {1, -2, Integer.MAX_VALUE});
        out.add(new float[] {0.5f, -1e-7f, Float.NaN});
        out.add(new int[][] {{1, 2}, {}, {3}});
        out.add(new float[][] {{0.5f}, {-1e-7f, Float.NaN}});
        out.add(new String[] {"a", null, "ü"});
        out.add(t);
        out.add(day);
        out.add(new ArrayList<>(List.of("x", "y")));
        out.add(new HashMap<>(Map.of("x", 1)));
        out.add(new LinkedHashMap<>(Map.of("x", 1L)));
        out.add(new TreeMap<>(Map.of("b", 2, "a", 1)));
        out.add(new HashSet<>(Set.of("x", "y")));
        out.add(List.of("one"));
        out.add(List.of("a", "b", "c"));
        out.add(Set.of("one"));
        out.add(Set.of("a", "b", "c"));
        out.add(Map.of("k", "v"));
        out.add(Map.of("k", "v", "k2", "v2"));
        out.add(Collections.unmodifiableMap(new TreeMap<>(Map.of("b", 2, "a", 1))));
        out.add(ref);
        // model registry
        out.add(new ModelRegistry.RegisterVersion("alice", "v3", "/m/c.gguf", "c".repeat(64), "llama", Map.of("k", "v"), registryReplies));
        out.add(new ModelRegistry.Deploy("bob", "v3", 2, 1, registryReplies));
        out.add(new ModelRegistry.SetTraffic("bob", Map.of("v1", 50, "v3", 50), registryReplies));
        out.add(new ModelRegistry.Promote("bob", "v3", registryReplies));
        out.add(new ModelRegistry.Rollback("bob", null, "latency", registryReplies));
        out.add(new ModelRegistry.Retire("bob", "v2", registryReplies));
        out.add(new ModelRegistry.GetState(registryReplies));
        out.add(new ModelRegistry.GetHistory(registryReplies));
        out.add(new ModelRegistry.Reply.Accepted(registry));
        out.add(new ModelRegistry.Reply.Rejected("no"));
        out.add(new ModelRegistry.Reply.Current(ModelRegistry.State.EMPTY));
        out.add(new ModelRegistry.Reply.History(registry.history()));
        out.add(registry);
        out.add(registry.versions().get("v1"));
        out.add(registry.deployments().get("v2"));
        out.add(registry.history().get(0));
        out.add(new ModelRegistry.Changed("m", registry));
        // tenants
        out.add(new Tenant.Create("admin", 2, quotas, List.of("m1"), tenantReplies));
        out.add(new Tenant.IssueKey("admin", "k3", "s", "h", tenantReplies));
        out.add(new Tenant.RevokeKey("admin", "k3", tenantReplies));
        out.add(new Tenant.Update("admin", null, Quotas.UNLIMITED, null, tenantReplies));
        out.add(new Tenant.Update("admin", 7, null, List.of(), tenantReplies));
        out.add(new Tenant.Suspend("admin", null, tenantReplies));
        out.add(new Tenant.Resume("admin", tenantReplies));
        out.add(new Tenant.GetState(tenantReplies));
        out.add(new Tenant.Reply.Accepted(tenant));
        out.add(new Tenant.Reply.Rejected(Tenant.Why.CONFLICT, "exists"));
        out.add(new Tenant.Reply.Current(Tenant.State.empty("nobody")));
        out.add(Tenant.Why.NOT_FOUND);
        out.add(new Tenant.Changed(tenant));
        out.add(tenant);
        out.add(tenant.keys().get("k1"));
        out.add(quotas);
        // usage ledgers
        out.add(new UsageLedger.Record("req-1", "m1", day, 12, 34, usageReplies));
        out.add(new UsageLedger.Record("req-2", "m1", day, 0, 0, null));
        out.add(new UsageLedger.GetUsage(usageReplies));
        out.add(new UsageLedger.Reply.Recorded(true));
        out.add(new UsageLedger.Reply.Rejected("bad"));
        out.add(new UsageLedger.Reply.Usage("acme", byDay));
        out.add(new UsageLedger.Totals(1, 2, 3));
        // replicas
        ActorRef<Replica.ToGateway> batches = (ActorRef) ref;
        ActorRef<Replica.Command> entity = (ActorRef) ref;
        SamplingParams params = SamplingParams.builder().temperature(0.7f).topP(0.9f).seed(42L).maxTokens(64)
                .stop("\n\n", "User:").topLogprobs(2).build();
        // With the caller's trace context: it must reach the remote replica (WireRoundTripTest compares every field).
        GenerationRequest request = new GenerationRequest("cmpl-1", new int[] {1, 15043, 29892}, params, 0, "acme", 3, 0,
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        GenerationEvent.TokenLogprob lp = new GenerationEvent.TokenLogprob(15043, " Hello", -0.25f, new int[] {15043, 10994},
                new String[] {" Hello", " Hi"}, new float[] {-0.25f, -1.5f});
        GenerationEvent.Tokens tokens = new GenerationEvent.Tokens("cmpl-1", " Hello", new int[] {15043}, List.of(lp));
        GenerationEvent.Finished finished = new GenerationEvent.Finished("cmpl-1", GenerationEvent.FinishReason.STOP, 3, 1, 2_500_000L);
        GenerationEvent.Failed failed = new GenerationEvent.Failed("cmpl-2", GenerationEvent.FailureKind.QUEUE_FULL, "full", 3, 0);
        StepLoop.Stats stats = new StepLoop.Stats(2, 1, 10, 54, 1000, 300, 700, 1, 0, 123456789L, 4000, 3200);
        out.add(new Replica.Generate(request, 120_000_000_000L, batches));
        out.add(new Replica.EventBatch("cmpl-1", 0, List.of(tokens, finished), entity));
        out.add(new Replica.Ack("cmpl-1", 0));
        out.add(new Replica.Cancel("cmpl-1"));
        out.add(new Replica.Embed("embd-1", new int[][] {{1, 2}, {3}}, 5000, (ActorRef) ref));
        out.add(new Replica.EmbedReply(new float[][] {{0.1f, -0.2f}, {0.3f}}, null, null));
        out.add(new Replica.EmbedReply(null, GenerationEvent.FailureKind.QUEUE_FULL, "the replica's queue is full"));
        out.add(new Replica.Probe((ActorRef) ref));
        out.add(new Replica.ProbeReply("m@v1", "10.0.0.1:25520", false, 12, stats));
        out.add(new Replica.Drain(20_000, (ActorRef) ref));
        out.add(new Replica.Drained());
        out.add(new Replica.Stop());
        out.add(new Replica.Flush("cmpl-1"));
        out.add(new Replica.StillWaiting(List.of("cmpl-1", "cmpl-2"), (ActorRef) ref));
        out.add(new Replica.Alive(List.of("cmpl-1"), (ActorRef) ref));
        out.add(new Replica.Sweep());
        out.add(new Replica.CheckGateways());
        out.add(request);
        out.add(params);
        out.add(tokens);
        out.add(finished);
        out.add(failed);
        out.add(GenerationEvent.FinishReason.LENGTH);
        out.add(GenerationEvent.FailureKind.DEADLINE_EXCEEDED);
        out.add(lp);
        out.add(stats);
        ReplicaStatus status = new ReplicaStatus("10.0.0.1:25520", "m@v1", "m", "v1", true, 1, 2, 54, 64);
        out.add(status);
        SliceInfo slice = new SliceInfo("10.0.0.1:25520/0", "10.0.0.1:25520", 8L << 30, 3L << 30, 4, List.of("m@v1"));
        out.add(slice);
        out.add(new NodeAnnouncement("10.0.0.1:25520", List.of(slice), List.of(status), "http://10.0.0.1:8080", List.of("a".repeat(64)), "10.0.0.1:25600"));
        // placement
        PlacementPlanner.ReplicaKey key = new PlacementPlanner.ReplicaKey("m", "v1", 0);
        PlacementPlanner.Want want = new PlacementPlanner.Want(key, 3L << 30);
        PlacementPlanner.Assignment assignment = new PlacementPlanner.Assignment(slice.id(), slice.node(), 3L << 30);
        Placement.Placed placed = new Placement.Placed(key, assignment);
        out.add(new Placement.Demand("m", List.of(want)));
        out.add(new Placement.GetPlacement((ActorRef) ref));
        out.add(new Placement.Tick());
        out.add(new Placement.Current(List.of(placed), Map.of("m@v1#1", "needs 3072 MiB")));
        out.add(placed);
        out.add(want);
        out.add(key);
        out.add(assignment);
        PlacementPlanner.GroupSlice follower = new PlacementPlanner.GroupSlice("10.0.0.2:25520/0", "10.0.0.2:25520");
        out.add(follower);
        out.add(new PlacementPlanner.Assignment(slice.id(), slice.node(), 3L << 29, List.of(follower)));
        out.add(new PlacementPlanner.Want(key, Map.of(1, 3L << 30, 2, 3L << 29)));
        // tenant quotas
        out.add(new TenantQuota.Acquire("10.0.0.1:25520", quotas, (ActorRef) ref));
        out.add(new TenantQuota.Release("10.0.0.1:25520", 120));
        out.add(new TenantQuota.NodeGone("10.0.0.1:25520"));
        out.add(new TenantQuota.Decision(false, QuotaLimiter.Limit.TOKENS_PER_MINUTE, 12));
        out.add(QuotaLimiter.Limit.CONCURRENT_REQUESTS);
        // slices
        out.add(new GpuSlice.Reserve("m@v1", 3L << 30, (ActorRef) ref));
        out.add(new GpuSlice.Granted("10.0.0.1:25520/0", "m@v1", 4));
        out.add(new GpuSlice.Refused("10.0.0.1:25520/0", "m@v2", 6L << 30, 5L << 30, 8L << 30));
        out.add(new GpuSlice.Release("m@v1"));
        out.add(new GpuSlice.GetStatus((ActorRef) ref));
        out.add(new GpuSlice.Status("10.0.0.1:25520/0", "10.0.0.1:25520", 8L << 30, 4, Map.of("m@v1", 3L << 30)));
        return out;
    }
}
