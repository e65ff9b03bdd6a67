package dev.troupe.engine.tp;

import dev.troupe.engine.Batch;
import dev.troupe.engine.kv.PagedKvCache;

/**
 * What the slices of one tensor-parallel group say to each other during a step: the leader hands each
 * step (its batch and its KV block-table changes) to the followers, all slices add up their partial sums,
 * and the followers hand the leader their share of the logits. Every call answers a status code: a slow
 * peer is waited for (under the exchange's idle strategy, up to its peer timeout), a lost one is
 * {@link #PEER_LOST}. Nothing is allocated per call.
 */
public interface TensorExchange extends AutoCloseable {
    int OK = 0;
    /** A follower polled and no step was waiting. */
    int NOTHING = 1;
    /** The leader ended the group. */
    int STOPPED = 2;
    /** A peer went away or stayed silent past the peer timeout. */
    int PEER_LOST = -1;
    /** This exchange was closed. */
    int CLOSED = -2;
    /** A peer sent something out of step: the group can no longer be trusted. */
    int PROTOCOL = -3;

    int rank();

    int ranks();

    /** Leader: sends the step to every follower, with the cache's recorded changes (then cleared). */
    int sendStep(Batch batch, PagedKvCache kv);

    /** Follower: takes the next step, if one is waiting, into batch, applying its changes to kv. */
    int pollStep(Batch batch, PagedKvCache kv);

    /** Every slice: buf[0, len) becomes the sum over the slices, added in rank order (so equal on all). */
    int allReduceSum(float[] buf, int len);

    /**
     * Leader: logits [rows][vocab] (rows = the batch's logits rows) gets every follower's columns, where
     * follower r's share starts at vocabStart[r]; of a row the batch marked {@link Batch#onlyArgmax} only the
     * follower's largest logit crosses, the rest of its columns become -inf. Follower: sends its share of
     * part [rows][share] that way.
     */
    int gatherLogits(float[] logits, Batch batch, int vocab, int[] vocabStart, float[] part);

    /** Whether this slice's leader has connected to it at least once (the leader: always). */
    boolean leaderSeen();

    /** Leader: tells the followers the group is over. */
    void stop();

    /** A status code in words, for logs and errors. */
    static String describe(int status) {
        switch (status) {
            case OK: return "ok";
            case NOTHING: return "nothing waiting";
            case STOPPED: return "stopped by the leader";
            case PEER_LOST: return "a peer slice was lost";
            case CLOSED: return "the exchange is closed";
            case PROTOCOL: return "a peer slice sent an unexpected message";
            default: return "status " + status;
        }
    }

    @Override
    void close();
}
