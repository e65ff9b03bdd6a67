package dev.troupe.engine.tokenizer;

import java.util.Arrays;
import java.util.List;
import java.util.Set;

/** A tokenizer that also ends generation at some more tokens (a chat template's end-of-turn); everything else delegates. */
final class ExtraEndTokenizer implements Tokenizer {
    private final Tokenizer base;
    private final int[] extra;

    ExtraEndTokenizer(Tokenizer base, int[] extra) {
        this.base = base;
        for (int id : extra) {
            if (id < 0 || id >= base.vocabSize()) {
                throw new IllegalArgumentException("end-of-generation token id " + id + " is outside the vocabulary [0, " + base.vocabSize() + ")");
            }
        }
        this.extra = extra.clone();
    }

    @Override public int[] encode(String text, boolean addBos) { return base.encode(text, addBos); }
    @Override public int[] encode(List<PromptSegment> segments, boolean addBos) { return base.encode(segments, addBos); }
    @Override public Set<String> specialTokenTexts() { return base.specialTokenTexts(); }
    @Override public int specialTokenId(String text) { return base.specialTokenId(text); }
    @Override public String decode(int[] tokens, int from, int to) { return base.decode(tokens, from, to); }
    @Override public byte[] tokenBytes(int id) { return base.tokenBytes(id); }
    @Override public int vocabSize() { return base.vocabSize(); }
    @Override public int bos() { return base.bos(); }
    @Override public int eos() { return base.eos(); }
    @Override public boolean addBosByDefault() { return base.addBosByDefault(); }
    @Override public String tokenText(int id) { return base.tokenText(id); }
    @Override public int tokenType(int id) { return base.tokenType(id); }

    @Override
    public boolean isEndOfGeneration(int id) {
        if (base.isEndOfGeneration(id)) return true;
        for (int e : extra) if (e == id) return true;
        return false;
    }

    @Override
    public String toString() {
        return base + " + end tokens " + Arrays.toString(extra);
    }
}
