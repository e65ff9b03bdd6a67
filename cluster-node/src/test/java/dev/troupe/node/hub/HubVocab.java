package dev.troupe.node.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.troupe.engine.gguf.GgufWriter;
import dev.troupe.engine.gguf.RandomLlamaWriter;
import dev.troupe.engine.tokenizer.TokenType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.Map;

/**
 * Writes a GGUF model (tiny random weights) whose {@code tokenizer.ggml.*} metadata is a Hugging Face
 * tokenizer.json's vocabulary, the way llama.cpp's converter lays it out: the model's vocab by id, then the
 * added tokens (special ones control, the others user-defined); byte-level BPE gets its merges and a
 * pre-tokenizer name, a SentencePiece-style BPE ({@code byte_fallback}) becomes a {@code llama} vocabulary
 * whose scores rank pieces by id (Hugging Face's converter orders Llama merges by the merged piece's id, so
 * "highest score first" and "lowest merge rank first" pick the same pair).
 */
final class HubVocab {
    static final ObjectMapper JSON = new ObjectMapper();

    private HubVocab() {}

    /**
     * @param pre the {@code tokenizer.ggml.pre} to write for a byte-level BPE vocabulary (ignored for SentencePiece)
     * @param tokenizerJson  the package's models/tokenizer.json
     * @param configJson     the package's models/tokenizer_config.json (bos/eos, add_bos_token, chat_template)
     */
    static Path write(Path tokenizerJson, Path configJson, String pre, Path out) throws IOException {
        JsonNode tj = JSON.readTree(tokenizerJson.toFile());
        JsonNode cfg = JSON.readTree(configJson.toFile());
        JsonNode model = tj.get("model");
        int n = 0;
        for (Iterator<Map.Entry<String, JsonNode>> it = model.get("vocab").fields(); it.hasNext(); ) {
            n = Math.max(n, it.next().getValue().asInt() + 1);
        }
        for (JsonNode a : tj.get("added_tokens")) n = Math.max(n, a.get("id").asInt() + 1);
        String[] tokens = new String[n];
        int[] types = new int[n];
        Arrays.fill(types, TokenType.NORMAL);
        for (Iterator<Map.Entry<String, JsonNode>> it = model.get("vocab").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            tokens[e.getValue().asInt()] = e.getKey();
        }
        boolean spm = model.path("byte_fallback").asBoolean(false);
        String unk = model.path("unk_token").isTextual() ? model.get("unk_token").asText() : null;
        for (JsonNode a : tj.get("added_tokens")) {
            int id = a.get("id").asInt();
            tokens[id] = a.get("content").asText();
            types[id] = a.get("special").asBoolean() ? TokenType.CONTROL : TokenType.USER_DEFINED;
        }
        for (int i = 0; i < n; i++) {
            if (tokens[i] == null) {
                tokens[i] = "<unused_" + i + ">";
                types[i] = TokenType.UNUSED;
            } else if (spm && tokens[i].equals(unk)) {
                types[i] = TokenType.UNKNOWN;
            } else if (spm && tokens[i].matches("<0x[0-9A-F]{2}>")) {
                types[i] = TokenType.BYTE;
            }
        }
        GgufWriter vocab = new GgufWriter();
        vocab.putString("general.architecture", "llama");
        vocab.putStringArray("tokenizer.ggml.tokens", tokens);
        vocab.putInt32Array("tokenizer.ggml.token_type", types);
        if (spm) {
            // SentencePiece merges the pair whose result has the highest score; Hugging Face's BPE the pair of
            // lowest merge rank. A piece's score is minus the best rank of a merge producing it (pieces no merge
            // produces rank after all merges), so both pick the same pair.
            Map<String, Integer> id = new java.util.HashMap<>();
            for (int i = 0; i < n; i++) id.putIfAbsent(tokens[i], i);
            JsonNode merges = model.get("merges");
            float[] scores = new float[n];
            for (int i = 0; i < n; i++) scores[i] = types[i] == TokenType.NORMAL ? -(merges.size() + i) : 0f;
            for (int r = merges.size() - 1; r >= 0; r--) {
                JsonNode x = merges.get(r);
                String merged = x.isArray() ? x.get(0).asText() + x.get(1).asText() : x.asText().replaceFirst(" ", "");
                Integer m = id.get(merged);
                if (m != null) scores[m] = -r;
            }
            vocab.putString("tokenizer.ggml.model", "llama");
            vocab.putFloatArray("tokenizer.ggml.scores", scores);
            vocab.putBool("tokenizer.ggml.add_space_prefix", true);
        } else {
            JsonNode merges = model.get("merges");
            String[] m = new String[merges.size()];
            for (int i = 0; i < m.length; i++) {
                JsonNode x = merges.get(i);
                // newer tokenizer.json files store a merge as a pair, older ones as "left right"
                m[i] = x.isArray() ? x.get(0).asText() + " " + x.get(1).asText() : x.asText();
            }
            vocab.putString("tokenizer.ggml.model", "gpt2");
            vocab.putString("tokenizer.ggml.pre", pre);
            vocab.putStringArray("tokenizer.ggml.merges", m);
        }
        int bos = id(tokens, cfg.get("bos_token"));
        int eos = id(tokens, cfg.get("eos_token"));
        if (bos >= 0) vocab.putUInt32("tokenizer.ggml.bos_token_id", bos);
        if (eos >= 0) vocab.putUInt32("tokenizer.ggml.eos_token_id", eos);
        if (unk != null && id(tokens, JSON.getNodeFactory().textNode(unk)) >= 0) {
            vocab.putUInt32("tokenizer.ggml.unknown_token_id", id(tokens, JSON.getNodeFactory().textNode(unk)));
        }
        vocab.putBool("tokenizer.ggml.add_bos_token", cfg.path("add_bos_token").asBoolean(bos >= 0));
        if (cfg.path("chat_template").isTextual()) vocab.putString("tokenizer.chat_template", cfg.get("chat_template").asText());
        Path vocabFile = Files.createTempFile(out.toAbsolutePath().getParent(), "vocab", ".gguf");
        try {
            vocab.write(vocabFile);
            new RandomLlamaWriter(RandomLlamaWriter.LlamaShape.of(8, 16, 1, 2, 2, n, 256)).tokenizerFrom(vocabFile).write(out);
        } finally {
            Files.deleteIfExists(vocabFile);
        }
        return out;
    }

    /** The id of a config's token entry (a string or an AddedToken object), or -1. */
    private static int id(String[] tokens, JsonNode entry) {
        if (entry == null || entry.isNull()) return -1;
        String text = entry.isTextual() ? entry.asText() : entry.path("content").asText(null);
        if (text == null) return -1;
        for (int i = 0; i < tokens.length; i++) if (tokens[i].equals(text)) return i;
        return -1;
    }
}
