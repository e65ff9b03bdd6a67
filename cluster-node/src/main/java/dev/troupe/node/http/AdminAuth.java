package dev.troupe.node.http;

import dev.troupe.node.openai.ApiError;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Optional;

/**
 * The admin token check shared by every {@code /admin} route: {@code Authorization: Bearer <token>} with the
 * configured {@code troupe.admin.token}, compared in constant time; with no token configured admin calls
 * are refused.
 */
public final class AdminAuth {
    /** Who admin actions are recorded as in the event logs. */
    public static final String ACTOR = "admin";

    private final byte[] token;   // null: admin API disabled

    public AdminAuth(String adminToken) {
        this.token = adminToken == null || adminToken.isEmpty() ? null : adminToken.getBytes(StandardCharsets.UTF_8);
    }

    /** Null when the header carries the admin token; otherwise the 401/403 to answer. */
    public ApiError check(Optional<String> auth) {
        if (token == null) {
            return new ApiError(403, "permission_error", "the admin API is disabled: set troupe.admin.token (or TROUPE_ADMIN_TOKEN)", null, null);
        }
        if (auth.isEmpty() || !auth.get().startsWith("Bearer ")) {
            return new ApiError(401, "authentication_error", "admin calls need 'Authorization: Bearer <admin token>'", null, null);
        }
        byte[] given = auth.get().substring(7).trim().getBytes(StandardCharsets.UTF_8);
        if (!MessageDigest.isEqual(given, token)) {
            return new ApiError(403, "permission_error", "the admin token is not valid", null, null);
        }
        return null;
    }
}
