package dev.troupe.actors.replica;

import dev.troupe.engine.LlamaModel;
import dev.troupe.engine.tokenizer.Tokenizer;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * The continuous-batching loop of one replica: a dedicated thread that owns the model, asks the pure
 * {@code BatchScheduler} each iteration which sequences prefill (chunked) and which decode, runs one
 * forward step for all of them, samples, decodes text (stop strings, UTF-8 safe) and tells each
 * request's sink. Every accepted request ends in exactly one Finished or Failed event.
 * No Pekko here: the Replica actor wraps it.
 */
public final class StepLoop implements AutoCloseable {
    /**
     * @param maxNumSeqs        most sequences in the running batch
     * @param maxBatchedTokens  most tokens per step (prefill chunks + decode tokens)
     * @param maxQueued         most requests waiting to start; beyond that submit refuses (429)
     * @param idleWait          how long the loop sleeps with nothing to do before checking again
     */
    public record Config(int maxNumSeqs, int maxBatchedTokens, int maxQueued, Duration idleWait) {
        public static Config defaults() {
            return new Config(32, 512, 256, Duration.ofMillis(50));
        }
    }

    /** A snapshot for metrics and readiness. */
    public record Stats(int running, int waiting, int kvBlocksUsed, int kvBlocksFree, long steps,
                        long promptTokens, long generatedTokens, long preemptions, long lastHeartbeatNanos) {}

    public StepLoop(LlamaModel model, Tokenizer tokenizer, Config config) {
        throw new UnsupportedOperationException("not yet");
    }

    /** Starts the loop thread. */
    public void start() {
        throw new UnsupportedOperationException("not yet");
    }

    /**
     * Queues a request. Thread-safe, never blocks. Returns false (and tells the sink nothing) when the
     * queue is full or the loop is draining/closed: the caller answers 429/503 itself.
     */
    public boolean submit(GenerationRequest request, GenerationSink sink) {
        throw new UnsupportedOperationException("not yet");
    }

    /** Cancels a request (thread-safe); its slot and KV blocks are free at the next iteration. */
    public void cancel(String requestId) {
        throw new UnsupportedOperationException("not yet");
    }

    /**
     * Embedding of a token sequence: the final normalised hidden states, mean-pooled over the tokens
     * and L2-normalised. Runs on the loop thread between steps.
     */
    public CompletableFuture<float[]> embed(int[] tokens) {
        throw new UnsupportedOperationException("not yet");
    }

    /** When the loop last completed an iteration (busy or idle), on the System.nanoTime clock. */
    public long lastHeartbeatNanos() {
        throw new UnsupportedOperationException("not yet");
    }

    public Stats stats() {
        throw new UnsupportedOperationException("not yet");
    }

    /**
     * Stops accepting; running and queued requests may finish within the grace period; whatever is left
     * then ends with Failed(SHUTTING_DOWN). Completes when nothing is in flight.
     */
    public CompletableFuture<Void> drain(Duration grace) {
        throw new UnsupportedOperationException("not yet");
    }

    /** Stops the thread (in-flight requests end with Failed(SHUTTING_DOWN)) and closes nothing else. */
    @Override
    public void close() {
        throw new UnsupportedOperationException("not yet");
    }
}
