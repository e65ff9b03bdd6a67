package dev.troupe.embed;

/**
 * A request or an admin operation that Troupe refused or could not finish, with the status and code the
 * HTTP API would have answered with (see {@link TokenEvent.Failed}).
 */
public final class TroupeException extends RuntimeException {
    private final int status;
    private final String code;

    public TroupeException(int status, String code, String message) {
        super(message);
        this.status = status;
        this.code = code;
    }

    /** The HTTP status the same refusal gets over HTTP (400, 403, 404, 409, 429, 503, 504, 500). */
    public int status() {
        return status;
    }

    /** OpenAI's error code (e.g. {@code model_not_found}, {@code rate_limit_exceeded}); may be null. */
    public String code() {
        return code;
    }
}
