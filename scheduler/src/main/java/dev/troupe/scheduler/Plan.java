package dev.troupe.scheduler;

import java.util.ArrayList;

/**
 * One iteration's work: for each scheduled sequence, the token positions [start, start + count) to run
 * (a prefill chunk, or one decode token) and whether the step should produce logits for the last of
 * them (it reaches the end of the sequence's tokens, so the next token gets sampled). Reused by its
 * scheduler from iteration to iteration: read it before the next {@link BatchScheduler#plan()}.
 */
public final class Plan<T> {
    private final ArrayList<ScheduledSequence<T>> seqs = new ArrayList<>();
    private int[] starts = new int[16];
    private int[] counts = new int[16];
    private int tokens;

    void clear() {
        seqs.clear();
        tokens = 0;
    }

    void add(ScheduledSequence<T> seq, int start, int count) {
        int i = seqs.size();
        if (i == starts.length) {
            starts = java.util.Arrays.copyOf(starts, i * 2);
            counts = java.util.Arrays.copyOf(counts, i * 2);
        }
        seqs.add(seq);
        starts[i] = start;
        counts[i] = count;
        tokens += count;
    }

    /** Removes a sequence's entry (it was preempted after being planned); returns its token count, 0 if absent. */
    int remove(ScheduledSequence<T> seq) {
        int i = seqs.indexOf(seq);
        if (i < 0) return 0;
        int n = counts[i];
        seqs.remove(i);
        System.arraycopy(starts, i + 1, starts, i, seqs.size() - i);
        System.arraycopy(counts, i + 1, counts, i, seqs.size() - i);
        tokens -= n;
        return n;
    }

    boolean contains(ScheduledSequence<T> seq) { return seqs.contains(seq); }

    public int size() { return seqs.size(); }

    public boolean isEmpty() { return seqs.isEmpty(); }

    public ScheduledSequence<T> sequence(int i) { return seqs.get(i); }

    /** First position (= index into the sequence's tokens) of entry i. */
    public int start(int i) { return starts[i]; }

    public int count(int i) { return counts[i]; }

    /** Whether entry i ends at the sequence's last token, so its logits sample the next token. */
    public boolean wantsLogits(int i) { return starts[i] + counts[i] == seqs.get(i).totalTokens; }

    /** Tokens in the whole plan. */
    public int tokens() { return tokens; }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("Plan[");
        for (int i = 0; i < seqs.size(); i++) {
            if (i > 0) sb.append(", ");
            sb.append('#').append(seqs.get(i).arrival()).append(' ').append(starts[i]).append('+').append(counts[i]);
        }
        return sb.append(']').toString();
    }
}
