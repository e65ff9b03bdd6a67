package dev.troupe.engine.tokenizer;

import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.gguf.GgufFormatException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** What every vocabulary-backed tokenizer shares: pieces, types, precomputed token bytes, special ids. */
abstract class BaseTokenizer implements Tokenizer {
    static final byte[] NO_BYTES = new byte[0];

    final String[] tokens;
    final int[] types;
    private final byte[][] bytes;
    private final int bos;
    private final int eos;
    private final int[] endIds;
    private final boolean addBos;
    /** Special-token text to id, and per first character the candidates longest first (for template text). */
    private final Map<String, Integer> specials;
    private final Map<Character, String[]> specialsByFirstChar;

    BaseTokenizer(String[] tokens, int[] types, byte[][] bytes, int bos, int eos, int[] extraEndTokens, boolean addBos) {
        this.tokens = tokens;
        this.types = types;
        this.bytes = bytes;
        this.bos = checkId("bos", bos, tokens.length);
        this.eos = checkId("eos", eos, tokens.length);
        int[] ends = new int[1 + (extraEndTokens == null ? 0 : extraEndTokens.length)];
        int n = 0;
        if (eos >= 0) ends[n++] = eos;
        if (extraEndTokens != null) {
            for (int id : extraEndTokens) {
                if (id >= 0) ends[n++] = checkId("end-of-generation", id, tokens.length);
            }
        }
        this.endIds = Arrays.copyOf(ends, n);
        this.addBos = addBos;
        Map<String, Integer> sp = new LinkedHashMap<>();
        for (int i = 0; i < tokens.length; i++) {
            int t = types[i];
            if ((t == TokenType.CONTROL || t == TokenType.USER_DEFINED || t == TokenType.UNKNOWN) && !tokens[i].isEmpty()) {
                sp.putIfAbsent(tokens[i], i);
            }
        }
        this.specials = Collections.unmodifiableMap(sp);
        Map<Character, List<String>> byFirst = new HashMap<>();
        for (String t : sp.keySet()) byFirst.computeIfAbsent(t.charAt(0), k -> new ArrayList<>()).add(t);
        this.specialsByFirstChar = new HashMap<>();
        for (Map.Entry<Character, List<String>> e : byFirst.entrySet()) {
            List<String> l = e.getValue();
            l.sort((a, b) -> Integer.compare(b.length(), a.length()));
            specialsByFirstChar.put(e.getKey(), l.toArray(new String[0]));
        }
    }

    /**
     * Encodes one run of plain text and appends its ids. A run always starts the prompt or follows a special
     * token (text between two specials is one run), which is where SentencePiece adds its space prefix, as
     * llama.cpp and Hugging Face's legacy Llama tokenizer do.
     */
    abstract void encodeRun(String text, IntList out);

    @Override
    public int[] encode(String text, boolean addBos) {
        IntList out = new IntList();
        if (addBos) out.add(bosForEncode(true));
        if (!text.isEmpty()) encodeRun(text, out);
        return out.toArray();
    }

    @Override
    public int[] encode(List<PromptSegment> segments, boolean addBos) {
        IntList out = new IntList();
        if (addBos) out.add(bosForEncode(true));
        StringBuilder run = new StringBuilder();
        for (PromptSegment seg : segments) {
            String s = seg.text();
            if (!seg.template()) {
                run.append(s);
                continue;
            }
            int plainFrom = 0;
            for (int i = 0; i < s.length(); ) {
                String special = specialAt(s, i);
                if (special == null) {
                    i++;
                    continue;
                }
                run.append(s, plainFrom, i);
                if (run.length() > 0) encodeRun(run.toString(), out);
                run.setLength(0);
                out.add(specials.get(special));
                i += special.length();
                plainFrom = i;
            }
            run.append(s, plainFrom, s.length());
        }
        if (run.length() > 0) encodeRun(run.toString(), out);
        return out.toArray();
    }

    /** The longest special-token text starting at {@code s[i]}, or null. */
    private String specialAt(String s, int i) {
        String[] candidates = specialsByFirstChar.get(s.charAt(i));
        if (candidates != null) {
            for (String c : candidates) if (s.startsWith(c, i)) return c;
        }
        return null;
    }

    @Override
    public Set<String> specialTokenTexts() {
        return specials.keySet();
    }

