package dev.troupe.node.http;

import java.net.InetAddress;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/**
 * Keeps web pages from driving a node that answers without API keys (loopback, no tenants). A page cannot
 * reach loopback by its own origin, but it can POST a "simple" cross-origin request (text/plain, form) without
 * a CORS preflight, or rebind its own DNS name to 127.0.0.1 (DNS rebinding) and then read the answers. So
 * API bodies must be {@code application/json} (which a page can only send after a preflight, which this node
 * does not grant unless configured), and a node bound to loopback answers only requests whose Host names
 * loopback, its bound address or {@code troupe.http.allowed-hosts}.
 */
public final class BrowserGuard {
    private final boolean checkHost;
    private final Set<String> allowed = new HashSet<>();

    public BrowserGuard(String boundHost, List<String> allowedHosts) {
        this.checkHost = isLoopback(boundHost);
        allowed.add("localhost");
        allowed.add(boundHost.toLowerCase(Locale.ROOT));
        for (String h : allowedHosts) allowed.add(h.toLowerCase(Locale.ROOT));
    }

    /** Whether a request with this Host header may be served. */
    public boolean hostAllowed(Optional<String> hostHeader) {
        if (!checkHost) return true;
        if (hostHeader.isEmpty()) return false;
        String name = hostName(hostHeader.get().trim().toLowerCase(Locale.ROOT));
        if (allowed.contains(name) || name.equals("::1") || name.endsWith(".localhost")) return true;
        return name.matches("127\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}");
    }

    /** The name part of a Host header value: without the port, an IPv6 literal without its brackets. */
    static String hostName(String host) {
        if (host.startsWith("[")) {
            int end = host.indexOf(']');
            return end < 0 ? host : host.substring(1, end);
        }
        int colon = host.lastIndexOf(':');
        return colon < 0 ? host : host.substring(0, colon);
    }

    static boolean isLoopback(String host) {
        if (host.equalsIgnoreCase("localhost")) return true;
        try {
            // Only literals: a name is not resolved here.
            if (!host.matches("[0-9.]+") && !host.contains(":")) return false;
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (java.net.UnknownHostException e) {
            return false;
        }
    }
}
