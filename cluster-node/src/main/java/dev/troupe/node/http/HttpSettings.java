package dev.troupe.node.http;

import com.typesafe.config.Config;

import java.time.Duration;

/** The HTTP API's settings ({@code troupe.http}, {@code troupe.health}). */
public record HttpSettings(String host, int port, long maxBodyBytes, Duration requestTimeout, Duration maxHeartbeatAge) {
    public static HttpSettings from(Config c) {
        return new HttpSettings(c.getString("troupe.http.host"), c.getInt("troupe.http.port"),
                c.getBytes("troupe.http.max-body-bytes"), c.getDuration("troupe.http.request-timeout"),
                c.getDuration("troupe.health.max-heartbeat-age"));
    }
}
