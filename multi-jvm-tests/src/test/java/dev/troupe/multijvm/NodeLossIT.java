package dev.troupe.multijvm;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A worker node SIGKILLed while it streams: three nodes, three replicas, 200 concurrent streamed requests
 * (greedy and seeded) through two gateways. Every request completes with exactly its uninterrupted text
 * and usage, no client sees an error; the streams the dead node was generating are continued on another
 * replica. Prints the requests moved and how long the cut streams paused.
 */
class NodeLossIT {
    private static Path dir;
    private static ClusterJournal journal;
    private static final List<NodeProcess> nodes = new ArrayList<>();

    /** Starts three nodes serving the reference model with a replica on each. */
    static List<NodeProcess> threeReplicas(Path dir, ClusterJournal journal) throws Exception {
        Path model = NodeProcess.referenceModel();
        // Four sequences at a time per replica: the streams take long enough to be cut mid-way on any machine.
        List<NodeProcess> nodes = NodeProcess.startCluster(3, dir, model, "stories", journal.url(), Map.of("TROUPE_MAX_NUM_SEQS", "4"));
        HttpResponse<String> scaled = nodes.get(0).admin("POST", "/admin/models/stories/deployments", "{\"version\":\"v1\",\"replicas\":3}");
        assertEquals(202, scaled.statusCode(), scaled.body());
        ClusterIT.awaitReplicasOn(nodes, ClusterIT.clusterAddresses(nodes));
        return nodes;
    }

    @BeforeAll
    static void startCluster() throws Exception {
        journal = ClusterJournal.create();
        dir = Files.createTempDirectory("troupe-node-loss-it");
        nodes.addAll(threeReplicas(dir, journal));
    }

    @AfterAll
    static void stopCluster() throws Exception {
        for (NodeProcess n : nodes) n.close();
        if (journal != null) journal.close();
    }

    @Test
    void aWorkerKilledMidStreamLosesNoRequestAndNoToken() throws Exception {
        FailureDrill.Report r = FailureDrill.run(nodes.get(0), nodes.get(1), nodes.get(2), 200, NodeProcess::kill);
        System.out.printf("node loss (SIGKILL): 200 requests, %d streams cut mid-way, %d continued, %d retried; "
                + "longest pause of a cut stream p50 %d ms, p99 %d ms, max %d ms%n", r.cutStreams(), r.continued(), r.retried(),
                r.pause(50), r.pause(99), r.pause(100));
        assertTrue(r.cutStreams() > 0, "the kill cut no stream mid-way: nothing was continued");
        assertTrue(r.continued() >= r.cutStreams(), r.continued() + " continued, " + r.cutStreams() + " streams cut");
        assertEquals(0, r.lost());
    }
}
