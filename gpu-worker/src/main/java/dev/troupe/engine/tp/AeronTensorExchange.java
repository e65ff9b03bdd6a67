package dev.troupe.engine.tp;

import dev.troupe.engine.Batch;
import dev.troupe.engine.kernel.Argmax;
import dev.troupe.engine.kv.PagedKvCache;
import io.aeron.Aeron;
import io.aeron.ControlledFragmentAssembler;
import io.aeron.ExclusivePublication;
import io.aeron.Publication;
import io.aeron.Subscription;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.ControlledFragmentHandler;
import io.aeron.logbuffer.Header;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.UnsafeAccess;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.UnsafeBuffer;

import java.nio.ByteBuffer;

/**
 * A {@link TensorExchange} over Aeron: each slice publishes on its own stream (the group's base stream id
 * plus its rank) and subscribes to every peer's. On one node the streams are IPC (shared memory, the
 * media driver barely involved); across nodes each slice publishes to every peer's UDP endpoint and
 * receives all peers on its own. Messages are [type, step][payload] in one buffer allocated at start. A
 * follower's logits share goes to the leader as [type, step][index, value] for the rows that want only their
 * argmax (plain greedy), then [type, step, first float][floats] pieces of one frame each for the rows that want
 * all of it; peers' messages are read in rank order, so sums are added in the same order on every slice.
 */
public final class AeronTensorExchange implements TensorExchange {
    private static final int STEP = 1, PARTIAL = 2, LOGITS = 3, STOP = 4, ARGMAX = 5;
    private static final int HEADER = 8;             // int type, int step
    private static final int LOGITS_HEADER = 12;     // int type, int step, int first float of the piece
    private static final int FRAGMENTS = 64;
    private static final int NO_LOGITS = 0, ALL_LOGITS = 1, ARGMAX_LOGITS = 2;   // what a step's token wants
    private static final int NO_SESSION = Integer.MIN_VALUE;

    private final int rank;
    private final int ranks;
    private final ExclusivePublication[] publications;   // one per distinct peer channel (IPC: one, seen by all)
    private final int leaderPublication;                 // the one that reaches rank 0
    private final Subscription[] subscriptions;          // [peer rank], null for self
    private final ControlledFragmentAssembler[] assemblers;
    private final int[] sessions;                        // [peer rank] the peer's publication session, once heard
    private boolean leaderSeen;                          // a follower's leader has connected once
    private final IdleStrategy idle;
    private final long peerTimeoutNs;
    private final UnsafeBuffer out;                      // the outgoing message
    private final int maxMessage;
    private final float[] own;                           // this slice's partial while the peers' are added
    private final BufferClaim claim = new BufferClaim(); // a logits piece, written in place in the log
    private int step;                                    // the leader's step number, on every message
    private long exchangeNanos;                          // time inside all-reduces and the logits gather
    private long gatherNanos;                            // of which in the logits gather
    private volatile boolean closed;

    // What the handler is waiting for, and what it found.
    private int wantType;
    private boolean got;
    private int gotStatus;
    private float[] target;
    private boolean add;
    private int vocab, columnStart, columns;
    private int received;                                // floats of the awaited logits share handled so far
    private int[] argmaxRows = new int[0];               // the step's logits rows that want only their argmax, in order
    private int[] fullRows = new int[0];                 // and those that want every logit
    private int argmaxCount, fullCount;
    private Batch stepBatch;
    private PagedKvCache stepKv;
    private final ControlledFragmentHandler handler = this::onMessage;

