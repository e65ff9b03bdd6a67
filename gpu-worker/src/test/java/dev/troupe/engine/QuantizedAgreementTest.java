package dev.troupe.engine;

import dev.troupe.engine.kv.PagedKvCache;
import dev.troupe.engine.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Q8_0 against F32 on the random 15M model: the F32 greedy continuation of four prompts is fed to both
 * models (teacher forcing), and at each of 32 positions their greedy choices must agree, unless the F32
 * margin between its top token and the Q8_0 choice is within the measured Q8_0 logit error there.
 */
class QuantizedAgreementTest {
    private static final String[] PROMPTS = {"Once upon a time", "The little dog", "Hello world, this is", "Zoo"};
    private static final int STEPS = 32;

    @Test
    void q8GreedyTokensAgreeWithF32OrTheFlipIsWithinTheMeasuredError() throws Exception {
        EngineOptions o = EngineOptions.defaults().withThreads(2).withMaxBatchTokens(64).withKvCacheTokens(1024);
        try (LlamaModel f32 = LlamaModel.load(TestModels.require(TestModels.RANDOM_F32), o);
             LlamaModel q8 = LlamaModel.load(TestModels.require(TestModels.RANDOM_Q8), o)) {
            Tokenizer tok = Tokenizer.fromGguf(f32.file());
            int agree = 0, explained = 0;
            double worstRelError = 0;
            for (String prompt : PROMPTS) {
                int[] ids = tok.encode(prompt, true);
                float[][] a = teacherForced(f32, ids, null);
                int[] chosen = new int[STEPS];
                for (int s = 0; s < STEPS; s++) chosen[s] = LlamaModelTest.argmax(a[s], 0, a[s].length);
                float[][] b = teacherForced(q8, ids, chosen);
                for (int s = 0; s < STEPS; s++) {
                    worstRelError = Math.max(worstRelError, LlamaModelTest.maxRelativeError(b[s], a[s]));
                    int qa = LlamaModelTest.argmax(b[s], 0, b[s].length);
                    if (qa == chosen[s]) {
                        agree++;
                        continue;
                    }
                    // F32 prefers chosen[s] by this margin; Q8_0 reverses it: the two logit errors must cover it
                    float margin = a[s][chosen[s]] - a[s][qa];
                    float err = Math.abs(b[s][chosen[s]] - a[s][chosen[s]]) + Math.abs(b[s][qa] - a[s][qa]);
                    assertTrue(margin <= err, "'" + prompt + "' step " + s + ": F32 margin " + margin
                            + " exceeds the Q8_0 logit error " + err);
                    explained++;
                }
            }
            System.out.printf("Q8_0 vs F32 on random15M: %d of %d greedy tokens agree, %d flips within the measured logit error; "
                    + "max relative logit error %.4f%n", agree, PROMPTS.length * STEPS, explained, worstRelError);
            assertTrue(worstRelError < 0.1, "Q8_0 logits are far from F32: relative error " + worstRelError);
            assertTrue(agree >= PROMPTS.length * STEPS * 3 / 4, "only " + agree + " of " + PROMPTS.length * STEPS + " agree");
        }
    }

    /** Logits after the prompt and after each forced token (forced = null: greedy on this model). */
    private static float[][] teacherForced(LlamaModel m, int[] prompt, int[] forced) {
        PagedKvCache kv = m.kvCache();
        int seq = kv.open();
        assertTrue(kv.reserve(seq, prompt.length + STEPS));
        Batch b = new Batch(m.maxBatchTokens());
        b.addChunk(seq, prompt, 0, prompt.length, 0, true);
        m.forward(b);
        float[][] rows = new float[STEPS][];
        for (int s = 0; s < STEPS; s++) {
            rows[s] = Arrays.copyOf(m.logits(), m.vocabSize());
            int next = forced != null ? forced[s] : LlamaModelTest.argmax(rows[s], 0, rows[s].length);
            if (s + 1 == STEPS) break;
            b.clear();
            b.add(seq, next, prompt.length + s, true);
            m.forward(b);
        }
        kv.release(seq);
        return rows;
    }
}
