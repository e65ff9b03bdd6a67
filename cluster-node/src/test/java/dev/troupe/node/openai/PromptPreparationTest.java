package dev.troupe.node.openai;

import dev.troupe.engine.gguf.GgufFile;
import dev.troupe.engine.sampling.SamplingParams;
import dev.troupe.engine.tokenizer.Tokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Preparing a request for a model version: template, tokens, template stops, the context fit (stories260K's tokenizer, context 512). */
class PromptPreparationTest {
    private static Tokenizer tokenizer;

    @BeforeAll
    static void tokenizer() throws Exception {
        Path model = null;
        for (Path p = Path.of("").toAbsolutePath(); p != null && model == null; p = p.getParent()) {
            Path c = p.resolveSibling("shared").resolve("models").resolve("stories260K-f32.gguf");
            if (Files.isRegularFile(c)) model = c;
        }
        Assumptions.assumeTrue(model != null, "../shared/models/stories260K-f32.gguf not found");
        try (GgufFile f = GgufFile.open(model)) {
            tokenizer = Tokenizer.fromGguf(f);
        }
    }

    private static CompletionRequest completion(String prompt, SamplingParams p) {
        return new CompletionRequest(false, "m", prompt, null, p, false, false, -1, null);
    }

    @Test
    void aCompletionIsTokenizedWithBosAndKeepsItsParameters() {
        SamplingParams p = SamplingParams.greedy(10);
        PromptPreparation.Prepared r = PromptPreparation.prepare(completion("Once upon a time", p), ChatTemplate.PLAIN, tokenizer, 512);
        assertArrayEquals(tokenizer.encode("Once upon a time", true), r.tokens());
        assertEquals(1, r.tokens()[0], "BOS first");
        assertSame(p, r.params());
    }

    @Test
    void noMaxTokensMeansUpToTheContextAndTooMuchIsAPrecise400() {
        SamplingParams unlimited = SamplingParams.builder().temperature(0f).maxTokens(Integer.MAX_VALUE).build();
        PromptPreparation.Prepared r = PromptPreparation.prepare(completion("Once upon a time", unlimited), ChatTemplate.PLAIN, tokenizer, 512);
        assertEquals(512 - r.tokens().length, r.params().maxTokens());
        ApiError e = assertThrows(ApiError.class, () -> PromptPreparation.prepare(completion("Once upon a time", SamplingParams.greedy(510)),
                ChatTemplate.PLAIN, tokenizer, 512));
        assertEquals(400, e.status());
        assertEquals("max_tokens", e.param());
        assertTrue(e.getMessage().contains("maximum context length is 512 tokens") && e.getMessage().contains("(5 in the prompt, 510 for the completion)"),
                e.getMessage());
    }

    @Test
    void aChatIsRenderedByItsTemplateAndStopsWhereTheNextTurnWouldBegin() {
        CompletionRequest chat = new CompletionRequest(true, "m", null, List.of(new ChatMessage("user", "Hi")),
                SamplingParams.builder().temperature(0f).maxTokens(20).stop("zzz").build(), false, false, -1, null);
        PromptPreparation.Prepared r = PromptPreparation.prepare(chat, ChatTemplate.CHATML, tokenizer, 512);
        assertArrayEquals(tokenizer.encode(ChatTemplate.CHATML.render(chat.messages()), tokenizer.addBosByDefault()), r.tokens());
        assertEquals("zzz", r.params().stop().get(0), "the client's stops first");
        assertTrue(r.params().stop().containsAll(ChatTemplate.CHATML.stopStrings()), r.params().stop().toString());
        assertTrue(r.params().stop().size() <= SamplingParams.MAX_STOP_STRINGS);
    }
}
