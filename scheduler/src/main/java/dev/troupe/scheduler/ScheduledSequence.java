package dev.troupe.scheduler;

/**
 * One sequence as the scheduler tracks it: how many tokens it has (prompt + generated so far), how many
 * of them are in the KV cache, and its KV slot while it runs. The payload is the caller's own state.
 * Mutated only by {@link BatchScheduler}.
 */
public final class ScheduledSequence<T> {
    public enum State { WAITING, RUNNING, FINISHED }

    private final T payload;
    private final long arrival;
    private final int promptTokens;
    private final int maxNewTokens;
    private final String tenant;
    private final int weight;
    /** The wait queue's own per-sequence bookkeeping (a fair queue keeps its tenant's state here). */
    Object queueTag;
    int totalTokens;
    int computedTokens;
    /** Positions already charged to the tenant as service (not reset by a preemption). */
    int chargedTokens;
    int slot = -1;
    State state = State.WAITING;
    boolean everScheduled;
    int preemptions;
    /** Positions taken from the prefix cache instead of computed, over all its admissions. */
    int cachedTokens;

    ScheduledSequence(T payload, long arrival, int promptTokens, int maxNewTokens, String tenant, int weight) {
        this.payload = payload;
        this.arrival = arrival;
        this.promptTokens = promptTokens;
        this.maxNewTokens = maxNewTokens;
        this.tenant = tenant;
        this.weight = weight;
        this.totalTokens = promptTokens;
    }

    public T payload() { return payload; }

    /** Arrival order: lower is older. Preemption picks the running sequence with the highest. */
    public long arrival() { return arrival; }

    public int promptTokens() { return promptTokens; }

    public int maxNewTokens() { return maxNewTokens; }

    /** Whose sequence it is, for fair scheduling. */
    public String tenant() { return tenant; }

    /** The tenant's weight as this sequence's request gave it (>= 1): its share of the node relative to others. */
    public int weight() { return weight; }

    /** Prompt + generated tokens so far. */
    public int totalTokens() { return totalTokens; }

    /** Tokens whose keys and values are in the KV cache (reset to 0 by a preemption). */
    public int computedTokens() { return computedTokens; }

    /** The KV slot while running, else -1. */
    public int slot() { return slot; }

    public State state() { return state; }

    /** Whether it has been in a step at least once (it has left the queue of never-started requests). */
    public boolean everScheduled() { return everScheduled; }

    public int preemptions() { return preemptions; }

    public int cachedTokens() { return cachedTokens; }

    @Override
    public String toString() {
        return "Seq#" + arrival + "[" + state + " " + computedTokens + "/" + totalTokens + " slot " + slot + "]";
    }
}
