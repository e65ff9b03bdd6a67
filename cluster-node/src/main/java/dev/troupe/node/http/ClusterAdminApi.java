package dev.troupe.node.http;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.troupe.node.openai.ApiError;
import dev.troupe.sharding.PinnedToNode;
import dev.troupe.sharding.ReplicaDirectory;
import dev.troupe.sharding.ReplicaStatus;
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
 * status and reachability; every replica any node announces, with its model, version, node, state and
 * load (queued and running sequences, KV blocks free of total).
 */
public final class ClusterAdminApi extends AllDirectives {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final ActorSystem<?> system;
    private final ReplicaDirectory directory;
    private final AdminAuth auth;

    public ClusterAdminApi(ActorSystem<?> system, ReplicaDirectory directory, String adminToken) {
        this.system = system;
        this.directory = directory;
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
        ArrayNode replicas = out.putArray("replicas");
        for (ReplicaStatus s : directory.all()) {
            ObjectNode r = replicas.addObject();
            r.put("model", s.model());
            r.put("version", s.version());
            r.put("node", s.node());
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
