package dev.troupe.node.http;

import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Which browser origins may call the API ({@code troupe.http.cors.allowed-origins}). By default only pages served
 * from this machine (http(s)://localhost, 127.x.x.x or [::1], any port); {@code "*"} allows any origin. A
 * request from any other origin gets no CORS headers (the browser withholds the answer) and its preflight a 403.
 */
public final class Cors {
    /** The request headers a browser may send: what the OpenAI SDKs send. */
    static final String ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-Id, OpenAI-Organization, "
            + "OpenAI-Project, OpenAI-Beta, X-Stainless-Lang, X-Stainless-Package-Version, X-Stainless-OS, X-Stainless-Arch, "
            + "X-Stainless-Runtime, X-Stainless-Runtime-Version, X-Stainless-Retry-Count, X-Stainless-Timeout, traceparent";
    static final String ALLOW_METHODS = "GET, POST, PUT, DELETE, OPTIONS";
    /** Response headers a page may read. */
    static final String EXPOSE_HEADERS = "X-Request-Id, Retry-After, X-Troupe-Version, X-Troupe-Node";

    private final List<String> origins;
    private final boolean any;

    /** origins: exact origins ("https://app.example.com"); empty = localhost only; "*" = any. */
    public Cors(List<String> origins) {
        this.any = origins.contains("*");
        this.origins = origins.stream().map(o -> o.toLowerCase(Locale.ROOT)).toList();
    }

    /** Whether a page of this origin may read the API's answers. */
    public boolean allowed(Optional<String> origin) {
        if (origin.isEmpty()) return false;
        String o = origin.get().trim().toLowerCase(Locale.ROOT);
        if (any || origins.contains(o)) return true;
        return isLocal(o);
    }

    static boolean isLocal(String origin) {
        int scheme = origin.indexOf("://");
        if (scheme < 0) return false;
        String s = origin.substring(0, scheme);
        if (!s.equals("http") && !s.equals("https")) return false;
        String host = BrowserGuard.hostName(origin.substring(scheme + 3));
        return host.equals("localhost") || host.equals("::1") || host.matches("127\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}");
    }
}
