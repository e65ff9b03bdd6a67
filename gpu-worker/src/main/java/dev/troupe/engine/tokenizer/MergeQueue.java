package dev.troupe.engine.tokenizer;

import java.util.Arrays;

/**
 * A binary min-heap of candidate merges of two adjacent symbols, ordered by priority (lower first) and then
 * by the left symbol's index (leftmost first). Stored in parallel primitive arrays so that a tokenizer can
 * reuse one queue without allocating an object per candidate. Not thread-safe.
 */
final class MergeQueue {
    private long[] priority = new long[64];
    private int[] left = new int[64];
    private int[] right = new int[64];
    private int[] size = new int[64];
    private int n;

    // The entry most recently removed by poll().
    long polledPriority;
    int polledLeft;
    int polledRight;
    int polledSize;

    void clear() {
        n = 0;
    }

    boolean isEmpty() {
        return n == 0;
    }

    void add(long p, int l, int r, int s) {
        if (n == priority.length) {
            int cap = n * 2;
            priority = Arrays.copyOf(priority, cap);
            left = Arrays.copyOf(left, cap);
            right = Arrays.copyOf(right, cap);
            size = Arrays.copyOf(size, cap);
        }
        int i = n++;
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (!less(p, l, priority[parent], left[parent])) break;
            move(parent, i);
            i = parent;
        }
        set(i, p, l, r, s);
    }

    /** Removes the first entry into the polled* fields. The queue must not be empty. */
    void poll() {
        polledPriority = priority[0];
        polledLeft = left[0];
        polledRight = right[0];
        polledSize = size[0];
        int last = --n;
        if (last == 0) return;
        long p = priority[last];
        int l = left[last];
        int r = right[last];
        int s = size[last];
        int i = 0;
        while (true) {
            int c = 2 * i + 1;
            if (c >= last) break;
            if (c + 1 < last && less(priority[c + 1], left[c + 1], priority[c], left[c])) c++;
            if (!less(priority[c], left[c], p, l)) break;
            move(c, i);
            i = c;
        }
        set(i, p, l, r, s);
    }

    private static boolean less(long p1, int l1, long p2, int l2) {
        return p1 < p2 || (p1 == p2 && l1 < l2);
    }

    private void move(int from, int to) {
        priority[to] = priority[from];
        left[to] = left[from];
        right[to] = right[from];
        size[to] = size[from];
    }

    private void set(int i, long p, int l, int r, int s) {
        priority[i] = p;
        left[i] = l;
        right[i] = r;
        size[i] = s;
    }
}
