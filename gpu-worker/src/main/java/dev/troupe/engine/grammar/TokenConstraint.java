package dev.troupe.engine.grammar;

import java.util.Arrays;
import java.util.List;

/**
 * Constrained decoding for one sequence: which tokens may be sampled next so that the completion stays a prefix
 * of JSON of the given shape, and the end of generation only once the value is complete.
 *
 * <p>Each step, {@link #allowed} walks the vocabulary's {@link TokenTrie} from the current parse states, byte by
 * byte, keeping a subtree only while some state can read its prefix; its cost is the number of trie nodes that
 * stay valid (all of them inside a free-form string, few elsewhere), and it allocates the states it tries.
 * Not thread-safe: one per sequence, used by the thread that samples it.
 */
public final class TokenConstraint {
    private final TokenTrie trie;
    private final JsonMatcher matcher;
    private final MaskCache cache;

    public TokenConstraint(JsonShape shape, TokenTrie trie) {
        this(shape, trie, null);
    }

    /** With a cache of masks by parse state, shared by the constraints of one thread (a step loop's). */
    public TokenConstraint(JsonShape shape, TokenTrie trie, MaskCache cache) {
        this.trie = trie;
        this.matcher = new JsonMatcher(shape);
        this.cache = cache;
    }

    /**
     * The masks of the parse states seen last, least recently used first out: inside a free-form string the
     * states repeat from token to token, and walking the trie there visits nearly all of it (milliseconds for a
     * 32k vocabulary), so a repeat costs a copy instead. Not thread-safe.
     */
    public static final class MaskCache {
        private final java.util.LinkedHashMap<List<JsonMatcher.Stack>, long[]> masks;

        public MaskCache(int capacity) {
            this.masks = new java.util.LinkedHashMap<>(16, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(java.util.Map.Entry<List<JsonMatcher.Stack>, long[]> eldest) {
                    return size() > capacity;
                }
            };
        }
    }

    /**
     * Sets in {@code mask} (one bit per token id, {@code (vocabSize + 63) / 64} longs) the tokens that may come
     * next, clearing the others; returns how many are allowed.
     */
    public int allowed(long[] mask) {
        if (cache == null) return walk(mask);
        long[] known = cache.masks.get(matcher.states());
        if (known != null) {
            System.arraycopy(known, 0, mask, 0, mask.length);
            return (int) known[mask.length];
        }
        int count = walk(mask);
        long[] copy = Arrays.copyOf(mask, mask.length + 1);
        copy[mask.length] = count;
        cache.masks.put(matcher.states(), copy);
        return count;
    }

    private int walk(long[] mask) {
        Arrays.fill(mask, 0L);
        int count = 0;
        if (matcher.complete()) {
            for (int t : trie.endTokens) {
                mask[t >>> 6] |= 1L << t;
                count++;
            }
        }
        return count + walk(trie.root, matcher.states(), mask);
    }

    private static int walk(TokenTrie.Node node, List<JsonMatcher.Stack> states, long[] mask) {
        int count = 0;
        for (int k = 0; k < node.bytes.length; k++) {
            List<JsonMatcher.Stack> next = JsonMatcher.step(states, node.bytes[k]);
            if (next.isEmpty()) continue;
            TokenTrie.Node child = node.children[k];
            for (int t : child.tokens) {
                mask[t >>> 6] |= 1L << t;
                count++;
            }
            count += walk(child, next, mask);
        }
        return count;
    }

    /** Advances past a sampled token's bytes; false if they do not fit (the token was not allowed). */
    public boolean accept(byte[] tokenBytes) {
        return matcher.accept(tokenBytes);
    }

    /** Whether the value is complete: an end-of-generation token is allowed now. */
    public boolean complete() {
        return matcher.complete();
    }

    /** Whether nothing may follow: the value is complete and cannot be extended. */
    public boolean finished() {
        return matcher.finished();
    }
}
