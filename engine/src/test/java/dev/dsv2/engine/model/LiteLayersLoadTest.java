package dev.dsv2.engine.model;

import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.checkpoint.RandomCheckpointWriter;
import dev.dsv2.engine.generate.GenerationResult;
import dev.dsv2.engine.generate.Generator;
import dev.dsv2.engine.generate.TokenListener;
import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.engine.sample.SamplingParams;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A checkpoint with DeepSeek-V2-Lite's real dimensions (2 layers: the dense layer and one MoE layer with 64 experts,
 * vocab 102400; 2.2 GB of bf16) maps in seconds without copying the weights onto the heap, and generates.
 */
class LiteLayersLoadTest {

    @Test
    void liteLayers2LoadsInSecondsWithoutCopyingAndGenerates(@TempDir Path dir) {
        RandomCheckpointWriter.write(ModelPresets.preset("lite-layers:2"), dir, 1, s -> { });
        System.gc();
        Runtime rt = Runtime.getRuntime();
        long heapBefore = rt.totalMemory() - rt.freeMemory();
        try (VectorBackend be = new VectorBackend(2)) {
            long t0 = System.nanoTime();
            DeepseekV2Model model = DeepseekV2Model.load(dir, be, s -> { });
            double loadSeconds = (System.nanoTime() - t0) / 1e9;
            System.gc();
            long heapGrowth = rt.totalMemory() - rt.freeMemory() - heapBefore;
            assertTrue(loadSeconds < 5, "load took " + loadSeconds + " s");
            assertTrue(heapGrowth < 64L << 20, "loading grew the heap by " + (heapGrowth >> 20)
                    + " MiB: weights must stay mapped, not copied");
            try (model) {
                assertEquals(2048, model.config().hiddenSize());
                assertEquals(64, model.config().nRoutedExperts());
                GenerationResult r = new Generator(model, LatentKvCache.forTokens(model.config(), 64))
                        .generate(new int[]{100000, 5, 9}, SamplingParams.greedy(4).toBuilder().ignoreEos(true).build(),
                                null, TokenListener.NONE);
                assertEquals(4, r.outputIds().length);
            }
        }
    }
}
