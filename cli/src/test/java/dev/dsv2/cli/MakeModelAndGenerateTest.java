package dev.dsv2.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dsv2.testsupport.SharedTestData;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The launcher's make-model and generate commands as a user runs them, JSON contract included. */
class MakeModelAndGenerateTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path tmp;
    static Path tiny;

    record Run(int exit, String out, String err) {
    }

    static synchronized Run run(String... args) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int code = Main.run(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    @BeforeAll
    static void makeModel() {
        tiny = tmp.resolve("tiny");
        Run r = run("make-model", tiny.toString(), "--preset", "tiny", "--seed", "3");
        assertEquals(0, r.exit(), r.err());
        assertTrue(Files.exists(tiny.resolve("config.json")));
        assertTrue(Files.exists(tiny.resolve("model.safetensors.index.json")));
    }

    @Test
    void greedyJsonFollowsTheContract() throws Exception {
        Run r = run("generate", "--model", tiny.toString(), "--prompt-ids", "1,5,9", "--max-tokens", "8",
                "--temperature", "0", "--logprobs", "5", "--json");
        assertEquals(0, r.exit(), r.err());
        JsonNode j = JSON.readTree(r.out());
        assertEquals("[1,5,9]", j.get("prompt_ids").toString());
        assertEquals(8, j.get("output_ids").size());
        assertEquals("length", j.get("finish_reason").asText());
        assertTrue(j.get("text").isTextual());
        JsonNode lps = j.get("logprobs");
        assertEquals(8, lps.size());
        for (int i = 0; i < 8; i++) {
            JsonNode step = lps.get(i);
            assertEquals(5, step.size());
            assertEquals(j.get("output_ids").get(i).asInt(), step.get(0).get(0).asInt(),
                    "greedy picks the top logprob at step " + i);
            for (int k = 1; k < 5; k++) {
                assertTrue(step.get(k - 1).get(1).asDouble() >= step.get(k).get(1).asDouble(), "best first");
            }
            assertTrue(step.get(0).get(1).asDouble() <= 0);
        }
        Run again = run("generate", "--model", tiny.toString(), "--prompt-ids", "1,5,9", "--max-tokens", "8",
                "--temperature", "0", "--logprobs", "5", "--json");
        assertEquals(r.out(), again.out(), "greedy is deterministic");
    }

    @Test
    void seededSamplingIsReproducibleAndSeedsDiffer() throws Exception {
        String a = run("generate", "--model", tiny.toString(), "--prompt-ids", "2,3", "--max-tokens", "12",
                "--temperature", "1.5", "--seed", "42", "--json").out();
        String b = run("generate", "--model", tiny.toString(), "--prompt-ids", "2,3", "--max-tokens", "12",
                "--temperature", "1.5", "--seed", "42", "--json").out();
        String c = run("generate", "--model", tiny.toString(), "--prompt-ids", "2,3", "--max-tokens", "12",
                "--temperature", "1.5", "--seed", "43", "--json").out();
        assertEquals(a, b);
        assertNotEquals(JSON.readTree(a).get("output_ids"), JSON.readTree(c).get("output_ids"));
        assertEquals("[]", JSON.readTree(a).get("logprobs").toString(), "no logprobs unless asked");
    }

    @Test
    void badInputsGivePreciseErrors() {
        Run outOfVocab = run("generate", "--model", tiny.toString(), "--prompt-ids", "1,99999", "--json");
        assertEquals(1, outOfVocab.exit());
        assertTrue(outOfVocab.err().contains("99999"), outOfVocab.err());

        Run badTemp = run("generate", "--model", tiny.toString(), "--prompt-ids", "1", "--temperature", "7");
        assertNotEquals(0, badTemp.exit());
        assertTrue(badTemp.err().contains("temperature"), badTemp.err());

        Run noTokenizer = run("generate", "--model", tiny.toString(), "--prompt", "hello");
        assertNotEquals(0, noTokenizer.exit());
        assertTrue(noTokenizer.err().contains("tokenizer.json"), noTokenizer.err());

        Run missing = run("generate", "--model", tmp.resolve("nope").toString(), "--prompt-ids", "1");
        assertEquals(1, missing.exit());
        assertTrue(missing.err().contains("config.json"), missing.err());

        Run badPreset = run("make-model", tmp.resolve("x").toString(), "--preset", "huge");
        assertEquals(1, badPreset.exit());
        assertTrue(badPreset.err().contains("tiny"), badPreset.err());
    }

    @Test
    void aTokenizerMakesTheModelSpeakText() throws Exception {
        Path tok = SharedTestData.deepSeekV3Tokenizer();
        Path dir = tmp.resolve("tiny-tok");
        assertEquals(0, run("make-model", dir.toString(), "--preset", "tiny", "--tokenizer",
                tok.resolve("tokenizer.json").toString()).exit());
        JsonNode cfg = JSON.readTree(dir.resolve("config.json").toFile());
        assertEquals(128815, cfg.get("vocab_size").asInt(), "vocab sized to the tokenizer");
        Run prompt = run("generate", "--model", dir.toString(), "--prompt", "Hello, world!", "--max-tokens", "6",
                "--temperature", "0", "--json");
        assertEquals(0, prompt.exit(), prompt.err());
        JsonNode j = JSON.readTree(prompt.out());
        assertEquals("[0,19923,14,2058,3]", j.get("prompt_ids").toString(), "bos + HF ids of 'Hello, world!'");
        Run chat = run("generate", "--model", dir.toString(), "--messages",
                "[{\"role\":\"user\",\"content\":\"hi\"}]", "--max-tokens", "4", "--temperature", "0", "--json");
        assertEquals(0, chat.exit(), chat.err());
        assertEquals(0, JSON.readTree(chat.out()).get("prompt_ids").get(0).asInt(), "the template's bos, once");
        assertNotEquals(0, JSON.readTree(chat.out()).get("prompt_ids").get(1).asInt(), "no double bos");
    }
}
