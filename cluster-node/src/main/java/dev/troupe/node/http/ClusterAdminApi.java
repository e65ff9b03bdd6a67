package dev.troupe.node.http;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.troupe.node.openai.ApiError;
import dev.troupe.sharding.PinnedToNode;
import dev.troupe.sharding.ReplicaDirectory;
import dev.troupe.sharding.ReplicaStatus;
import dev.troupe.sharding.SliceInfo;
import dev.troupe.actors.placement.Placement;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;

import java.util.HashSet;
import java.util.Set;
import java.util.TreeMap;

import static org.apache.pekko.http.javadsl.server.PathMatchers.segment;

/**
 * {@code GET /admin/cluster} (admin token): the cluster as this node sees it. Members with their roles,
 * status and reachability; the workers' slices with their memory (total, placed, free of placed, reserved
 * by the replicas loaded there), threads and replicas;
 * the placement (which replica runs on which slice, and why the others run nowhere); every replica any
 * node announces, with its model, version, node, state and load (queued and running sequences, KV blocks
 * free of total).
 */
public final class ClusterAdminApi extends AllDirectives {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final ActorSystem<?> system;
    private final ReplicaDirectory directory;
    private final java.util.function.Supplier<Placement.Current> placement;
    private final AdminAuth auth;

    public ClusterAdminApi(ActorSystem<?> system, ReplicaDirectory directory, java.util.function.Supplier<Placement.Current> placement,
                           String adminToken) {
        this.system = system;
        this.directory = directory;
        this.placement = placement;
        this.auth = new AdminAuth(adminToken);
    }

    public Route route() {
        return path(segment("admin").slash("cluster"), () -> get(() -> optionalHeaderValueByName("Authorization", header -> {
            ApiError denied = auth.check(header);
            if (denied != null) return complete(HttpApi.error(denied));
            return complete(HttpApi.json(StatusCodes.OK, render().toString()));
        })));
    }

    ObjectNode render() {
        Cluster cluster = Cluster.get(system);
        ObjectNode out = JSON.createObjectNode();
        out.put("self", PinnedToNode.shardOf(cluster.selfMember().address()));
        Set<Member> unreachable = new HashSet<>();
        cluster.state().getUnreachable().forEach(unreachable::add);
        ArrayNode members = out.putArray("members");
        TreeMap<String, Member> sorted = new TreeMap<>();
        for (Member m : cluster.state().getMembers()) sorted.put(PinnedToNode.shardOf(m.address()), m);
        for (var e : sorted.entrySet()) {
            ObjectNode m = members.addObject();
            m.put("node", e.getKey());
            m.put("status", e.getValue().status().toString().toLowerCase(java.util.Locale.ROOT));
            m.put("reachable", !unreachable.contains(e.getValue()));
            ArrayNode roles = m.putArray("roles");
            new java.util.TreeSet<>(e.getValue().getRoles()).stream().filter(r -> !r.startsWith("dc-")).forEach(roles::add);
        }
        Placement.Current placed = placement.get();
        java.util.Map<String, Long> usedBySlice = new java.util.HashMap<>();
        for (Placement.Placed p : placed.assignments()) {
            for (var g : p.assignment().group()) usedBySlice.merge(g.slice(), p.assignment().memoryBytes(), Long::sum);
        }
        ArrayNode slices = out.putArray("slices");
        for (SliceInfo sl : directory.slices()) {
            ObjectNode o = slices.addObject();
            o.put("id", sl.id());
            o.put("node", sl.node());
            o.put("memory_total_bytes", sl.memoryBytes());
            // Placed: what placement plans on the slice; reserved: what the slice granted to replicas loaded there.
            o.put("memory_placed_bytes", usedBySlice.getOrDefault(sl.id(), 0L));
            o.put("memory_free_bytes", sl.memoryBytes() - usedBySlice.getOrDefault(sl.id(), 0L));
            o.put("memory_reserved_bytes", sl.reservedBytes());
            o.put("threads", sl.threads());
            ArrayNode held = o.putArray("replicas");
            sl.replicas().forEach(held::add);
        }
        ObjectNode placementNode = out.putObject("placement");
        ArrayNode assignments = placementNode.putArray("assignments");
        for (Placement.Placed p : placed.assignments()) {
            ObjectNode a = assignments.addObject();
            a.put("replica", Placement.text(p.key()));
            a.put("model", p.key().model());
            a.put("version", p.key().version());
            a.put("slice", p.assignment().slice());
            a.put("node", p.assignment().node());
            a.put("memory_bytes", p.assignment().memoryBytes());
            // A tensor-parallel group: every slice in rank order (the leader, above, first); memory_bytes is each one's share.
            if (!p.assignment().followers().isEmpty()) {
                ArrayNode group = a.putArray("group");
                for (var g : p.assignment().group()) group.addObject().put("slice", g.slice()).put("node", g.node());
            }
        }
        ObjectNode why = placementNode.putObject("unplaceable");
        placed.unplaceable().forEach(why::put);
        // The slice of a replica: the one of its node that granted it memory.
        java.util.Map<String, String> sliceOf = new java.util.HashMap<>();
        for (SliceInfo sl : directory.slices()) for (String name : sl.replicas()) sliceOf.put(sl.node() + "|" + name, sl.id());
        ArrayNode replicas = out.putArray("replicas");
        for (ReplicaStatus s : directory.all()) {
            ObjectNode r = replicas.addObject();
            r.put("model", s.model());
            r.put("version", s.version());
            r.put("node", s.node());
            r.put("slice", sliceOf.get(s.node() + "|" + s.name()));
            r.put("state", s.ready() ? "ready" : "draining");
            r.put("queued", s.queued());
            r.put("running", s.running());
            r.put("outstanding", s.queued() + s.running());
            r.put("kv_blocks_free", s.kvFree());
            r.put("kv_blocks_total", s.kvTotal());
        }
        return out;
    }
}
