package dev.troupe.node.http;

import org.apache.pekko.http.javadsl.model.AttributeKey;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.stream.javadsl.Flow;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * One client connection's lifetime, so a request can be cancelled when its client goes away before any of
 * the response was written: while it waits in a replica's queue, or generates a plain (non-streaming)
 * response. Pekko HTTP tells a request nothing of that; {@link #watching} gives each connection a scope that
 * closes when its request stream ends: the client closed or reset the connection, or the server closed it.
 * A request whose response is still pending then has no one to answer, so a close cancels it. (After a
 * {@code Connection: close} request the stream ends only once the response went out.)
 */
final class ConnectionScope {
    private static final Logger log = LoggerFactory.getLogger(ConnectionScope.class);
    static final AttributeKey<ConnectionScope> KEY = AttributeKey.create("troupe-connection", ConnectionScope.class);
    /** For requests that came without a scope (a route used outside {@link #watching}): never closes. */
    static final ConnectionScope NONE = new ConnectionScope();

    /** Undoes one {@link #onClose} registration; idempotent. */
    interface Registration {
        void remove();
    }

    private final Set<Runnable> onClose = new LinkedHashSet<>();
    private boolean closed;

    /** The route's flow with a scope per connection, attached to each request (attribute {@link #KEY}). */
    static Flow<HttpRequest, HttpResponse, ?> watching(Flow<HttpRequest, HttpResponse, ?> routes) {
        return Flow.fromMaterializer((mat, attributes) -> {
            ConnectionScope scope = new ConnectionScope();
            return Flow.of(HttpRequest.class)
                    .watchTermination((m, done) -> {
                        done.whenComplete((d, t) -> scope.close());
                        return m;
                    })
                    .map(r -> r.addAttribute(KEY, scope))
                    .via(routes);
        });
    }

    /** The scope of the connection the request came on ({@link #NONE} when it has none). */
    static ConnectionScope of(HttpRequest request) {
        return request.getAttribute(KEY).orElse(NONE);
    }

    /** Runs action when the connection closes (at once if it has); remove the registration when the request ends. */
    Registration onClose(Runnable action) {
        if (this == NONE) return () -> { };
        boolean now;
        synchronized (this) {
            now = closed;
            if (!now) onClose.add(action);
        }
        if (now) run(action);
        return () -> {
            synchronized (this) {
                onClose.remove(action);
            }
        };
    }

    /** Registrations still waiting for the close (for tests: a connection must not collect them). */
    synchronized int pending() {
        return onClose.size();
    }

    void close() {
        List<Runnable> due;
        synchronized (this) {
            if (closed) return;
            closed = true;
            due = new ArrayList<>(onClose);
            onClose.clear();
        }
        for (Runnable r : due) run(r);
    }

    private static void run(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            log.warn("cancelling a request of a closed connection failed", e);
        }
    }
}
