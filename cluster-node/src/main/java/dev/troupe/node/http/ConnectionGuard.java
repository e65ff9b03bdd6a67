package dev.troupe.node.http;

import org.apache.pekko.Done;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.IncomingConnection;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.HttpEntity;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.SharedKillSwitch;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.util.ByteString;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Binds the HTTP server and keeps a flood of idle connections from locking everyone out. Pekko holds an idle
 * connection for its idle-timeout whether or not others wait, and serves at most max-connections: 1,100 clients
 * that connect and send nothing took every slot. Here each connection is either busy (a request read, its
 * response not yet written out) or idle (nothing sent yet, headers still arriving, or kept alive between
 * requests). An idle connection is closed after {@link HttpSettings#idleTimeout()} (which also bounds how long
 * request headers may take), and while at least {@link HttpSettings#shedAt()} connections are open, after
 * {@link HttpSettings#shedIdleAfter()}: the slots go to clients that send requests. Busy connections are never
 * closed here (their bodies are bounded by the body timeout, their responses by the request timeout).
 */
public final class ConnectionGuard {
    private static final Logger log = LoggerFactory.getLogger(ConnectionGuard.class);

    private final HttpSettings settings;
    private final Set<Conn> open = ConcurrentHashMap.newKeySet();

    public ConnectionGuard(HttpSettings settings) {
        this.settings = settings;
    }

    /** Binds host:port and serves every connection with handler (materialised once per connection). */
    public CompletionStage<ServerBinding> bind(ActorSystem<?> system, Flow<HttpRequest, HttpResponse, ?> handler) {
        Materializer mat = Materializer.matFromSystem(system);
        CompletionStage<ServerBinding> bound = Http.get(system).newServerAt(settings.host(), settings.port()).connectionSource()
                // At most max-connections served; the next connection is accepted when one of them ends.
                .mapAsyncUnordered(settings.maxConnections(), c -> serve(c, handler, mat))
                .to(Sink.ignore())
                .run(mat);
        Duration every = sweepInterval();
        system.scheduler().scheduleAtFixedRate(every, every, this::sweep, system.executionContext());
        return bound;
    }

    private final java.util.concurrent.atomic.AtomicLong shedTotal = new java.util.concurrent.atomic.AtomicLong();

    /** Open connections. */
    public int open() {
        return open.size();
    }

    /** Idle connections closed under pressure so far. */
    public long shed() {
        return shedTotal.get();
    }

    private Duration sweepInterval() {
        long ms = Math.min(settings.idleTimeout().toMillis(), settings.shedIdleAfter().toMillis()) / 2;
        return Duration.ofMillis(Math.max(50, Math.min(1000, ms)));
    }

    private CompletionStage<Done> serve(IncomingConnection c, Flow<HttpRequest, HttpResponse, ?> handler, Materializer mat) {
        Conn conn = new Conn();
        open.add(conn);
        try {
            Flow<HttpRequest, HttpResponse, NotUsed> guarded = Flow.of(HttpRequest.class)
                    .via(conn.kill.flow())
                    .map(r -> {
                        conn.busy.incrementAndGet();
                        return r;
                    })
                    .via(handler)
                    .map(conn::untilWritten)
                    .via(conn.kill.flow());
            return c.flow().watchTermination(Keep.right()).joinMat(guarded, Keep.left()).run(mat)
                    .handle((d, t) -> {
                        open.remove(conn);
                        return Done.getInstance();
                    });
        } catch (RuntimeException e) {
            open.remove(conn);
            return CompletableFuture.completedFuture(Done.getInstance());
        }
    }

    /** Closes idle connections past their limit: the idle timeout always, the short one under pressure. */
    void sweep() {
        long now = System.nanoTime();
        int count = open.size();
        boolean pressure = count >= settings.shedAt();
        long idleLimit = settings.idleTimeout().toNanos();
        long shedLimit = settings.shedIdleAfter().toNanos();
        int shed = 0;
        for (Conn c : open) {
            if (c.busy.get() > 0) continue;
            long idle = now - c.idleSince;
            if (idle >= idleLimit || (pressure && idle >= shedLimit)) {
                if (c.close() && pressure) shed++;
            }
        }
        shedTotal.addAndGet(shed);
        if (shed > 0) log.warn("{} connections open (shedding from {}): closed {} idle ones", count, settings.shedAt(), shed);
    }

    private static final class Conn {
        final SharedKillSwitch kill = KillSwitches.shared("connection");
        final AtomicInteger busy = new AtomicInteger();
        final AtomicBoolean closed = new AtomicBoolean();
        volatile long idleSince = System.nanoTime();

        /** The response, counted busy until its entity has been written out (a stream's last chunk). */
        HttpResponse untilWritten(HttpResponse r) {
            HttpEntity e = r.entity();
            if (e.isKnownEmpty() || e instanceof HttpEntity.Strict) {
                idle();
                return r;
            }
            AtomicBoolean once = new AtomicBoolean();
            Flow<ByteString, ByteString, NotUsed> watched = Flow.of(ByteString.class).watchTermination((m, done) -> {
                done.whenComplete((d, t) -> {
                    if (once.compareAndSet(false, true)) idle();
                });
                return m;
            });
            @SuppressWarnings({"unchecked", "rawtypes"})
            org.apache.pekko.stream.scaladsl.Flow<ByteString, ByteString, Object> scala = (org.apache.pekko.stream.scaladsl.Flow) watched.asScala();
            // A body of known length keeps its Content-Length (a plain transform would make it chunked).
            if (e instanceof org.apache.pekko.http.scaladsl.model.HttpEntity.Default known) {
                return r.withEntity((org.apache.pekko.http.javadsl.model.ResponseEntity) known.transformDataBytes(known.contentLength(), scala));
            }
            return r.withEntity(((org.apache.pekko.http.scaladsl.model.ResponseEntity) e).transformDataBytes(scala));
        }

        void idle() {
            idleSince = System.nanoTime();
            busy.decrementAndGet();
        }

        /** Ends the connection (completes its responses, cancels its requests: Pekko closes the socket). */
        boolean close() {
            if (!closed.compareAndSet(false, true)) return false;
            kill.shutdown();
            return true;
        }
    }
}
