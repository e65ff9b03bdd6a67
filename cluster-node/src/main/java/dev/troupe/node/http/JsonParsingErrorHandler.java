package dev.troupe.node.http;

import dev.troupe.node.openai.ApiError;
import org.apache.pekko.event.LoggingAdapter;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.scaladsl.model.ErrorInfo;
import org.apache.pekko.http.scaladsl.model.StatusCode;
import org.apache.pekko.http.scaladsl.settings.ServerSettings;

/**
 * Pekko HTTP's answer to a request it cannot parse (a bad request line or header, headers too large, a bad
 * chunked framing), before any route sees it: an OpenAI-style JSON error instead of Pekko's plain text.
 * Configured by {@code pekko.http.server.parsing.error-handler}, which Pekko loads as a Scala object (the
 * static {@code MODULE$}). It logs no details: they quote the offending header, which may be an API key.
 */
public final class JsonParsingErrorHandler extends org.apache.pekko.http.ParsingErrorHandler {
    public static final JsonParsingErrorHandler MODULE$ = new JsonParsingErrorHandler();
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(JsonParsingErrorHandler.class);

    private JsonParsingErrorHandler() {}

    @Override
    public HttpResponse handle(StatusCode status, ErrorInfo info, LoggingAdapter pekkoLog, ServerSettings settings) {
        int code = status.intValue();
        log.debug("unparseable request answered {}", code);
        String summary = info.summary() == null || info.summary().isBlank() ? status.reason() : info.summary();
        String type = code == 408 ? "timeout" : code >= 500 ? "server_error" : "invalid_request_error";
        return HttpApi.error(new ApiError(code, type, "the request could not be parsed: " + summary, null, "malformed_request"))
                .addHeader(org.apache.pekko.http.javadsl.model.headers.RawHeader.create(HttpApi.REQUEST_ID_HEADER, "req-" + HttpApi.randomId()));
    }
}