    @Override
    public int specialTokenId(String text) {
        Integer id = specials.get(text);
        return id == null ? -1 : id;
    }

    /** Checks the arrays of a vocabulary and returns the types, defaulted when absent. */
    static int[] checkVocab(String[] tokens, int[] types) {
        if (tokens == null || tokens.length == 0) throw new IllegalArgumentException("empty vocabulary");
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] == null) throw new IllegalArgumentException("token " + i + " is null");
        }
        if (types == null) {
            types = new int[tokens.length];
            for (int i = 0; i < tokens.length; i++) {
                types[i] = TokenType.parseByteToken(tokens[i]) >= 0 ? TokenType.BYTE : TokenType.NORMAL;
            }
        } else if (types.length != tokens.length) {
            throw new IllegalArgumentException("token_type has " + types.length + " entries for " + tokens.length + " tokens");
        }
        return types;
    }

    static int checkId(String what, int id, int vocabSize) {
        if (id < -1 || id >= vocabSize) {
            throw new IllegalArgumentException(what + " token id " + id + " is outside the vocabulary [0, " + vocabSize + ")");
        }
        return id;
    }

    /** An optional token id from metadata: -1 when absent or outside the vocabulary (GGUF writers use 2^32-1 for "none"). */
    static int optionalId(GgufFile f, String key, int fallback, int vocabSize) throws GgufFormatException {
        if (!f.has(key)) return fallback;
        long v = f.getLong(key);
        return v >= 0 && v < vocabSize ? (int) v : -1;
    }

    static int[] optionalTypes(GgufFile f, int vocabSize) throws GgufFormatException {
        if (!f.has("tokenizer.ggml.token_type")) return null;
        int[] types = f.getIntArray("tokenizer.ggml.token_type");
        if (types.length != vocabSize) {
            throw new GgufFormatException(f.path(), "tokenizer.ggml.token_type has " + types.length + " entries but tokenizer.ggml.tokens has " + vocabSize);
        }
        return types;
    }

    static int[] endOfTurnIds(GgufFile f, int vocabSize) throws GgufFormatException {
        return new int[]{
                optionalId(f, "tokenizer.ggml.eot_token_id", -1, vocabSize),
                optionalId(f, "tokenizer.ggml.eom_token_id", -1, vocabSize)};
    }

    final int bosForEncode(boolean addBos) {
        if (addBos && bos < 0) throw new IllegalStateException("addBos requested but the vocabulary has no BOS token");
        return bos;
    }

    /** The token's bytes without copying; callers must not modify the array. */
    final byte[] bytesView(int id) {
        if (id < 0 || id >= bytes.length) {
            throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + bytes.length + ")");
        }
        return bytes[id];
    }

    @Override
    public byte[] tokenBytes(int id) {
        return bytesView(id).clone();
    }

    @Override
    public String decode(int[] tokens, int from, int to) {
        if (from < 0 || to > tokens.length || from > to) {
            throw new IndexOutOfBoundsException("range [" + from + ", " + to + ") of " + tokens.length + " tokens");
        }
        int len = 0;
        for (int i = from; i < to; i++) len += bytesView(tokens[i]).length;
        byte[] all = new byte[len];
        int p = 0;
        for (int i = from; i < to; i++) {
            byte[] b = bytes[tokens[i]];
            System.arraycopy(b, 0, all, p, b.length);
            p += b.length;
        }
        return Utf8.decode(all, 0, len);
    }

    @Override
    public int vocabSize() {
        return tokens.length;
    }

    @Override
    public int bos() {
        return bos;
    }

    @Override
    public int eos() {
        return eos;
    }

    @Override
    public boolean isEndOfGeneration(int id) {
        for (int e : endIds) if (e == id) return true;
        return false;
    }

    @Override
    public boolean addBosByDefault() {
        return addBos;
    }

    @Override
    public String tokenText(int id) {
        bytesView(id);
        return tokens[id];
    }

    @Override
    public int tokenType(int id) {
        bytesView(id);
        return types[id];
    }

    /** Growable int list for encoder output. */
    static final class IntList {
        int[] a = new int[16];
        int n;

        void add(int v) {
            if (n == a.length) a = Arrays.copyOf(a, n * 2);
            a[n++] = v;
        }

        int[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }
}
