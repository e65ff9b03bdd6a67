package dev.troupe.engine.tokenizer;

import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.gguf.GgufFormatException;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;

/**
 * A SentencePiece (BPE-with-scores) tokenizer for Llama vocabularies ({@code tokenizer.ggml.model = llama}),
 * encoding the way llama.cpp does.
 *
 * <p>Encoding: optionally prefix a space, replace every space with "▁" (U+2581), start with one symbol per
 * character, then repeatedly merge the adjacent pair whose concatenation is a vocabulary piece with the
 * highest score (ties: leftmost pair), using a priority queue of candidate pairs over a linked list of
 * symbols. Each final symbol becomes its piece's id or, when it is not a piece, the byte-fallback tokens
 * {@code <0xXX>} of its UTF-8 bytes (or the unknown token when the vocabulary lacks one of them).
 *
 * <p>Only normal, user-defined (and untyped) pieces are matched against input text: control tokens such as
 * {@code <s>}, the unknown token, unused pieces and byte tokens are never produced from text by merging, so
 * {@code "</s>"} in a prompt is just characters. An empty text encodes to nothing (just BOS if asked), as
 * llama.cpp does; no lone "▁" is emitted.
 *
 * <p>Decoding: "▁" becomes a space, byte tokens their byte, control tokens nothing, the unknown token
 * U+2585 "▅" (as llama.cpp renders it). Nothing is stripped: {@code decode(encode(x))} is {@code " " + x}
 * when the space prefix is on.
 */
public final class SentencePieceTokenizer extends BaseTokenizer {
    private static final char SPACE_MARK = '\u2581';
    private static final byte[] UNKNOWN_BYTES = "\u2585".getBytes(StandardCharsets.UTF_8);

    private final float[] scores;
    private final HashMap<String, Integer> pieceToId;
    private final int[] byteToId = new int[256];
    private final int unk;
    private final boolean addSpacePrefix;

    public SentencePieceTokenizer(String[] tokens, float[] scores, int[] types, int bos, int eos, int unk,
                                  boolean addSpacePrefix, boolean addBos) {
        this(tokens, scores, types, bos, eos, unk, addSpacePrefix, addBos, null);
    }

    /**
     * @param types           GGUF token types, or null to treat every piece as normal except {@code <0xXX>} pieces
     *                        (byte), unk (unknown) and bos/eos (control)
     * @param extraEndTokens  further end-of-generation ids besides eos (end-of-turn, end-of-message); -1 entries ignored
     */
    public SentencePieceTokenizer(String[] tokens, float[] scores, int[] types, int bos, int eos, int unk,
                                  boolean addSpacePrefix, boolean addBos, int[] extraEndTokens) {
        this(defaultTypes(tokens, types, bos, eos, unk), tokens, scores, bos, eos, unk, addSpacePrefix, addBos, extraEndTokens);
    }

    private SentencePieceTokenizer(int[] types, String[] tokens, float[] scores, int bos, int eos, int unk,
                                   boolean addSpacePrefix, boolean addBos, int[] extraEndTokens) {
        super(tokens.clone(), types, pieceBytes(tokens, types), bos, eos, extraEndTokens, addBos);
        if (scores == null) scores = new float[tokens.length];
        if (scores.length != tokens.length) {
            throw new IllegalArgumentException(scores.length + " scores for " + tokens.length + " tokens");
        }
        this.scores = new float[scores.length];
        for (int i = 0; i < scores.length; i++) this.scores[i] = scores[i] + 0.0f; // -0.0 ties with 0.0
        this.unk = checkId("unknown", unk, tokens.length);
        this.addSpacePrefix = addSpacePrefix;
        this.pieceToId = new HashMap<>(tokens.length * 2);
        Arrays.fill(byteToId, -1);
        for (int i = 0; i < tokens.length; i++) {
            if (TokenType.matchesText(types[i])) {
                pieceToId.putIfAbsent(tokens[i], i);
            } else if (types[i] == TokenType.BYTE) {
                int b = TokenType.parseByteToken(tokens[i]);
                if (b >= 0 && byteToId[b] < 0) byteToId[b] = i;
            }
        }
    }

    private static int[] defaultTypes(String[] tokens, int[] types, int bos, int eos, int unk) {
        if (types != null) return checkVocab(tokens, types.clone());
        types = checkVocab(tokens, null);
        if (unk >= 0 && unk < types.length) types[unk] = TokenType.UNKNOWN;
        if (bos >= 0 && bos < types.length) types[bos] = TokenType.CONTROL;
        if (eos >= 0 && eos < types.length) types[eos] = TokenType.CONTROL;
        return types;
    }

