package dev.troupe.actors.replica;

import org.apache.pekko.actor.typed.ActorRef;

import java.util.ArrayList;
import java.util.List;

/**
 * One remote request's events on their way back to its gateway. The step loop's thread adds events (tokens
 * merge into the pending token event) and asks the entity to flush only when a batch may go; the entity's
 * thread sends everything pending as one batch while fewer than {@link #WINDOW} batches are unacknowledged.
 * So the loop never waits on the network, and a slow gateway gets fewer, larger batches.
 */
final class EventOutbox implements GenerationSink {
    /** Most batches of one request on the wire, unacknowledged. */
    static final int WINDOW = 4;

    private final String requestId;
    private final ActorRef<Replica.ToGateway> gateway;
    /** When the gateway last showed it waits for this request (entity thread only). */
    long heardNanos = System.nanoTime();
    private final ActorRef<Replica.Command> entity;
    // Guarded by this.
    private final List<GenerationEvent> pending = new ArrayList<>(2);
    private int unacked;
    private boolean flushAsked;
    private int nextSeq;

    EventOutbox(String requestId, ActorRef<Replica.ToGateway> gateway, ActorRef<Replica.Command> entity) {
        this.requestId = requestId;
        this.gateway = gateway;
        this.entity = entity;
    }

    /** Loop thread (or the submitting thread for a refusal). */
    @Override
    public void onEvent(GenerationEvent e) {
        boolean ask;
        synchronized (this) {
            int last = pending.size() - 1;
            if (e instanceof GenerationEvent.Tokens t && last >= 0 && pending.get(last) instanceof GenerationEvent.Tokens before) {
                pending.set(last, GenerationEvent.Tokens.merge(before, t));
            } else {
                pending.add(e);
            }
            ask = !flushAsked && unacked < WINDOW;
            if (ask) flushAsked = true;
        }
        if (ask) entity.tell(new Replica.Flush(requestId));
    }

    /** The gateway acknowledged a batch (entity thread). */
    synchronized void acked() {
        if (unacked > 0) unacked--;
    }

    /** Sends what is pending if the window allows (entity thread); true once the terminal event is sent. */
    boolean flush() {
        List<GenerationEvent> batch;
        int seq;
        synchronized (this) {
            flushAsked = false;
            if (pending.isEmpty() || unacked >= WINDOW) return false;
            batch = List.copyOf(pending);
            pending.clear();
            unacked++;
            seq = nextSeq++;
        }
        gateway.tell(new Replica.EventBatch(requestId, seq, batch, entity));
        return !(batch.get(batch.size() - 1) instanceof GenerationEvent.Tokens);
    }
}
