package dev.troupe.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The packaged launcher against the independent reference completions in ../shared/models. */
class GenerateCommandIT {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TestFactory
    List<DynamicTest> greedyCompletionsEqualTheReferenceExactly() throws Exception {
        Path model = TroupeCli.sharedModel("stories260K-f32.gguf");
        Path refs = TroupeCli.sharedModel("stories260K-greedy.jsonl");
        Assumptions.assumeTrue(Files.isRegularFile(model) && Files.isRegularFile(refs),
                "../shared/models with stories260K-f32.gguf and its references not found beside the repository");
        List<DynamicTest> tests = new ArrayList<>();
        for (String line : Files.readAllLines(refs)) {
            if (line.isBlank()) continue;
            JsonNode ref = JSON.readTree(line);
            String prompt = ref.get("prompt").asText();
            tests.add(DynamicTest.dynamicTest(prompt, () -> {
                TroupeCli.Run r = TroupeCli.run(120, "generate", "--model", model.toString(), "--prompt", prompt,
                        "--max-tokens", ref.get("max_tokens").asText(), "--temperature", "0", "--threads", "2");
                assertEquals(0, r.exitCode(), r.stderr());
                assertEquals(ref.get("completion").asText() + "\n", r.stdout());
            }));
        }
        assertEquals(4, tests.size());
        return tests;
    }

    @Test
    void aModelSplitOverSlicesPrintsTheSameCompletion() throws Exception {
        Path model = TroupeCli.sharedModel("stories260K-f32.gguf");
        Path refs = TroupeCli.sharedModel("stories260K-greedy.jsonl");
        Assumptions.assumeTrue(Files.isRegularFile(model) && Files.isRegularFile(refs), "../shared/models not found beside the repository");
        JsonNode ref = JSON.readTree(Files.readAllLines(refs).get(1));
        for (String slices : new String[] {"2", "4"}) {
            TroupeCli.Run r = TroupeCli.run(120, "generate", "--model", model.toString(), "--prompt", ref.get("prompt").asText(),
                    "--max-tokens", ref.get("max_tokens").asText(), "--temperature", "0", "--threads", "2", "--tensor-parallel", slices);
            assertEquals(0, r.exitCode(), r.stderr());
            assertEquals(ref.get("completion").asText() + "\n", r.stdout(), slices + " slices");
        }
        TroupeCli.Run three = TroupeCli.run(60, "generate", "--model", model.toString(), "--prompt", "x", "--tensor-parallel", "3");
        assertEquals(2, three.exitCode(), three.stderr());
        assertTrue(three.stderr().contains("4 key/value heads"), three.stderr());
    }

    @Test
    void seededSamplingRepeatsAndBadInputIsAUsageError() throws Exception {
        Path model = TroupeCli.sharedModel("stories260K-f32.gguf");
        Assumptions.assumeTrue(Files.isRegularFile(model), "../shared/models/stories260K-f32.gguf not found");
        String[] args = {"generate", "--model", model.toString(), "--prompt", "Once upon a time", "--max-tokens", "30",
                "--temperature", "0.9", "--seed", "42", "--threads", "1"};
        TroupeCli.Run a = TroupeCli.run(120, args);
        TroupeCli.Run b = TroupeCli.run(120, args);
        assertEquals(0, a.exitCode(), a.stderr());
        assertEquals(a.stdout(), b.stdout(), "same seed, same text");
        assertFalse(a.stdout().isBlank());

        TroupeCli.Run missing = TroupeCli.run(60, "generate", "--model", "/nonexistent.gguf", "--prompt", "x");
        assertEquals(2, missing.exitCode());
        assertTrue(missing.stderr().contains("model file not found: /nonexistent.gguf"), missing.stderr());
        assertEquals("", missing.stdout());

        TroupeCli.Run badTemp = TroupeCli.run(60, "generate", "--model", model.toString(), "--prompt", "x", "--temperature", "9");
        assertEquals(2, badTemp.exitCode());
        assertTrue(badTemp.stderr().contains("temperature"), badTemp.stderr());
    }
}
