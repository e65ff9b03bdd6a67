package dev.troupe.node.http;

import dev.troupe.node.deploy.WeightsStore;
import dev.troupe.node.openai.ApiError;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;

import java.nio.file.Path;

import static org.apache.pekko.http.javadsl.server.PathMatchers.segment;

/**
 * {@code GET /internal/weights/{sha256}} (admin token): this node's copy of a model file, for a peer that
 * lacks it; Range requests let an interrupted fetch resume.
 */
public final class WeightsApi extends AllDirectives {
    private final WeightsStore store;
    private final AdminAuth auth;

    public WeightsApi(WeightsStore store, String adminToken) {
        this.store = store;
        this.auth = new AdminAuth(adminToken);
    }

    public Route route() {
        return path(segment("internal").slash("weights").slash(segment()), sha -> get(() -> optionalHeaderValueByName("Authorization", header -> {
            ApiError denied = auth.check(header);
            if (denied != null) return complete(HttpApi.error(denied));
            Path file = store.path(sha);
            if (file == null) return complete(HttpApi.error(ApiError.notFound("this node has no model file with sha256 " + sha, null, "no_such_file")));
            return withRangeSupport(() -> getFromFile(file.toFile()));
        })));
    }
}