    /**
     * @param channels   where this slice receives and where it sends
     * @param streamBase the group's first stream id (the group uses streamBase .. streamBase + ranks - 1)
     * @param maxFloats  the most floats one message carries (a partial sum or a logits share)
     */
    public AeronTensorExchange(Aeron aeron, Channels channels, int rank, int ranks, int streamBase, int maxFloats,
                               IdleStrategy idle, long peerTimeoutNs) {
        this.rank = rank;
        this.ranks = ranks;
        this.idle = idle;
        this.peerTimeoutNs = peerTimeoutNs;
        if (channels.sendTo().length != ranks) throw new IllegalArgumentException("channels for " + channels.sendTo().length + " slices, not " + ranks);
        this.maxMessage = HEADER + 4 * maxFloats;
        int term = termLength(maxMessage);
        this.out = new UnsafeBuffer(ByteBuffer.allocateDirect(maxMessage));
        this.own = new float[maxFloats];
        this.subscriptions = new Subscription[ranks];
        this.assemblers = new ControlledFragmentAssembler[ranks];
        this.sessions = new int[ranks];
        java.util.Arrays.fill(sessions, NO_SESSION);
        // Peers that share a channel (IPC, or slices of one node over UDP) get each message once.
        java.util.List<String> distinct = new java.util.ArrayList<>();
        for (int j = 0; j < ranks; j++) {
            if (j != rank && !distinct.contains(channels.sendTo()[j])) distinct.add(channels.sendTo()[j]);
        }
        this.publications = new ExclusivePublication[distinct.size()];
        this.leaderPublication = rank == 0 ? -1 : distinct.indexOf(channels.sendTo()[0]);
        try {
            for (int j = 0; j < ranks; j++) {
                if (j == rank) continue;
                subscriptions[j] = aeron.addSubscription(channels.receive(), streamBase + j);
                assemblers[j] = new ControlledFragmentAssembler(handler, maxMessage);
            }
            for (int i = 0; i < publications.length; i++) {
                publications[i] = aeron.addExclusivePublication(publicationChannel(distinct.get(i), term), streamBase + rank);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /**
     * Where one slice receives and sends. IPC: both "aeron:ipc". UDP: receive on its own endpoint, send to
     * each peer's ({@code sendTo[rank]} unused).
     */
    public record Channels(String receive, String[] sendTo) {
        /** Every slice of the group in this process. */
        public static Channels ipc(int ranks) {
            String[] to = new String[ranks];
            java.util.Arrays.fill(to, "aeron:ipc");
            return new Channels("aeron:ipc", to);
        }

        /** endpoints[r] = "host:port" of slice r. */
        public static Channels udp(String[] endpoints, int rank) {
            String[] to = new String[endpoints.length];
            for (int j = 0; j < endpoints.length; j++) to[j] = "aeron:udp?endpoint=" + endpoints[j];
            return new Channels(to[rank], to);
        }
    }

    /** Aeron caps a message at an eighth of the term: a term that holds eight of the largest, at least 64 KiB. */
    private static int termLength(int maxMessage) {
        long need = Math.max(64 * 1024, 8L * maxMessage);
        long term = Long.highestOneBit(need - 1) << 1;
        if (term > 1 << 30) throw new IllegalArgumentException("a tensor-parallel message of " + maxMessage + " bytes is too large for Aeron");
        return (int) term;
    }

    /**
     * The channel with the group's term length; IPC also with the largest frame Aeron allows, so that a
     * partial sum travels in few fragments (over UDP the network's MTU decides, Aeron's default is kept).
     */
    private static String publicationChannel(String channel, int term) {
        String params = "term-length=" + term + (channel.startsWith("aeron:ipc") ? "|mtu=" + Math.min(65504, term / 8 / 32 * 32) : "");
        return channel + (channel.contains("?") ? "|" : "?") + params;
    }

    /** Waits until every peer's stream and every publication is connected; false at the deadline. */
    public boolean awaitConnected(long timeoutNs) {
        long deadline = System.nanoTime() + timeoutNs;
        while (System.nanoTime() < deadline) {
            if (connected()) return true;
            idle.idle();
        }
        return connected();
    }

    /** Whether every peer is connected now. */
    public boolean connected() {
        for (Subscription s : subscriptions) if (s != null && !s.isConnected()) return false;
        for (Publication p : publications) if (p != null && !p.isConnected()) return false;
        return true;
    }

    @Override
    public int rank() { return rank; }

    @Override
    public int ranks() { return ranks; }

    @Override
    public int sendStep(Batch b, PagedKvCache kv) {
        step++;
        int ops = kv.journalLength();
        int length = HEADER + 4 * (2 + ops + 4 * b.size());
        if (length > maxMessage) return PROTOCOL;
        out.putInt(0, STEP);
        out.putInt(4, step);
        int at = HEADER;
        out.putInt(at, ops);
        at += 4;
        int[] journal = kv.journal();
        for (int i = 0; i < ops; i++, at += 4) out.putInt(at, journal[i]);
        kv.clearJournal();
        out.putInt(at, b.size());
        at += 4;
        int nextLogit = 0;
        for (int t = 0; t < b.size(); t++, at += 16) {
            boolean wants = nextLogit < b.logitCount() && b.logitRow(nextLogit) == t;
            if (wants) nextLogit++;
            out.putInt(at, b.sequence(t));
            out.putInt(at + 4, b.token(t));
            out.putInt(at + 8, b.position(t));
            out.putInt(at + 12, !wants ? NO_LOGITS : b.isArgmaxOnly(nextLogit - 1) ? ARGMAX_LOGITS : ALL_LOGITS);
        }
        return offer(length);
    }

    @Override
    public int pollStep(Batch batch, PagedKvCache kv) {
        if (closed) return CLOSED;
        Subscription leader = subscriptions[0];
        begin(STEP, 0);
        stepBatch = batch;
        stepKv = kv;
        leader.controlledPoll(assemblers[0], FRAGMENTS);
        if (got) return gotStatus;
        if (leader.isConnected()) {
            leaderSeen = true;
            return NOTHING;
        }
        return leaderSeen ? PEER_LOST : NOTHING;   // a leader still starting is waited for (see TensorFollowerAgent)
    }

    @Override
    public int allReduceSum(float[] buf, int len) {
        long t0 = System.nanoTime();
        int status = allReduce(buf, len);
        exchangeNanos += System.nanoTime() - t0;
        return status;
    }

    /** Nanoseconds this slice has spent in all-reduces and logits gathers, waiting for peers included. */
    public long exchangeNanos() { return exchangeNanos; }

    private int allReduce(float[] buf, int len) {
        int status = sendPartial(buf, len);
        if (status != OK) return status;
        if (rank != 0) System.arraycopy(buf, 0, own, 0, len);
        for (int j = 0; j < ranks; j++) {
            if (j == rank) {
                if (j != 0) for (int i = 0; i < len; i++) buf[i] += own[i];
                continue;
            }
            begin(PARTIAL, j);
            target = buf;
            add = j != 0;   // rank 0's partial starts the sum
            columns = len;
            status = await(j);
            if (status != OK) return status;
        }
        return OK;
    }

    @Override
    public int gatherLogits(float[] logits, Batch batch, int vocab, int[] vocabStart, float[] part) {
        long t0 = System.nanoTime();
        int status = gather(logits, batch, vocab, vocabStart, part);
        long spent = System.nanoTime() - t0;
        exchangeNanos += spent;
        gatherNanos += spent;
        return status;
    }

    /** Nanoseconds of {@link #exchangeNanos} spent in logits gathers. */
    public long gatherNanos() { return gatherNanos; }

    private int gather(float[] logits, Batch batch, int vocab, int[] vocabStart, float[] part) {
        splitRows(batch);
        if (rank != 0) {
            int share = vocabStart[rank + 1] - vocabStart[rank];
            int status = argmaxCount > 0 ? sendArgmax(part, share, vocabStart[rank]) : OK;
            return status == OK ? sendLogits(part, share) : status;
        }
        target = logits;
        this.vocab = vocab;
        for (int j = 1; j < ranks; j++) {
            columnStart = vocabStart[j];
            columns = vocabStart[j + 1] - vocabStart[j];
            if (argmaxCount > 0) {
                begin(ARGMAX, j);
                int status = await(j);
                if (status != OK) return status;
            }
            received = 0;
            while (received < fullCount * columns) {
                begin(LOGITS, j);
                int status = await(j);
                if (status != OK) return status;
            }
        }
        return OK;
    }

    /** The batch's logits rows into those that want only their argmax and those that want every logit. */
    private void splitRows(Batch batch) {
        if (fullRows.length < batch.capacity()) {   // once: the engine's batch keeps its capacity
            fullRows = new int[batch.capacity()];
            argmaxRows = new int[batch.capacity()];
        }
        argmaxCount = 0;
        fullCount = 0;
        for (int r = 0; r < batch.logitCount(); r++) {
            if (batch.isArgmaxOnly(r)) argmaxRows[argmaxCount++] = r;
            else fullRows[fullCount++] = r;
        }
    }

    @Override
    public boolean leaderSeen() { return rank == 0 || leaderSeen; }

    @Override
    public void stop() {
        if (rank != 0 || closed) return;
        out.putInt(0, STOP);
        out.putInt(4, step);
        // Once, without waiting: a follower already gone (or back-pressured) ends by itself when the streams close.
        for (Publication p : publications) p.offer(out, 0, HEADER);
    }

    private int peer;

    private void begin(int type, int from) {
        peer = from;
        wantType = type;
        got = false;
        gotStatus = PROTOCOL;
    }

    /** Polls peer j until the awaited message has been handled, the peer is gone, or the timeout passes. */
    private int await(int j) {
        Subscription s = subscriptions[j];
        long deadline = System.nanoTime() + peerTimeoutNs;
        while (true) {
            int fragments = s.controlledPoll(assemblers[j], FRAGMENTS);
            if (got) {
                idle.reset();
                return gotStatus;
            }
            if (fragments == 0) {
                if (closed) return CLOSED;
                if (!s.isConnected() || System.nanoTime() - deadline > 0) return PEER_LOST;
                idle.idle();
            }
        }
    }

    private int sendPartial(float[] src, int len) {
        int length = HEADER + 4 * len;
        if (length > maxMessage) return PROTOCOL;
        out.putInt(0, PARTIAL);
        out.putInt(4, step);
        toBuffer(src, 0, out, HEADER, len);
        return offer(length);
    }

    /** A follower's largest logit (its first) of each argmax-only row, as [index in the vocabulary, value]. */
    private int sendArgmax(float[] part, int share, int vocabStart) {
        out.putInt(0, ARGMAX);
        out.putInt(4, step);
        int at = HEADER;
        for (int i = 0; i < argmaxCount; i++, at += 8) {
            int row = argmaxRows[i] * share, best = Argmax.firstMax(part, row, share);
            out.putInt(at, vocabStart + best);
            out.putFloat(at + 4, part[row + best]);
        }
        return offerTo(publications[leaderPublication], at);
    }

    /**
     * A follower's share of the rows that want every logit, to the leader in pieces of one frame each, written
     * straight into the log: no copy into the outgoing buffer here, no reassembly there (a share at batch 8 is
     * 128k floats). Pieces count floats over those rows only: [fullCount][share].
     */
    private int sendLogits(float[] src, int share) {
        int len = fullCount * share;
        ExclusivePublication p = publications[leaderPublication];
        int perPiece = (p.maxPayloadLength() - LOGITS_HEADER) / 4;
        for (int from = 0; from < len; from += perPiece) {
            int n = Math.min(perPiece, len - from);
            long deadline = System.nanoTime() + peerTimeoutNs;
            long result;
            while ((result = p.tryClaim(LOGITS_HEADER + 4 * n, claim)) < 0) {
                int status = refused(result, deadline);
                if (status != OK) return status;
            }
            idle.reset();
            MutableDirectBuffer b = claim.buffer();
            int at = claim.offset();
            b.putInt(at, LOGITS);
            b.putInt(at + 4, step);
            b.putInt(at + 8, from);
            at += LOGITS_HEADER;
            for (int k = from, end = from + n; k < end; ) {
                int i = k / share, c = k - i * share, m = Math.min(end - k, share - c);
                toBuffer(src, fullRows[i] * share + c, b, at, m);
                at += 4 * m;
                k += m;
            }
            claim.commit();
        }
        return OK;
    }

    /** Offers the message to every peer; waits out back-pressure up to the peer timeout. */
    private int offer(int length) {
        for (Publication p : publications) {
            int status = offerTo(p, length);
            if (status != OK) return status;
        }
        return OK;
    }

    private int offerTo(Publication p, int length) {
        long deadline = System.nanoTime() + peerTimeoutNs;
        long result;
        while ((result = p.offer(out, 0, length)) < 0) {
            int status = refused(result, deadline);
            if (status != OK) return status;
        }
        idle.reset();
        return OK;
    }

    /** After a refused offer or claim: CLOSED, PEER_LOST once the deadline has passed, else OK having idled once. */
    private int refused(long result, long deadline) {
        if (result == Publication.CLOSED || result == Publication.MAX_POSITION_EXCEEDED || closed) return CLOSED;
        if (System.nanoTime() - deadline > 0) return PEER_LOST;   // not connected or back-pressured too long
        idle.idle();
        return OK;
    }

    private ControlledFragmentHandler.Action onMessage(DirectBuffer buf, int offset, int length, Header header) {
        int type = buf.getInt(offset), msgStep = buf.getInt(offset + 4);
        // A peer's publication is one session for the group's life: another session is a peer that started
        // again with none of this group's state (its old self is gone).
        if (sessions[peer] == NO_SESSION) sessions[peer] = header.sessionId();
        else if (sessions[peer] != header.sessionId()) {
            got = true;
            gotStatus = PEER_LOST;
            return ControlledFragmentHandler.Action.BREAK;
        }
        if (type != wantType) {
            // On IPC every follower sees the others' logits, which are for the leader only.
            if ((type == LOGITS || type == ARGMAX) && rank != 0) return ControlledFragmentHandler.Action.CONTINUE;
            got = true;
            gotStatus = type == STOP && wantType == STEP ? STOPPED : PROTOCOL;
            return ControlledFragmentHandler.Action.BREAK;
        }
        got = true;
        gotStatus = OK;
        int at = offset + HEADER;
        switch (type) {
            case STEP:
                step = msgStep;
                gotStatus = readStep(buf, at);
                break;
            case PARTIAL:
                if (msgStep != step || length != HEADER + 4 * columns) {
                    gotStatus = PROTOCOL;
                    break;
                }
                float[] t = target;
                if (add) {
                    for (int i = 0; i < columns; i++, at += 4) t[i] += buf.getFloat(at);
                } else {
                    fromBuffer(buf, at, t, 0, columns);
                }
                break;
            case LOGITS: {
                // One piece of the full rows' [fullCount][columns] share, in order; it may span rows.
                int from = length >= LOGITS_HEADER ? buf.getInt(offset + HEADER) : -1, n = (length - LOGITS_HEADER) / 4;
                if (msgStep != step || from != received || n <= 0 || length != LOGITS_HEADER + 4 * n || from + n > fullCount * columns) {
                    gotStatus = PROTOCOL;
                    break;
                }
                at = offset + LOGITS_HEADER;
                for (int k = from, end = from + n; k < end; ) {
                    int i = k / columns, c = k - i * columns, m = Math.min(end - k, columns - c);
                    fromBuffer(buf, at, target, fullRows[i] * vocab + columnStart + c, m);
                    at += 4 * m;
                    k += m;
                }
                received += n;
                break;
            }
            case ARGMAX:
                gotStatus = msgStep == step && length == HEADER + 8 * argmaxCount ? readArgmax(buf, at) : PROTOCOL;
                break;
            default:
                gotStatus = PROTOCOL;
        }
        return ControlledFragmentHandler.Action.BREAK;
    }

    /*
     * Floats move between the Java arrays and Aeron's buffers as one memory copy each (a logits share at batch 8 is
     * 128k floats); the buffers are in native byte order, as UnsafeBuffer's own float accessors. Bounds are checked
     * here, since the copy itself checks none.
     */

    private static void toBuffer(float[] src, int srcIndex, MutableDirectBuffer dst, int dstOffset, int count) {
        java.util.Objects.checkFromIndexSize(srcIndex, count, src.length);
        dst.boundsCheck(dstOffset, 4 * count);
        UnsafeAccess.UNSAFE.copyMemory(src, FLOAT_BASE + 4L * srcIndex, dst.byteArray(), dst.addressOffset() + dstOffset, 4L * count);
    }

    private static void fromBuffer(DirectBuffer src, int srcOffset, float[] dst, int dstIndex, int count) {
        java.util.Objects.checkFromIndexSize(dstIndex, count, dst.length);
        src.boundsCheck(srcOffset, 4 * count);
        UnsafeAccess.UNSAFE.copyMemory(src.byteArray(), src.addressOffset() + srcOffset, dst, FLOAT_BASE + 4L * dstIndex, 4L * count);
    }

    private static final long FLOAT_BASE = UnsafeAccess.UNSAFE.arrayBaseOffset(float[].class);

    /** A follower's largest logit of each argmax-only row: the only value in its columns, the others -inf. */
    private int readArgmax(DirectBuffer buf, int at) {
        for (int i = 0; i < argmaxCount; i++, at += 8) {
            int index = buf.getInt(at), row = argmaxRows[i] * vocab;
            if (index < columnStart || index >= columnStart + columns) return PROTOCOL;
            java.util.Arrays.fill(target, row + columnStart, row + columnStart + columns, Float.NEGATIVE_INFINITY);
            target[row + index] = buf.getFloat(at + 4);
        }
        return OK;
    }

    private int readStep(DirectBuffer buf, int at) {
        int ops = buf.getInt(at);
        at += 4;
        for (int i = 0; i < ops; i += 3, at += 12) {
            if (!stepKv.replay(buf.getInt(at), buf.getInt(at + 4), buf.getInt(at + 8))) return PROTOCOL;
        }
        int size = buf.getInt(at);
        at += 4;
        Batch b = stepBatch;
        b.clear();
        if (size > b.capacity()) return PROTOCOL;
        for (int t = 0; t < size; t++, at += 16) {
            int wants = buf.getInt(at + 12);
            int row = b.add(buf.getInt(at), buf.getInt(at + 4), buf.getInt(at + 8), wants != NO_LOGITS);
            if (wants == ARGMAX_LOGITS) b.onlyArgmax(row);
        }
        return OK;
    }

    @Override
    public void close() {
        closed = true;
        for (Publication p : publications) if (p != null) p.close();
        for (Subscription s : subscriptions) if (s != null) s.close();
    }
}
