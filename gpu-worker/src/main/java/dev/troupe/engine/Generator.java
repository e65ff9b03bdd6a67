package dev.troupe.engine;

import dev.troupe.engine.kv.PagedKvCache;
import dev.troupe.engine.sampling.Sampler;
import dev.troupe.engine.sampling.SamplingParams;
import dev.troupe.engine.sampling.StopMatcher;
import dev.troupe.engine.sampling.TokenHistory;
import dev.troupe.engine.tokenizer.StreamDecoder;
import dev.troupe.engine.tokenizer.Tokenizer;

import java.util.function.Consumer;

/**
 * Generates one completion at a time on a model: prompt prefill in chunks of the engine's batch
 * size, then token-by-token decode with sampling, streaming decoding and stop strings. The serving
 * path batches many sequences itself; this is the simple path for the command line and tests.
 */
public final class Generator {
    /** Why generation ended, in OpenAI's words. */
    public enum FinishReason { STOP, LENGTH }

    public record Result(String text, int promptTokens, int completionTokens, FinishReason finishReason,
                         long prefillNanos, long decodeNanos) {}

    private final LlamaModel model;
    private final Tokenizer tokenizer;
    private final Batch batch;

    public Generator(LlamaModel model, Tokenizer tokenizer) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.batch = new Batch(model.maxBatchTokens());
    }

    public Tokenizer tokenizer() { return tokenizer; }

    /** Encodes the prompt as the model expects it (BOS as its vocabulary says). */
    public int[] encodePrompt(String prompt) {
        return tokenizer.encode(prompt, tokenizer.addBosByDefault());
    }

    /** Generates from a text prompt; onText receives the completion text as it becomes final (may be null). */
    public Result generate(String prompt, SamplingParams params, Consumer<String> onText) {
        return generate(encodePrompt(prompt), params, onText);
    }

    public Result generate(int[] prompt, SamplingParams params, Consumer<String> onText) {
        int ctx = model.config().contextLength();
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt has no tokens");
        if (prompt.length >= ctx) {
            throw new IllegalArgumentException("the prompt has " + prompt.length + " tokens; the context holds " + ctx);
        }
        int limit = Math.min(params.maxTokens(), ctx - prompt.length);
        PagedKvCache kv = model.kvCache();
        int seq = kv.open();
        if (seq < 0) throw new IllegalStateException("no free sequence slot in the KV cache");
        try {
            if (!kv.reserve(seq, prompt.length + limit)) {
                throw new IllegalStateException("KV cache has too few free blocks for " + (prompt.length + limit) + " tokens");
            }
            Sampler sampler = new Sampler(params, model.vocabSize());
            boolean greedy = sampler.readsOnlyArgmax(false, false);
            TokenHistory history = new TokenHistory();
            for (int t : prompt) history.add(t);
            StreamDecoder decoder = tokenizer.streamDecoder();
            StopMatcher stops = new StopMatcher(params.stop());
            StringBuilder text = new StringBuilder();

            // Prefill in chunks; logits only for the prompt's last token.
            long t0 = System.nanoTime();
            int chunk = model.maxBatchTokens();
            for (int from = 0; from < prompt.length; from += chunk) {
                int n = Math.min(chunk, prompt.length - from);
                batch.clear();
                int row = batch.addChunk(seq, prompt, from, n, from, from + n == prompt.length);
                if (row >= 0 && greedy) batch.onlyArgmax(row);
                model.forward(batch);
            }
            long t1 = System.nanoTime();

            FinishReason reason = FinishReason.LENGTH;
            int generated = 0;
            int pos = prompt.length;
            while (generated < limit) {
                int token = sampler.sample(model.logits(), 0, history);
                generated++;
                if (!params.ignoreEos() && tokenizer.isEndOfGeneration(token)) {
                    reason = FinishReason.STOP;
                    break;
                }
                history.add(token);
                String piece = stops.accept(decoder.push(token));
                emit(piece, text, onText);
                if (stops.stopped()) {
                    reason = FinishReason.STOP;
                    break;
                }
                if (generated == limit) break;
                batch.clear();
                int row = batch.add(seq, token, pos++, true);
                if (greedy) batch.onlyArgmax(row);
                model.forward(batch);
            }
            if (!stops.stopped()) emit(stops.accept(decoder.flush()) + stops.flush(), text, onText);
            long t2 = System.nanoTime();
            return new Result(text.toString(), prompt.length, generated, reason, t1 - t0, t2 - t1);
        } finally {
            kv.release(seq);
        }
    }

    private static void emit(String piece, StringBuilder text, Consumer<String> onText) {
        if (piece.isEmpty()) return;
        text.append(piece);
        if (onText != null) onText.accept(piece);
    }
}
