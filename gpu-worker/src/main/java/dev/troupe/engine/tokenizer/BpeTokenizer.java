package dev.troupe.engine.tokenizer;

import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.gguf.GgufFormatException;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A GPT-2 style byte-level BPE tokenizer ({@code tokenizer.ggml.model = gpt2}), as used by Llama 3.
 *
 * <p>Vocabulary pieces are stored in the GPT-2 "byte-to-unicode" form: every byte is one printable
 * character (printable Latin-1 bytes stand for themselves, the other 68 byte values are U+0100..U+0143,
 * so a space is "Ġ" and a newline "Ċ"). {@code tokenizer.ggml.merges} lists "left right" pairs, earlier
 * ones ranked higher.
 *
 * <p>Encoding: split the text into pre-tokens with the pre-tokenizer regex, then for each pre-token start
 * from one symbol per UTF-8 byte and repeatedly apply the best-ranked merge present among adjacent pairs
 * (ties: leftmost), with a priority queue over a linked list of symbols. With the {@code llama-bpe}
 * ({@code llama3}) pre-tokenizer a pre-token that is itself a vocabulary piece is emitted whole first
 * ("ignore merges", as Llama 3's tokenizer does).
 *
 * <p>Pre-tokenizers ({@code tokenizer.ggml.pre}): {@code llama-bpe} / {@code llama3} use {@link #LLAMA3_PATTERN};
 * {@code qwen2} uses {@link #QWEN2_PATTERN} after NFC normalization (as Qwen's tokenizer.json does);
 * {@code default} / {@code gpt2} use {@link #GPT2_PATTERN}; anything else (or none) falls back to
 * {@link #LLAMA3_PATTERN}. Regex classes are Unicode-aware ({@code \s}, {@code \p{L}}, {@code \p{N}}).
 *
 * <p>Control tokens are never matched inside plain text; {@link #encode(java.util.List, boolean)} recognises
 * them (and user-defined pieces) in template text only. Merges whose parts or result are not vocabulary
 * pieces can never apply to a consistent vocabulary and are ignored. A byte without a piece encodes as the
 * unknown token if there is one, otherwise encoding fails with {@link IllegalArgumentException}.
 */
public final class BpeTokenizer extends BaseTokenizer {
    public static final String LLAMA3_PATTERN =
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** Qwen2's split: Llama 3's with single digits instead of runs of up to three. */
    public static final String QWEN2_PATTERN =
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    public static final String GPT2_PATTERN =
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[512];

    static {
        Arrays.fill(CHAR_TO_BYTE, -1);
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + extra++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private final Pattern pattern;
    private final String preTokenizer;
    private final boolean ignoreMerges;
    private final boolean nfc;
    private final HashMap<String, Integer> pieceToId;
    private final int[] byteToId = new int[256];
    private final LongLongMap merges;
    private final int unk;

    public BpeTokenizer(String[] tokens, int[] types, String[] merges, String preTokenizer, int bos, int eos, boolean addBos) {
        this(tokens, types, merges, preTokenizer, bos, eos, -1, addBos, null);
    }

    /**
     * @param types          GGUF token types, or null for all normal
     * @param merges         "left right" pairs in rank order (best first)
     * @param preTokenizer   the GGUF {@code tokenizer.ggml.pre} value, or null
     * @param unk            unknown token for bytes without a piece, or -1
     * @param extraEndTokens further end-of-generation ids besides eos; -1 entries ignored
     */
    public BpeTokenizer(String[] tokens, int[] types, String[] merges, String preTokenizer, int bos, int eos, int unk,
                        boolean addBos, int[] extraEndTokens) {
        this(checkVocab(tokens, types == null ? null : types.clone()), tokens, merges, preTokenizer, bos, eos, unk, addBos, extraEndTokens);
    }

    private BpeTokenizer(int[] types, String[] tokens, String[] merges, String preTokenizer, int bos, int eos, int unk,
                         boolean addBos, int[] extraEndTokens) {
        super(tokens.clone(), types, pieceBytes(tokens, types), bos, eos, extraEndTokens, addBos);
        this.unk = checkId("unknown", unk, tokens.length);
        this.preTokenizer = preTokenizer;
        boolean llama3 = "llama-bpe".equals(preTokenizer) || "llama3".equals(preTokenizer);
        boolean gpt2 = "default".equals(preTokenizer) || "gpt2".equals(preTokenizer);
        boolean qwen2 = "qwen2".equals(preTokenizer);
        this.ignoreMerges = llama3;
        // Qwen2's tokenizer.json normalizes to NFC before splitting; Llama 3's and GPT-2's do not normalize.
        this.nfc = qwen2;
        this.pattern = Pattern.compile(gpt2 ? GPT2_PATTERN : qwen2 ? QWEN2_PATTERN : LLAMA3_PATTERN, Pattern.UNICODE_CHARACTER_CLASS);

        this.pieceToId = new HashMap<>(tokens.length * 2);
        for (int i = 0; i < tokens.length; i++) {
            if (types[i] != TokenType.CONTROL) pieceToId.putIfAbsent(tokens[i], i);
        }
        for (int b = 0; b < 256; b++) {
            Integer id = pieceToId.get(String.valueOf(BYTE_TO_CHAR[b]));
            byteToId[b] = id == null ? -1 : id;
        }
        this.merges = new LongLongMap(merges.length * 2);
        for (int rank = 0; rank < merges.length; rank++) {
            String m = merges[rank];
            int sp = m == null ? -1 : m.indexOf(' ', 1);
            if (sp < 0 || sp == m.length() - 1) {
                throw new IllegalArgumentException("merge #" + rank + " is not of the form \"left right\": " + m);
            }
            String a = m.substring(0, sp);
            String b = m.substring(sp + 1);
            Integer ia = pieceToId.get(a);
            Integer ib = pieceToId.get(b);
            Integer ir = pieceToId.get(a + b);
            if (ia == null || ib == null || ir == null) continue;
            long key = pairKey(ia, ib);
            if (this.merges.get(key) < 0) this.merges.put(key, ((long) rank << 32) | ir);
        }
    }

    private static byte[][] pieceBytes(String[] tokens, int[] types) {
        byte[][] out = new byte[tokens.length][];
        for (int i = 0; i < tokens.length; i++) {
            String t = tokens[i];
            if (types[i] == TokenType.CONTROL) {
                out[i] = NO_BYTES;
                continue;
            }
            int fallbackByte = types[i] == TokenType.BYTE ? TokenType.parseByteToken(t) : -1;
            if (fallbackByte >= 0) {
                out[i] = new byte[]{(byte) fallbackByte};
                continue;
            }
            byte[] b = new byte[t.length()];
            boolean mapped = true;
            for (int k = 0; k < t.length() && mapped; k++) {
                char c = t.charAt(k);
                int v = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
                if (v < 0) mapped = false;
                else b[k] = (byte) v;
            }
            // A piece not in byte-to-unicode form (e.g. a user-defined one stored as plain text) stands for its UTF-8.
            out[i] = mapped ? b : t.getBytes(StandardCharsets.UTF_8);
        }
        return out;
    }

    /** Reads {@code tokenizer.ggml.*} of a {@code gpt2} (byte-level BPE) vocabulary. */
    public static BpeTokenizer fromGguf(GgufFile f) throws GgufFormatException {
        String[] tokens = f.getStringArray("tokenizer.ggml.tokens");
        int n = tokens.length;
        String[] merges = f.getStringArray("tokenizer.ggml.merges");
        int[] types = optionalTypes(f, n);
        String pre = f.getString("tokenizer.ggml.pre", null);
        int bos = optionalId(f, "tokenizer.ggml.bos_token_id", -1, n);
        int eos = optionalId(f, "tokenizer.ggml.eos_token_id", -1, n);
        int unk = optionalId(f, "tokenizer.ggml.unknown_token_id", -1, n);
        boolean llama3 = "llama-bpe".equals(pre) || "llama3".equals(pre);
        boolean addBos = f.getBoolean("tokenizer.ggml.add_bos_token", llama3 && bos >= 0);
        try {
            return new BpeTokenizer(tokens, types, merges, pre, bos, eos, unk, addBos, endOfTurnIds(f, n));
        } catch (IllegalArgumentException e) {
            throw new GgufFormatException(f.path(), "invalid BPE vocabulary: " + e.getMessage());
        }
    }

    /** The {@code tokenizer.ggml.pre} value this tokenizer was built with (may be null). */
    public String preTokenizer() {
        return preTokenizer;
    }

    /** The regex used to split text into pre-tokens. */
    public String pattern() {
        return pattern.pattern();
    }

    public int unk() {
        return unk;
    }

    /** The byte-to-unicode form of raw bytes (what vocabulary pieces look like). */
    public static String bytesToPieceText(byte[] bytes) {
        char[] c = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) c[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        return new String(c);
    }

    @Override
    void encodeRun(String text, IntList out) {
        if (nfc) text = java.text.Normalizer.normalize(text, java.text.Normalizer.Form.NFC);
        MergeQueue queue = new MergeQueue();
        for (String word : preTokenize(text)) encodeWord(word, queue, out);
    }

    /** Splits text into pre-tokens with the pre-tokenizer regex; any text the regex skips becomes a pre-token too. */
    List<String> preTokenize(String text) {
        List<String> words = new ArrayList<>();
        Matcher m = pattern.matcher(text);
        int last = 0;
        while (m.find()) {
            if (m.start() > last) words.add(text.substring(last, m.start()));
            if (m.end() > m.start()) words.add(text.substring(m.start(), m.end()));
            last = m.end();
        }
        if (last < text.length()) words.add(text.substring(last));
        return words;
    }

    private void encodeWord(String word, MergeQueue queue, IntList out) {
        byte[] bytes = word.getBytes(StandardCharsets.UTF_8);
        int n = bytes.length;
        if (ignoreMerges) {
            Integer whole = pieceToId.get(bytesToPieceText(bytes));
            if (whole != null) {
                out.add(whole);
                return;
            }
        }
        int[] ids = new int[n];
        int[] size = new int[n];
        int[] prev = new int[n];
        int[] next = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = byteToId[bytes[i] & 0xFF];
            size[i] = 1;
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        queue.clear();
        for (int i = 1; i < n; i++) offer(queue, ids, size, i - 1, i);
        while (!queue.isEmpty()) {
            queue.poll();
            int l = queue.polledLeft;
            int r = queue.polledRight;
            if (size[l] == 0 || size[r] == 0 || size[l] + size[r] != queue.polledSize) continue;
            ids[l] = (int) merges.get(pairKey(ids[l], ids[r]));
            size[l] += size[r];
            size[r] = 0;
            next[l] = next[r];
            if (next[r] >= 0) prev[next[r]] = l;
            if (prev[l] >= 0) offer(queue, ids, size, prev[l], l);
            if (next[l] >= 0) offer(queue, ids, size, l, next[l]);
        }
        for (int i = 0; i >= 0 && n > 0; i = next[i]) {
            if (ids[i] >= 0) {
                out.add(ids[i]);
            } else if (unk >= 0) {
                out.add(unk);
            } else {
                throw new IllegalArgumentException(String.format(
                        "cannot encode byte 0x%02X of '%s': the vocabulary has no piece for it and no unknown token", bytes[i] & 0xFF, word));
            }
        }
    }

    private void offer(MergeQueue queue, int[] ids, int[] size, int l, int r) {
        if (ids[l] < 0 || ids[r] < 0) return;
        long v = merges.get(pairKey(ids[l], ids[r]));
        if (v < 0) return;
        queue.add(v >>> 32, l, r, size[l] + size[r]);
    }

    private static long pairKey(int a, int b) {
        return ((long) a << 32) | (b & 0xFFFFFFFFL);
    }

    /** Open-addressing map from long keys to non-negative long values; get gives -1 when absent. */
    private static final class LongLongMap {
        private long[] keys;
        private long[] values;
        private boolean[] used;
        private int count;

        LongLongMap(int expected) {
            int cap = Integer.highestOneBit(Math.max(16, expected * 2) - 1) << 1;
            keys = new long[cap];
            values = new long[cap];
            used = new boolean[cap];
        }

        private static int hash(long k) {
            long h = k * 0x9E3779B97F4A7C15L;
            return (int) (h ^ (h >>> 32));
        }

        long get(long key) {
            int mask = keys.length - 1;
            for (int i = hash(key) & mask; used[i]; i = (i + 1) & mask) {
                if (keys[i] == key) return values[i];
            }
            return -1;
        }

        void put(long key, long value) {
            if ((count + 1) * 2 > keys.length) grow();
            int mask = keys.length - 1;
            int i = hash(key) & mask;
            while (used[i]) {
                if (keys[i] == key) {
                    values[i] = value;
                    return;
                }
                i = (i + 1) & mask;
            }
            used[i] = true;
            keys[i] = key;
            values[i] = value;
            count++;
        }

        private void grow() {
            long[] k = keys;
            long[] v = values;
            boolean[] u = used;
            keys = new long[k.length * 2];
            values = new long[k.length * 2];
            used = new boolean[k.length * 2];
            count = 0;
            for (int i = 0; i < k.length; i++) if (u[i]) put(k[i], v[i]);
        }
    }
}
