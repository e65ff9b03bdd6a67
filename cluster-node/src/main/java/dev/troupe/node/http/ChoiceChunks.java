package dev.troupe.node.http;

import dev.troupe.actors.replica.GenerationEvent;
import dev.troupe.node.openai.ChatTemplate;
import dev.troupe.node.openai.LogprobsAccumulator;
import dev.troupe.node.openai.ResponseRenderer;
import dev.troupe.node.openai.ToolCallStream;

import java.util.ArrayList;
import java.util.List;

/**
 * The SSE chunks of one choice of a streamed completion or chat completion, as its events come: the role first
 * (chat), content as it comes except what may start a tool call (held until the choice ends, then its calls or
 * the held text), and the finish chunk. Chunks render as choice {@code index}. Used by one thread at a time.
 */
final class ChoiceChunks {
    private final int index;
    private final boolean chat;
    private final String id;
    private final long created;
    private final String model;
    final TokenAccumulator tokens;
    private final ToolCallStream toolStream;
    private boolean roleSent;

    ChoiceChunks(int index, boolean chat, String id, long created, String model, TokenAccumulator tokens,
                 ChatTemplate.ToolCallFormat calls) {
        this.index = index;
        this.chat = chat;
        this.id = id;
        this.created = created;
        this.model = model;
        this.tokens = tokens;
        this.toolStream = calls != ChatTemplate.ToolCallFormat.NONE ? new ToolCallStream(calls) : null;
    }

    /** The chunks for a token event (none when it carries nothing to show). */
    List<String> tokens(GenerationEvent.Tokens t) {
        List<String> out = start();
        if (toolStream != null) {
            // Text that may start a tool call is held back until the reply ends (ToolCallStream).
            tokens.add(t);
            String now = toolStream.push(tokens.text());
            if (!now.isEmpty()) out.add(indexed(ResponseRenderer.chatChunk(id, created, model, null, now, null, null)));
            return out;
        }
        if (!tokens.add(t)) return out;
        LogprobsAccumulator lp = tokens.lastChunkLogprobs();
        out.add(indexed(chat
                ? ResponseRenderer.chatChunk(id, created, model, null, t.text(), null, lp)
                : ResponseRenderer.completionChunk(id, created, model, t.text(), null, lp)));
        return out;
    }

    /** The chunks that end the choice: held text or tool calls, then its finish reason. */
    List<String> finished(GenerationEvent.Finished f) {
        List<String> out = start();
        if (toolStream != null) {
            ToolCallStream.End end = toolStream.finish(tokens.text());
            if (end.content() != null && !end.content().isEmpty()) {
                out.add(indexed(ResponseRenderer.chatChunk(id, created, model, null, end.content(), null, null)));
            }
            if (!end.calls().isEmpty()) {
                out.add(indexed(ResponseRenderer.chatToolCallsChunk(id, created, model, end.calls())));
                out.add(indexed(ResponseRenderer.chatToolCallsFinishChunk(id, created, model, f.reason())));
                return out;
            }
        }
        out.add(indexed(chat
                ? ResponseRenderer.chatChunk(id, created, model, null, null, f.reason(), null)
                : ResponseRenderer.completionChunk(id, created, model, "", f.reason(), null)));
        return out;
    }

    /** A chat choice's first chunk names the role. */
    private List<String> start() {
        List<String> out = new ArrayList<>(3);
        if (chat && !roleSent) {
            roleSent = true;
            out.add(indexed(ResponseRenderer.chatChunk(id, created, model, "assistant", "", null, null)));
        }
        return out;
    }

    private String indexed(String chunk) {
        return ResponseRenderer.withIndex(chunk, index);
    }
}
