package dev.troupe.engine.sampling;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** Samplers sharing one workspace, called in turns, choose and report exactly what they do alone. */
class SamplerWorkspaceTest {
    private static final int VOCAB = 5_000;

    @Test
    void interleavedSamplersOnOneWorkspaceMatchSamplersWithTheirOwn() {
        List<SamplingParams> kinds = List.of(
                SamplingParams.greedy(1),
                SamplingParams.builder().temperature(0.8f).topK(40).seed(3L).topLogprobs(5).build(),
                SamplingParams.builder().temperature(1f).topP(0.9f).minP(0.02f).seed(4L).build(),
                SamplingParams.builder().temperature(0.7f).repetitionPenalty(1.3f).frequencyPenalty(0.5f)
                        .presencePenalty(0.2f).penaltyLastN(32).seed(5L).topLogprobs(3).build(),
                SamplingParams.builder().temperature(0f).repetitionPenalty(1.5f).build());
        Sampler.Workspace shared = new Sampler.Workspace(VOCAB);
        int n = kinds.size();
        Sampler[] together = new Sampler[n], alone = new Sampler[n];
        TokenHistory[] hTogether = new TokenHistory[n], hAlone = new TokenHistory[n];
        for (int i = 0; i < n; i++) {
            together[i] = new Sampler(kinds.get(i), shared);
            alone[i] = new Sampler(kinds.get(i), VOCAB);
            hTogether[i] = new TokenHistory();
            hAlone[i] = new TokenHistory();
            for (int t = 0; t < 10; t++) {
                hTogether[i].add(t * 7 + i);
                hAlone[i].add(t * 7 + i);
            }
        }
        Random r = new Random(8);
        float[] logits = new float[VOCAB];
        Logprobs a = new Logprobs(), b = new Logprobs();
        for (int step = 0; step < 300; step++) {
            for (int i = 0; i < n; i++) { // in turns, as a step loop samples its batch
                for (int v = 0; v < VOCAB; v++) logits[v] = (float) (r.nextGaussian() * 3);
                int x = together[i].sample(logits, 0, hTogether[i], a);
                int y = alone[i].sample(logits, 0, hAlone[i], b);
                assertEquals(y, x, "sampler " + i + " at step " + step);
                assertEquals(b.count(), a.count());
                for (int k = 0; k < a.count(); k++) {
                    assertEquals(b.token(k), a.token(k));
                    assertEquals(b.logprob(k), a.logprob(k));
                }
                hTogether[i].add(x);
                hAlone[i].add(y);
            }
        }
    }
}