    private static byte[][] pieceBytes(String[] tokens, int[] types) {
        byte[][] out = new byte[tokens.length][];
        for (int i = 0; i < tokens.length; i++) {
            switch (types[i]) {
                case TokenType.CONTROL:
                    out[i] = NO_BYTES;
                    break;
                case TokenType.UNKNOWN:
                    out[i] = UNKNOWN_BYTES;
                    break;
                case TokenType.BYTE: {
                    int b = TokenType.parseByteToken(tokens[i]);
                    out[i] = b >= 0 ? new byte[]{(byte) b} : tokens[i].replace(SPACE_MARK, ' ').getBytes(StandardCharsets.UTF_8);
                    break;
                }
                default:
                    out[i] = tokens[i].replace(SPACE_MARK, ' ').getBytes(StandardCharsets.UTF_8);
            }
        }
        return out;
    }

    /** Reads {@code tokenizer.ggml.*} of a {@code llama} (SentencePiece) vocabulary. */
    public static SentencePieceTokenizer fromGguf(GgufFile f) throws GgufFormatException {
        String[] tokens = f.getStringArray("tokenizer.ggml.tokens");
        int n = tokens.length;
        float[] scores = f.has("tokenizer.ggml.scores") ? f.getFloatArray("tokenizer.ggml.scores") : null;
        if (scores != null && scores.length != n) {
            throw new GgufFormatException(f.path(), "tokenizer.ggml.scores has " + scores.length + " entries but tokenizer.ggml.tokens has " + n);
        }
        int[] types = optionalTypes(f, n);
        int bos = optionalId(f, "tokenizer.ggml.bos_token_id", 1, n);
        int eos = optionalId(f, "tokenizer.ggml.eos_token_id", 2, n);
        int unk = optionalId(f, "tokenizer.ggml.unknown_token_id", 0, n);
        boolean spacePrefix = f.getBoolean("tokenizer.ggml.add_space_prefix", true);
        boolean addBos = f.getBoolean("tokenizer.ggml.add_bos_token", true);
        try {
            return new SentencePieceTokenizer(tokens, scores, types, bos, eos, unk, spacePrefix, addBos, endOfTurnIds(f, n));
        } catch (IllegalArgumentException e) {
            throw new GgufFormatException(f.path(), "invalid SentencePiece vocabulary: " + e.getMessage());
        }
    }

    public int unk() {
        return unk;
    }

    public boolean addSpacePrefix() {
        return addSpacePrefix;
    }

    public float score(int id) {
        bytesView(id);
        return scores[id];
    }

    @Override
    void encodeRun(String text, IntList out) {
        String s = (addSpacePrefix ? " " + text : text).replace(' ', SPACE_MARK);

        // One symbol per character (code point): start offset and length in chars, doubly linked.
        int len = s.length();
        int[] start = new int[len];
        int[] size = new int[len];
        int n = 0;
        for (int i = 0; i < len; ) {
            int c = Character.charCount(s.codePointAt(i));
            if (i + c > len) c = len - i;
            start[n] = i;
            size[n] = c;
            n++;
            i += c;
        }
        int[] prev = new int[n];
        int[] next = new int[n];
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }

        MergeQueue queue = new MergeQueue();
        for (int i = 1; i < n; i++) offer(queue, s, start, size, i - 1, i);
        while (!queue.isEmpty()) {
            queue.poll();
            int l = queue.polledLeft;
            int r = queue.polledRight;
            // Stale if either side has been merged away or grown since the candidate was queued.
            if (size[l] == 0 || size[r] == 0 || size[l] + size[r] != queue.polledSize) continue;
            size[l] += size[r];
            size[r] = 0;
            next[l] = next[r];
            if (next[r] >= 0) prev[next[r]] = l;
            if (prev[l] >= 0) offer(queue, s, start, size, prev[l], l);
            if (next[l] >= 0) offer(queue, s, start, size, l, next[l]);
        }

        for (int i = 0; i >= 0; i = next[i]) {
            String piece = s.substring(start[i], start[i] + size[i]);
            Integer id = pieceToId.get(piece);
            if (id != null) {
                out.add(id);
            } else {
                byteFallback(piece, out);
            }
        }
    }

    private void offer(MergeQueue queue, String s, int[] start, int[] size, int l, int r) {
        int total = size[l] + size[r];
        Integer id = pieceToId.get(s.substring(start[l], start[l] + total));
        if (id == null) return;
        // Lower priority value = better: map the score to an order-preserving int and negate it.
        int bits = Float.floatToIntBits(scores[id]);
        int key = bits ^ ((bits >> 31) & 0x7FFFFFFF);
        queue.add(-(long) key, l, r, total);
    }

    private void byteFallback(String piece, IntList out) {
        // The bytes of the escaped text, as llama.cpp does (a lone "▁" missing from the vocabulary would give E2 96 81).
        byte[] b = piece.getBytes(StandardCharsets.UTF_8);
        for (byte x : b) {
            if (byteToId[x & 0xFF] < 0) {
                if (unk < 0) {
                    throw new IllegalArgumentException("cannot encode '" + piece + "': not in the vocabulary, no byte-fallback token for 0x"
                            + String.format("%02X", x & 0xFF) + " and no unknown token");
                }
                out.add(unk);
                return;
            }
        }
        for (byte x : b) out.add(byteToId[x & 0xFF]);
    }
}
