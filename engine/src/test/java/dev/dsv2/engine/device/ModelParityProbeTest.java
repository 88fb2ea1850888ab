package dev.dsv2.engine.device;

import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.checkpoint.RandomCheckpointWriter;
import dev.dsv2.engine.generate.GenerationResult;
import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.engine.kernel.scalar.ScalarBackend;
import dev.dsv2.engine.model.WeightFormat;
import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.TopLogprobs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * The model parity probe: the same greedy ids and top-5 logprobs within 2e-3 pass; a different id or a logprob off
 * by more refuses naming the step. The scalar oracle stands in for a device here (it agrees with the CPU backend to
 * float rounding, as a correct device must).
 */
class ModelParityProbeTest {

    private static GenerationResult result(int[] ids, float... firstStepLogprobs) {
        TopLogprobs first = new TopLogprobs(new int[]{ids[0], 7, 8, 9, 10}, firstStepLogprobs);
        TopLogprobs rest = new TopLogprobs(new int[]{ids[1], 7, 8, 9, 10}, new float[]{-0.1f, -2, -3, -4, -5});
        return new GenerationResult(new int[]{1}, ids, "", FinishReason.LENGTH, List.of(first, rest),
                new float[0]);
    }

    @Test
    void identicalIdsAndCloseLogprobsPass() {
        GenerationResult cpu = result(new int[]{3, 4}, -0.5f, -1, -2, -3, -4);
        GenerationResult dev = result(new int[]{3, 4}, -0.5015f, -1, -2, -3, -4);
        assertNull(ModelParityProbe.compare(cpu, dev, "cuda:0"));
    }

    @Test
    void aDifferentGreedyIdNamesTheStep() {
        assertEquals("step 1: greedy token 5 on cuda:0, 4 on the CPU", ModelParityProbe.compare(
                result(new int[]{3, 4}, -0.5f, -1, -2, -3, -4), result(new int[]{3, 5}, -0.5f, -1, -2, -3, -4),
                "cuda:0"));
    }

    @Test
    void aLogprobOffByMoreThanTheToleranceNamesStepRankAndError() {
        String m = ModelParityProbe.compare(result(new int[]{3, 4}, -0.5f, -1, -2, -3, -4),
                result(new int[]{3, 4}, -0.5f, -1, -2.01f, -3, -4), "cuda:0");
        assertEquals("step 0: |delta top-5 logprob| at rank 3 is 0.0100 > 2e-03 (cuda:0 -2.010000, cpu -2.000000)",
                m);
    }

    @Test
    void theScalarOracleAgreesWithTheCpuBackendOnTheTinyModel(@TempDir Path dir) {
        RandomCheckpointWriter.write(ModelPresets.preset("tiny"), dir, 1, s -> { });
        ModelParityProbe probe = new ModelParityProbe(dir, WeightFormat.BF16, () -> new VectorBackend(1));
        try (ScalarBackend oracle = new ScalarBackend()) {
            assertNull(probe.mismatch(oracle));
        }
    }
}
