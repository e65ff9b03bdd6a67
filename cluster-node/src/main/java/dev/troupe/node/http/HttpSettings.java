package dev.troupe.node.http;

import com.typesafe.config.Config;

import java.time.Duration;

/**
 * The HTTP API's settings ({@code troupe.http}, {@code troupe.health}).
 *
 * @param maxConnections connections served at once; more wait in the accept backlog
 * @param idleTimeout    a connection without a request in progress (idle keep-alive, or headers still arriving) is closed after this
 * @param shedAt         from this many open connections on, those idle for shedIdleAfter are closed
 * @param bodyTimeout    a request body must arrive whole within this (408 otherwise)
 * @param corsOrigins    browser origins allowed by CORS besides localhost's ({@link Cors})
 * @param allowedHosts   Host header names a loopback-bound node answers besides loopback's and its own ({@link BrowserGuard})
 */
public record HttpSettings(String host, int port, long maxBodyBytes, Duration requestTimeout, Duration maxHeartbeatAge,
                           int maxConnections, Duration idleTimeout, int shedAt, Duration shedIdleAfter, Duration bodyTimeout,
                           java.util.List<String> allowedHosts, java.util.List<String> corsOrigins) {
    /** The same settings for a server bound at host:port. */
    public HttpSettings withAddress(String host, int port) {
        return new HttpSettings(host, port, maxBodyBytes, requestTimeout, maxHeartbeatAge, maxConnections, idleTimeout, shedAt, shedIdleAfter,
                bodyTimeout, allowedHosts, corsOrigins);
    }

    public HttpSettings {
        if (maxConnections < 2) throw new IllegalArgumentException("troupe.http.max-connections must be at least 2, got " + maxConnections);
        if (shedAt < 1 || shedAt > maxConnections) {
            throw new IllegalArgumentException("troupe.http.shed-at must be 1..max-connections, got " + shedAt);
        }
    }

    public static HttpSettings from(Config c) {
        int max = c.getInt("troupe.http.max-connections");
        double shed = c.getDouble("troupe.http.shed-at");
        return new HttpSettings(c.getString("troupe.http.host"), c.getInt("troupe.http.port"),
                c.getBytes("troupe.http.max-body-bytes"), c.getDuration("troupe.http.request-timeout"),
                c.getDuration("troupe.health.max-heartbeat-age"), max, c.getDuration("troupe.http.idle-timeout"),
                Math.max(1, (int) Math.floor(max * shed)), c.getDuration("troupe.http.shed-idle-after"),
                c.getDuration("troupe.http.body-timeout"), c.getStringList("troupe.http.allowed-hosts"),
                c.getStringList("troupe.http.cors.allowed-origins"));
    }
}
