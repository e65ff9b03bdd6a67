package dev.troupe.engine.grammar;

import dev.troupe.engine.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

/**
 * A vocabulary's tokens arranged by their bytes, so that a constraint tries each distinct prefix once instead of
 * each token from scratch. Tokens with no bytes (control tokens) are left out; the end-of-generation tokens are
 * listed apart. Built once per tokenizer and shared; immutable.
 */
public final class TokenTrie {
    /** One node: the byte that leads here from its parent, its children, and the tokens whose bytes end here. */
    static final class Node {
        final int[] bytes;
        final Node[] children;
        final int[] tokens;

        Node(int[] bytes, Node[] children, int[] tokens) {
            this.bytes = bytes;
            this.children = children;
            this.tokens = tokens;
        }
    }

    final Node root;
    final int vocabSize;
    final int[] endTokens;

    private TokenTrie(Node root, int vocabSize, int[] endTokens) {
        this.root = root;
        this.vocabSize = vocabSize;
        this.endTokens = endTokens;
    }

    public static TokenTrie of(Tokenizer tokenizer) {
        Builder root = new Builder();
        List<Integer> ends = new ArrayList<>();
        int n = tokenizer.vocabSize();
        for (int id = 0; id < n; id++) {
            if (tokenizer.isEndOfGeneration(id)) {
                ends.add(id);
                continue;
            }
            byte[] b = tokenizer.tokenBytes(id);
            if (b.length == 0) continue;
            Builder node = root;
            for (byte x : b) node = node.children.computeIfAbsent(x & 0xFF, k -> new Builder());
            node.tokens.add(id);
        }
        return new TokenTrie(root.build(), n, ends.stream().mapToInt(Integer::intValue).toArray());
    }

    public int vocabSize() {
        return vocabSize;
    }

    private static final class Builder {
        final TreeMap<Integer, Builder> children = new TreeMap<>();
        final List<Integer> tokens = new ArrayList<>(1);

        Node build() {
            int[] bytes = new int[children.size()];
            Node[] kids = new Node[children.size()];
            int k = 0;
            for (var e : children.entrySet()) {
                bytes[k] = e.getKey();
                kids[k++] = e.getValue().build();
            }
            return new Node(bytes, kids, tokens.stream().mapToInt(Integer::intValue).toArray());
        }
    }
}
