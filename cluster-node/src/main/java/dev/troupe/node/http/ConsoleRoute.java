package dev.troupe.node.http;

import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;

import java.util.List;

/**
 * The web console at {@code /console}: static HTML, CSS and ES modules from the jar ({@code console/} on the
 * class path), no build step and nothing fetched from elsewhere. The page calls the same HTTP APIs as any client
 * (the admin API with the token the user types, kept in the browser's session storage), so every check the API
 * makes applies to it. See docs/console.md.
 */
public final class ConsoleRoute extends AllDirectives {
    /**
     * Only this origin's scripts, styles and connections; no framing (an admin page must not be clickjacked),
     * no plugins, no forms posted anywhere.
     */
    static final String CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            + "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

    private static final List<org.apache.pekko.http.javadsl.model.HttpHeader> HEADERS = List.of(
            RawHeader.create("Content-Security-Policy", CSP),
            RawHeader.create("X-Content-Type-Options", "nosniff"),
            RawHeader.create("X-Frame-Options", "DENY"),
            RawHeader.create("Referrer-Policy", "no-referrer"),
            // A node upgraded in place serves the new page at once.
            RawHeader.create("Cache-Control", "no-cache"));

    public Route route() {
        return pathPrefix("console", () -> get(() -> respondWithHeaders(HEADERS, () -> concat(
                pathEnd(() -> getFromResource("console/index.html", ContentTypes.TEXT_HTML_UTF8)),
                pathSingleSlash(() -> getFromResource("console/index.html", ContentTypes.TEXT_HTML_UTF8)),
                getFromResourceDirectory("console")))));
    }
}
