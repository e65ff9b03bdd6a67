package dev.troupe.actors.replica;

import dev.troupe.engine.EngineOptions;
import dev.troupe.engine.LlamaModel;
import dev.troupe.engine.sampling.SamplingParams;
import dev.troupe.engine.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A completion continued after any of its token events (what a gateway does when the replica serving it
 * is lost: prompt + tokens delivered, resumed = their count) ends exactly as the uninterrupted one: the
 * same remaining text and tokens, finish reason and counts, for greedy and seeded sampling, with text held
 * back for a stop string across the cut and with logprobs.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ContinuationTest {
    private static LlamaModel model;
    private static Tokenizer tokenizer;
    private static StepLoop loop;
    private static int n;

    @BeforeAll
    static void start() throws Exception {
        model = LlamaModel.load(TestModels.require(TestModels.STORIES), EngineOptions.defaults().withThreads(1));
        tokenizer = Tokenizer.fromGguf(model.file());
        loop = new StepLoop(model, tokenizer, new StepLoop.Config(8, 64, 64, Duration.ofMillis(5)));
        loop.start();
    }

    @AfterAll
    static void stop() throws Exception {
        if (loop != null) loop.close();
        if (model != null) model.close();
    }

    private static RecordingSink run(GenerationRequest r) {
        RecordingSink s = new RecordingSink(r.requestId());
        assertTrue(loop.submit(r, s));
        s.await();
        s.assertWellFormed();
        return s;
    }

    private static List<GenerationEvent.Tokens> tokens(RecordingSink s) {
        List<GenerationEvent.Tokens> out = new ArrayList<>();
        for (GenerationEvent e : s.events) if (e instanceof GenerationEvent.Tokens t) out.add(t);
        return out;
    }

    /** Continues the request after each of its first token events and compares with the whole run. */
    private static void continuesExactly(String prompt, SamplingParams p) {
        int[] ids = tokenizer.encode(prompt, true);
        GenerationRequest original = new GenerationRequest("whole-" + n++, ids, p, 0);
        RecordingSink whole = run(original);
        GenerationEvent.Finished end = whole.finished();
        List<GenerationEvent.Tokens> events = tokens(whole);
        assertTrue(events.size() > 3, "a completion of several events: " + events.size());
        for (int cut = 1; cut < events.size(); cut++) {
            int[] sent = new int[0];
            StringBuilder sentText = new StringBuilder();
            List<GenerationEvent.TokenLogprob> sentLogprobs = new ArrayList<>();
            for (int i = 0; i < cut; i++) {
                sent = concat(sent, events.get(i).tokenIds());
                sentText.append(events.get(i).text());
                sentLogprobs.addAll(events.get(i).logprobs());
            }
            GenerationRequest cont = new GenerationRequest("cont-" + n++, ids, p, 0).continuedAfter(sent);
            assertEquals(sent.length, cont.resumed());
            RecordingSink rest = run(cont);
            String what = "continued after " + cut + " events (" + sent.length + " tokens)";
            assertEquals(whole.text(), sentText + rest.text(), what + ": text");
            int[] all = sent;
            List<GenerationEvent.TokenLogprob> lps = new ArrayList<>(sentLogprobs);
            for (GenerationEvent.Tokens t : tokens(rest)) {
                all = concat(all, t.tokenIds());
                lps.addAll(t.logprobs());
            }
            int[] wholeIds = new int[0];
            List<GenerationEvent.TokenLogprob> wholeLps = new ArrayList<>();
            for (GenerationEvent.Tokens t : events) {
                wholeIds = concat(wholeIds, t.tokenIds());
                wholeLps.addAll(t.logprobs());
            }
            assertArrayEquals(wholeIds, all, what + ": tokens");
            assertEquals(wholeLps.size(), lps.size(), what + ": logprobs");
            for (int i = 0; i < lps.size(); i++) {
                assertEquals(wholeLps.get(i).token(), lps.get(i).token(), what + ": logprob token " + i);
                assertEquals(wholeLps.get(i).logprob(), lps.get(i).logprob(), 1e-4, what + ": logprob " + i);
            }
            GenerationEvent.Finished f = rest.finished();
            assertEquals(end.reason(), f.reason(), what + ": finish reason");
            assertEquals(end.promptTokens(), f.promptTokens(), what + ": prompt tokens (the client's)");
            assertEquals(end.completionTokens(), f.completionTokens(), what + ": completion tokens (the whole completion)");
        }
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void greedyToTheLengthLimit() {
        continuesExactly("Once upon a time", SamplingParams.greedy(40));
    }

    @Test
    void seededSamplingDrawsWhatTheUninterruptedRunDrew() {
        continuesExactly("Lily and Tom", SamplingParams.builder().temperature(0.8f).topP(0.95f).seed(1234L).maxTokens(48)
                .topLogprobs(2).build());
    }

    @Test
    void textHeldBackForAStopStringAcrossTheCut() {
        // Greedy text of this prompt first, then a stop string straddling a word boundary ("e l"): a token
        // ending in its first character is delivered with that character held back, so a cut after it
        // leaves text that only the continuation can deliver.
        RecordingSink probe = run(new GenerationRequest("probe-" + n++, tokenizer.encode("The little dog", true), SamplingParams.greedy(60), 0));
        String text = probe.text();
        String stop = null;
        for (int at = text.indexOf(' ', 1); at > 0 && stop == null; at = text.indexOf(' ', at + 1)) {
            String candidate = text.substring(at - 1, Math.min(text.length(), at + 2));
            if (candidate.length() == 3 && text.indexOf(candidate) >= text.length() / 2) stop = candidate;
        }
        assertNotNull(stop, "a stop string first found in the second half of: " + text);
        continuesExactly("The little dog", SamplingParams.builder().temperature(0f).maxTokens(60).stop(stop).build());
    }

    @Test
    void aContinuationOfACompletionAtItsLimitEndsAtOnce() {
        int[] ids = tokenizer.encode("Mom said", true);
        RecordingSink whole = run(new GenerationRequest("limit-" + n++, ids, SamplingParams.greedy(5), 0));
        int[] sent = new int[0];
        for (GenerationEvent.Tokens t : tokens(whole)) sent = concat(sent, t.tokenIds());
        assertEquals(5, sent.length);
        RecordingSink rest = run(new GenerationRequest("limit-" + n++, ids, SamplingParams.greedy(5), 0).continuedAfter(sent));
        assertEquals("", rest.text());
        assertEquals(GenerationEvent.FinishReason.LENGTH, rest.finished().reason());
        assertEquals(5, rest.finished().completionTokens());
    }
}
