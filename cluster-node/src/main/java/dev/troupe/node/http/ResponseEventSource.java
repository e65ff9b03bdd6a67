package dev.troupe.node.http;

import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.actors.replica.GenerationSink;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.Outlet;
import org.apache.pekko.stream.SourceShape;
import org.apache.pekko.stream.stage.AbstractOutHandler;
import org.apache.pekko.stream.stage.AsyncCallback;
import org.apache.pekko.stream.stage.GraphStage;
import org.apache.pekko.stream.stage.GraphStageLogic;

import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;

/**
 * A streaming request's events into the HTTP response: the sink side runs on the replica's delivering
 * thread (a local step loop's, or the stream receiver's for a remote replica), the source side is a
 * one-shot stream stage. Tokens that arrive while the
 * response is still writing earlier ones are merged into one event (one SSE chunk): a stream that keeps up
 * gets a chunk per step, one that falls behind costs one write per catch-up instead of one per token, and
 * the loop thread wakes the stream only when it is waiting for an event. Holds at most a few events: the
 * merged tokens and the terminal one.
 */
final class ResponseEventSource extends GraphStage<SourceShape<GenerationEvent>> implements GenerationSink {
    private final Outlet<GenerationEvent> out = Outlet.create("ResponseEventSource.out");
    private final SourceShape<GenerationEvent> shape = SourceShape.of(out);
    private final Object lock = new Object();
    private final ArrayDeque<GenerationEvent> pending = new ArrayDeque<>(2);
    /** Completes with the request's first event (tokens, or refused/failed), or null once its first step runs. */
    private final CompletableFuture<GenerationEvent> first = new CompletableFuture<>();
    private AsyncCallback<Void> wake;   // under lock; set when the stage starts
    private boolean waiting;            // under lock; the stage was pulled and found nothing
    private boolean materialized;

    /**
     * The first event, whatever it is, or null when the request started before any: the HTTP side answers with an
     * error or starts the stream on it (on a start, while the prefill runs).
     */
    CompletableFuture<GenerationEvent> first() { return first; }

    /** Called on the loop thread when the request's first step runs: nothing can refuse it now. */
    @Override
    public void onStarted() { first.complete(null); }

    @Override
    public SourceShape<GenerationEvent> shape() { return shape; }

    /** Called on the loop thread: queue (or merge) and wake the stream if it waits. Never blocks on the stream. */
    @Override
    public void onEvent(GenerationEvent e) {
        AsyncCallback<Void> w = null;
        synchronized (lock) {
            if (e instanceof GenerationEvent.Tokens t && pending.peekLast() instanceof GenerationEvent.Tokens before) {
                pending.pollLast();
                pending.addLast(GenerationEvent.Tokens.merge(before, t));
            } else {
                pending.addLast(e);
            }
            if (waiting) {
                waiting = false;
                w = wake;
            }
        }
        first.complete(e);
        if (w != null) w.invoke(null);
    }

    @Override
    public GraphStageLogic createLogic(Attributes inheritedAttributes) {
        synchronized (lock) {
            if (materialized) throw new IllegalStateException("a request's event source runs once");
            materialized = true;
        }
        return new GraphStageLogic(shape) {
            {
                setHandler(out, new AbstractOutHandler() {
                    @Override
                    public void onPull() { deliver(); }
                });
            }

            @Override
            public void preStart() {
                AsyncCallback<Void> cb = createAsyncCallback(x -> { if (isAvailable(out)) deliver(); });
                synchronized (lock) { wake = cb; }
            }

            private void deliver() {
                GenerationEvent e;
                synchronized (lock) {
                    e = pending.pollFirst();
                    if (e == null) {
                        waiting = true;
                        return;
                    }
                }
                push(out, e);
                if (!(e instanceof GenerationEvent.Tokens)) completeStage(); // Finished or Failed: nothing follows
            }
        };
    }
}
