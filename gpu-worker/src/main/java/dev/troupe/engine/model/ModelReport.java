package dev.troupe.engine.model;

import dev.troupe.engine.gguf.GgmlType;
import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.gguf.GgufTensor;
import dev.troupe.engine.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;

/**
 * What a GGUF file holds and whether Troupe can serve it ({@code bin/troupe inspect}): architecture, shape,
 * tensor types with counts and bytes, tokenizer, chat template, and the first reason it cannot be served,
 * found by the same checks loading runs (configuration, every weight's shape and type, the tokenizer),
 * without packing any weights.
 */
public record ModelReport(Path file, long fileBytes, String architecture, String name, String shape,
                          Map<GgmlType, long[]> types, String tokenizer, boolean chatTemplate, String problem) {

    /** True when {@link #problem} is null: loading would accept the file. */
    public boolean servable() { return problem == null; }

    public static ModelReport of(Path file) throws IOException {
        long size = Files.size(file);
        GgufFile f;
        try {
            f = GgufFile.open(file);
        } catch (IOException e) {
            return new ModelReport(file, size, "?", "?", "?", Map.of(), "?", false, "cannot read the file: " + e.getMessage());
        }
        try (f) {
            String arch = f.getString("general.architecture", "?");
            String name = f.getString("general.name", "?");
            Map<GgmlType, long[]> types = new EnumMap<>(GgmlType.class);
            for (GgufTensor t : f.tensors().values()) {
                long[] c = types.computeIfAbsent(t.type(), k -> new long[2]);
                c[0]++;
                c[1] += t.byteSize();
            }
            String tok = f.getString("tokenizer.ggml.model", "none");
            if (f.has("tokenizer.ggml.tokens")) tok += " (" + f.getStringArray("tokenizer.ggml.tokens").length + " tokens)";
            boolean template = f.has("tokenizer.chat_template");
            String shape = "?", problem = null;
            try {
                LlamaConfig c = LlamaConfig.from(f);
                shape = String.format(Locale.ROOT, "dim %d, %d layers, %d heads (%d KV, head size %d), FFN %d, vocab %d, context %d%s%s",
                        c.dim(), c.layers(), c.heads(), c.kvHeads(), c.headDim(), c.ffnDim(), c.vocab(), c.contextLength(),
                        c.neoxRope() ? ", NEOX rope" : "", c.ropeFreqFactors() != null ? ", Llama 3 rope scaling" : "");
                LlamaWeights w = new LlamaWeights(f, c);
                if (w.output == w.tokenEmbedding) shape += ", tied embeddings";
                Tokenizer.fromGguf(f);
            } catch (IOException | RuntimeException e) {
                problem = e.getMessage();
            }
            return new ModelReport(file, size, arch, name, shape, types, tok, template, problem);
        }
    }

    /** The human-readable report, one fact per line. */
    public String text() {
        StringBuilder b = new StringBuilder();
        b.append("file:          ").append(file).append(" (").append(mib(fileBytes)).append(")\n");
        b.append("architecture:  ").append(architecture).append('\n');
        b.append("name:          ").append(name).append('\n');
        b.append("shape:         ").append(shape).append('\n');
        b.append("tensor types:\n");
        for (Map.Entry<GgmlType, long[]> e : types.entrySet()) {
            b.append(String.format(Locale.ROOT, "  %-6s %5d tensors %12d bytes (%s)%n", e.getKey(), e.getValue()[0], e.getValue()[1], mib(e.getValue()[1])));
        }
        b.append("tokenizer:     ").append(tokenizer).append('\n');
        b.append("chat template: ").append(chatTemplate ? "yes" : "no").append('\n');
        b.append("servable:      ").append(servable() ? "yes" : "no: " + problem).append('\n');
        return b.toString();
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }
}
