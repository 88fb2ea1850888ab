package dev.dsv2.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static dev.dsv2.cli.MakeModelAndGenerateTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code quantize}, {@code generate --weights} and {@code int8-error} as a user runs them. */
class QuantizeCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path tmp;
    static Path tiny;
    static Path int8;

    @BeforeAll
    static void makeAndQuantize() {
        tiny = tmp.resolve("tiny");
        int8 = tmp.resolve("tiny-int8");
        MakeModelAndGenerateTest.Run r = run("make-model", tiny.toString(), "--preset", "tiny", "--seed", "4");
        assertEquals(0, r.exit(), r.err());
        r = run("quantize", tiny.toString(), int8.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(Files.exists(int8.resolve("model.safetensors.index.json")));
        assertTrue(Files.exists(int8.resolve("generation_config.json")), "other files are copied");
    }

    private static String greedy(Path model, String weights) {
        MakeModelAndGenerateTest.Run r = run("generate", "--model", model.toString(), "--prompt-ids", "1,5,9",
                "--max-tokens", "10", "--temperature", "0", "--logprobs", "3", "--json", "--weights", weights);
        assertEquals(0, r.exit(), r.err());
        return r.out();
    }

    @Test
    void quantizedCheckpointGeneratesExactlyWhatLoadTimeQuantizationDoes() {
        String atLoad = greedy(tiny, "int8");
        assertEquals(atLoad, greedy(int8, "int8"));
        assertEquals(atLoad, greedy(int8, "bf16"), "an int8 checkpoint runs as int8 with --weights bf16 too");
    }

    @Test
    void unknownWeightFormatIsAUsageError() {
        MakeModelAndGenerateTest.Run r = run("generate", "--model", tiny.toString(), "--prompt-ids", "1",
                "--weights", "fp4");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("Invalid value for option '--weights': unknown weight format 'fp4' (expected bf16 "
                + "or int8)"), r.err());
    }

    @Test
    void quantizingTwiceIsRefused() {
        MakeModelAndGenerateTest.Run r = run("quantize", int8.toString(), tmp.resolve("again").toString());
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("is already an int8 checkpoint (config.json has quantization_config)"), r.err());
    }

    @Test
    void int8ErrorReportsAgreementFigures() throws Exception {
        MakeModelAndGenerateTest.Run r = run("int8-error", "--model", tiny.toString(), "--steps", "8",
                "--prompts", "2", "--json");
        assertEquals(0, r.exit(), r.err());
        JsonNode j = JSON.readTree(r.out());
        assertEquals(2, j.get("prompts").size());
        double agreement = j.get("teacher_forced_argmax_agreement").asDouble();
        assertTrue(agreement > 0.5 && agreement <= 1.0, r.out());
        double delta = j.get("max_abs_delta_top5_logprob").asDouble();
        assertTrue(delta > 0 && delta < 3, r.out());
    }
}
