package dev.troupe.node.openai;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.troupe.actors.replica.GenerationEvent;

import java.util.Objects;

/**
 * An error to send to an OpenAI-API client: the HTTP status and OpenAI's error body
 * {@code {"error":{"message":...,"type":...,"param":...,"code":...}}}.
 *
 * <p>The exception's message is the client-facing {@code message}. Instances are thrown by
 * {@link RequestParser} and may be built by the HTTP layer with the static factories.
 */
public final class ApiError extends RuntimeException {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final int status;
    private final String type;
    private final String param;
    private final String code;
    private final long retryAfterSeconds;

    /**
     * @param status  HTTP status
     * @param type    OpenAI error type, e.g. {@code invalid_request_error}
     * @param message human-readable message
     * @param param   the request parameter at fault, or null
     * @param code    a machine-readable code, or null
     */
    public ApiError(int status, String type, String message, String param, String code) {
        this(status, type, message, param, code, 0);
    }

    /** @param retryAfterSeconds the Retry-After to send with a 429 or 503 (0: the default of 1 s) */
    public ApiError(int status, String type, String message, String param, String code, long retryAfterSeconds) {
        // No stack trace: an ApiError is an answer to the client, not a bug report (internal failures are
        // logged with their own cause), and a flood of 4xx/429 should not pay for filling one in each time.
        super(Objects.requireNonNull(message, "message"), null, false, false);
        this.status = status;
        this.type = Objects.requireNonNull(type, "type");
        this.param = param;
        this.code = code;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /** 400, {@code invalid_request_error}. */
    public static ApiError badRequest(String message, String param) {
        return new ApiError(400, "invalid_request_error", message, param, null);
    }

    /** 400, {@code invalid_request_error}, with a code (e.g. {@code context_length_exceeded}). */
    public static ApiError badRequest(String message, String param, String code) {
        return new ApiError(400, "invalid_request_error", message, param, code);
    }

    /** 404, {@code invalid_request_error}, e.g. code {@code model_not_found}. */
    public static ApiError notFound(String message, String param, String code) {
        return new ApiError(404, "invalid_request_error", message, param, code);
    }

    /** 413, {@code invalid_request_error} (request body too large). */
    public static ApiError tooLarge(String message) {
        return new ApiError(413, "invalid_request_error", message, null, null);
    }

    /** 429, {@code rate_limit_error}. */
    public static ApiError rateLimited(String message) {
        return new ApiError(429, "rate_limit_error", message, null, null);
    }

    /** 429, {@code rate_limit_error}, with a code and the seconds to wait (sent as Retry-After). */
    public static ApiError rateLimited(String message, String code, long retryAfterSeconds) {
        return new ApiError(429, "rate_limit_error", message, null, code, retryAfterSeconds);
    }

    /** 503, {@code service_unavailable}. */
    public static ApiError unavailable(String message) {
        return new ApiError(503, "service_unavailable", message, null, null);
    }

    /** 504, {@code timeout}. */
    public static ApiError timeout(String message) {
        return new ApiError(504, "timeout", message, null, null);
    }

    /** 500, {@code server_error}. */
    public static ApiError internal(String message) {
        return new ApiError(500, "server_error", message, null, null);
    }

    /**
     * The error for a replica's {@link GenerationEvent.Failed}: QUEUE_FULL 429, DEADLINE_EXCEEDED 504,
     * SHUTTING_DOWN 503, TOO_LONG 400 with code {@code context_length_exceeded}, INVALID 400, INTERNAL 500, and CANCELLED
     * 499 (nginx's "client closed request"; nobody normally receives it since the client is gone).
     */
    public static ApiError forFailure(GenerationEvent.FailureKind kind, String message) {
        String m = message == null || message.isEmpty() ? kind.name().toLowerCase(java.util.Locale.ROOT) : message;
        return switch (kind) {
            case QUEUE_FULL -> rateLimited(m);
            case DEADLINE_EXCEEDED -> timeout(m);
            case SHUTTING_DOWN, REPLICA_LOST -> unavailable(m);
            case TOO_LONG -> badRequest(m, null, "context_length_exceeded");
            case CANCELLED -> new ApiError(499, "cancelled", m, null, null);
            case INTERNAL -> internal(m);
            case INVALID -> badRequest(m, null, null);
        };
    }

    public int status() {
        return status;
    }

    public String type() {
        return type;
    }

    /** The parameter at fault, or null. */
    public String param() {
        return param;
    }

    /** A machine-readable code, or null. */
    public String code() {
        return code;
    }

    /** Seconds for the Retry-After header; 0 when not set. */
    public long retryAfterSeconds() {
        return retryAfterSeconds;
    }

    /** {@code {"error":{"message":...,"type":...,"param":...,"code":...}}}, nulls as JSON null. */
    public String toJson() {
        ObjectNode root = MAPPER.createObjectNode();
        ObjectNode e = root.putObject("error");
        e.put("message", getMessage());
        e.put("type", type);
        e.put("param", param);
        e.put("code", code);
        try {
            return MAPPER.writeValueAsString(root);
        } catch (JsonProcessingException ex) {
            throw new IllegalStateException(ex);
        }
    }

    @Override
    public String toString() {
        return "ApiError[" + status + " " + type + (param == null ? "" : " param=" + param)
                + (code == null ? "" : " code=" + code) + "]: " + getMessage();
    }
}
