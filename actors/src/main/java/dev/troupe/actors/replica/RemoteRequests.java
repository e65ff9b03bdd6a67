package dev.troupe.actors.replica;

/**
 * Sees each request a replica's entity takes from a gateway on another node, before its step loop does: it
 * may wrap the request's sink (the node's tracing gives the request a span, a child of the gateway's, from
 * the request's traceparent). Runs on the entity's thread; the sink it returns runs on the loop's, so it
 * must stay as quick as any sink.
 */
@FunctionalInterface
public interface RemoteRequests {
    RemoteRequests NONE = (replica, request, sink) -> sink;

    /** replica: the replica's name on this node ({@code model@version}). */
    GenerationSink accepted(String replica, GenerationRequest request, GenerationSink sink);
}
