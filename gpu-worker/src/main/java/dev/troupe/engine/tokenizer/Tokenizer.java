package dev.troupe.engine.tokenizer;

import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.gguf.GgufFormatException;

/**
 * Text to token ids and back, for a model's vocabulary. Implementations are immutable and thread-safe
 * (a {@link StreamDecoder} is not: use one per generation stream).
 *
 * <p>Decoding is byte-exact and predictable: {@link #decode} concatenates {@link #tokenBytes} of every token
 * and decodes the result as UTF-8, replacing invalid sequences with U+FFFD. Nothing is stripped: a
 * SentencePiece sequence encoded with the space prefix decodes with its leading space.
 */
public interface Tokenizer {

    /** The GGUF {@code tokenizer.ggml.model} values this package understands. */
    String SUPPORTED_MODELS = "llama (SentencePiece), gpt2 (byte-level BPE)";

    /**
     * Encodes text. Control/special tokens written in the text (such as {@code <s>}) are not recognised:
     * they are encoded as ordinary characters.
     *
     * @param addBos whether to start with {@link #bos()}
     */
    int[] encode(String text, boolean addBos);

    /**
     * Encodes a prompt made of template text and user content. Special-token texts (control, user-defined and
     * unknown pieces, such as {@code <|eot_id|>} or {@code <s>}) are recognised only inside
     * {@link PromptSegment#template() template} segments, longest first; everything else is plain text.
     * Adjacent text of consecutive segments is encoded as one run, so the ids are those of the rendered
     * prompt string tokenized with specials parsed only where the template put them.
     *
     * @param addBos whether to start with {@link #bos()}
     */
    default int[] encode(java.util.List<PromptSegment> segments, boolean addBos) {
        // A tokenizer without special tokens: the segments are just text.
        StringBuilder sb = new StringBuilder();
        for (PromptSegment s : segments) sb.append(s.text());
        return encode(sb.toString(), addBos);
    }

    /**
     * The texts this tokenizer recognises as special tokens in template text (control, user-defined and
     * unknown pieces with a non-empty text), e.g. {@code <|begin_of_text|>}, {@code <|im_end|>}, {@code </s>}.
     */
    default java.util.Set<String> specialTokenTexts() {
        return java.util.Set.of();
    }

    /** The id of a special token by its text (one of {@link #specialTokenTexts()}), or -1. */
    default int specialTokenId(String text) {
        return -1;
    }

    /** Encodes with {@link #addBosByDefault()}. */
    default int[] encode(String text) {
        return encode(text, addBosByDefault());
    }

    /** Decodes {@code tokens[from, to)}: the UTF-8 decoding (U+FFFD for invalid bytes) of their concatenated bytes. */
    default String decode(int[] tokens, int from, int to) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (int i = from; i < to; i++) {
            byte[] b = tokenBytes(tokens[i]);
            out.write(b, 0, b.length);
        }
        byte[] all = out.toByteArray();
        return Utf8.decode(all, 0, all.length);
    }

    default String decode(int[] tokens) {
        return decode(tokens, 0, tokens.length);
    }

    /**
     * The raw bytes a token stands for (a fresh array): a byte-fallback token gives its single byte, a
     * SentencePiece "▁" gives a space, control tokens give no bytes.
     *
     * @throws IllegalArgumentException if {@code id} is not in {@code [0, vocabSize())}
     */
    byte[] tokenBytes(int id);

    int vocabSize();

    /** The beginning-of-sequence token, or -1 if the vocabulary has none. */
    int bos();

    /** The end-of-sequence token, or -1 if the vocabulary has none. */
    int eos();

    /** Whether generation should stop at this token: eos, and end-of-turn / end-of-message tokens if the model defines them. */
    boolean isEndOfGeneration(int id);

    /** Whether prompts should start with BOS (GGUF {@code tokenizer.ggml.add_bos_token}). */
    boolean addBosByDefault();

    /** The token's piece exactly as stored in the vocabulary (e.g. {@code "▁the"}, {@code "<0x0A>"}, {@code "Ġthe"}). */
    String tokenText(int id);

    /** The token's GGUF type, one of the {@link TokenType} codes. */
    int tokenType(int id);

    /** A new incremental decoder for one stream of generated tokens. */
    default StreamDecoder streamDecoder() {
        return new StreamDecoder(this);
    }

    /**
     * This tokenizer, also ending generation at {@code ids} (e.g. a chat template's end-of-turn tokens that the
     * GGUF does not name as eos/eot). Returns {@code t} itself when there are none.
     */
    static Tokenizer withEndOfGeneration(Tokenizer t, int... ids) {
        return ids.length == 0 ? t : new ExtraEndTokenizer(t, ids);
    }

    /**
     * Builds the tokenizer described by a GGUF file's {@code tokenizer.ggml.*} metadata, dispatching on
     * {@code tokenizer.ggml.model}: {@code llama} gives a {@link SentencePieceTokenizer}, {@code gpt2} a
     * {@link BpeTokenizer}.
     *
     * @throws GgufFormatException if the model is missing or unsupported, or its metadata is missing or malformed
     */
    static Tokenizer fromGguf(GgufFile f) throws GgufFormatException {
        String model = f.getString("tokenizer.ggml.model");
        switch (model) {
            case "llama":
                return SentencePieceTokenizer.fromGguf(f);
            case "gpt2":
                return BpeTokenizer.fromGguf(f);
            default:
                throw new GgufFormatException(f.path(), "unsupported tokenizer model tokenizer.ggml.model = '" + model
                        + "'; supported: " + SUPPORTED_MODELS);
        }
    }
}
