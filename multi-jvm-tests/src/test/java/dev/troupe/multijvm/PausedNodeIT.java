package dev.troupe.multijvm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A worker node paused (SIGSTOP) for 30 s while it streams, then resumed (SIGCONT): its requests move to
 * the other replicas and end exactly as uninterrupted; when it wakes it has been downed by the split-brain
 * resolver (keep-majority, the two others are the majority), so it delivers nothing for them, and the
 * cluster's view is consistent again: no unreachable member, the paused node downed and exited (for its
 * supervisor to restart) or back up.
 */
class PausedNodeIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static Path dir;
    private static ClusterJournal journal;
    private static final List<NodeProcess> nodes = new ArrayList<>();

    @BeforeAll
    static void startCluster() throws Exception {
        journal = ClusterJournal.create();
        dir = Files.createTempDirectory("troupe-paused-node-it");
        nodes.addAll(NodeLossIT.threeReplicas(dir, journal));
    }

    @AfterAll
    static void stopCluster() throws Exception {
        for (NodeProcess n : nodes) n.close();
        if (journal != null) journal.close();
    }

    @Test
    void aPausedWorkersRequestsMoveAndItComesBackToAConsistentCluster() throws Exception {
        NodeProcess paused = nodes.get(2);
        long[] stoppedAt = new long[1];
        FailureDrill.Report r = FailureDrill.run(nodes.get(0), nodes.get(1), paused, 100, v -> {
            stoppedAt[0] = System.nanoTime();
            v.signal("STOP");
        });
        System.out.printf("paused node (SIGSTOP): 100 requests, %d streams cut mid-way, %d continued, %d retried; "
                + "longest pause of a cut stream p50 %d ms, max %d ms%n", r.cutStreams(), r.continued(), r.retried(), r.pause(50), r.pause(100));
        assertEquals(0, r.lost());
        assertTrue(r.continued() + r.retried() > 0, "nothing moved off the paused node");

        long resumeAt = stoppedAt[0] + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < resumeAt) Thread.sleep(100);
        paused.signal("CONT");

        String pausedAddress = "127.0.0.1:" + paused.clusterPort;
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        String view = "";
        while (System.nanoTime() < until) {
            JsonNode c = JSON.readTree(nodes.get(0).admin("GET", "/admin/cluster", null).body());
            view = c.get("members").toString();
            boolean allReachable = true;
            JsonNode pausedMember = null;
            for (JsonNode m : c.get("members")) {
                allReachable &= m.get("reachable").asBoolean();
                if (m.get("node").asText().equals(pausedAddress)) pausedMember = m;
            }
            // Downed, removed and exited (its own resolver downs it, the minority, and its JVM ends so that
            // its supervisor starts it afresh), or back as a reachable member.
            boolean pausedSettled = pausedMember == null ? !paused.alive() : pausedMember.get("status").asText().equals("up");
            if (allReachable && pausedSettled && c.get("members").size() >= 2) break;
            Thread.sleep(500);
        }
        assertTrue(System.nanoTime() < until, "the cluster's view did not settle after the pause: " + view);
        // Both other gateways still serve.
        for (int i = 0; i < 2; i++) {
            assertEquals(200, nodes.get(i).post("/v1/completions", ClusterIT.completion("Hi", 4)).statusCode());
        }
        System.out.printf("paused node: settled %d s after the resume: %s%s%n", (System.nanoTime() - resumeAt) / 1_000_000_000, view,
                paused.alive() ? "" : " (the paused node was downed and exited)");
    }
}
