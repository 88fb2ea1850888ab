package dev.dsv2.engine.serve;

import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.device.DeviceRequest;
import dev.dsv2.engine.device.DeviceUnavailableException;
import dev.dsv2.engine.generate.Generator;
import dev.dsv2.engine.generate.TokenListener;
import dev.dsv2.engine.model.DeepseekV2Model;
import dev.dsv2.engine.model.WeightFormat;
import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.testsupport.CollectingListener;
import dev.dsv2.testsupport.TestCheckpoints;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The one serving assembly: its cache sizing policy, and a scheduler that generates what the model alone does. */
class ServingEngineTest {
    private static final ModelConfig TINY = ModelPresets.preset("tiny");

    @Test
    void bytesPerTokenIsEveryLayersLatentAndRopeKeyInFloats() {
        assertEquals((long) TINY.numHiddenLayers() * (TINY.kvLoraRank() + TINY.qkRopeHeadDim()) * 4,
                LatentKvCache.bytesPerToken(TINY));
        assertEquals(LatentKvCache.forTokens(TINY, 64).bytesPerToken(), LatentKvCache.bytesPerToken(TINY));
    }

    @Test
    void theDefaultCacheIsAQuarterOfTheMaxHeapCappedAtEightContexts() {
        long perToken = LatentKvCache.bytesPerToken(TINY);
        assertEquals((int) ((2L << 30) / 4 / perToken), ServingEngine.defaultCacheTokens(TINY, 1 << 20, 2L << 30),
                "a 2 GiB heap: a quarter of it");
        assertEquals(8 * 2048, ServingEngine.defaultCacheTokens(TINY, 2048, 64L << 30),
                "a large heap stops at 8 x the context limit");
        assertEquals(64, ServingEngine.defaultCacheTokens(TINY, 2048, 1L << 10), "never less than one block");
        assertEquals(LatentKvCache.maxTokens(TINY), ServingEngine.defaultCacheTokens(TINY, Integer.MAX_VALUE / 8,
                1L << 50), "never more than one layer array holds");
        assertEquals(100, ServingEngine.cacheTokens(ServingSettings.defaults().withKvCacheTokens(100), TINY, 2048,
                1L << 30), "a configured size wins");
    }

    @Test
    void theSchedulerUsesTheSettingsAndGeneratesWhatTheModelAloneDoes() throws Exception {
        Path dir = TestCheckpoints.preset("tiny", 5);
        ServingSettings settings = ServingSettings.defaults().withThreads(2).withKvCacheTokens(1000)
                .withContextLimit(512).withBatchLimits(32, 4);
        try (ServingEngine engine = ServingEngine.load(dir, settings, null)) {
            assertEquals(1024, engine.cache().capacityTokens(), "1000 tokens rounded up to whole blocks of 64");
            assertEquals(new BatchScheduler.Config(32, 4, 4096, 512), engine.scheduler().config());
            assertEquals(512, engine.contextLimit());
            assertGeneratesWhatTheModelAloneDoes(engine);
        }
    }

    /** A greedy request through the engine's scheduler yields the tokens its model yields alone ({@link Generator}). */
    static void assertGeneratesWhatTheModelAloneDoes(ServingEngine engine) throws Exception {
        int[] prompt = {5, 17, 300, 42, 7, 7, 9};
        SamplingParams greedy = SamplingParams.greedy(12).toBuilder().ignoreEos(true).build();
        CollectingListener c = new CollectingListener();
        engine.scheduler().submit("r", prompt, greedy, c);
        assertEquals(FinishReason.LENGTH, c.done.get(60, TimeUnit.SECONDS), c.errorMessage);
        DeepseekV2Model model = engine.model();
        int[] alone = new Generator(model, LatentKvCache.forTokens(model.config(), 128))
                .generate(prompt, greedy, null, TokenListener.NONE).outputIds();
        assertArrayEquals(alone, c.ids());
    }

    @Test
    void aContextLimitBeyondTheModelFailsTheLoadNamingTheKey() {
        Path dir = TestCheckpoints.preset("tiny", 5);
        ServingSettings settings = ServingSettings.defaults().withThreads(1)
                .withContextLimit(TINY.maxPositionEmbeddings() + 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ServingEngine.load(dir, settings, null));
        assertEquals(true, e.getMessage().startsWith("dsv2.context-limit (DSV2_CONTEXT_LIMIT)"), e.getMessage());
    }

    @Test
    void anExplicitCudaDeviceThatCannotRunFailsTheLoadNamingWhatIsMissing() {
        Path dir = TestCheckpoints.preset("tiny", 5);
        ServingSettings settings = ServingSettings.defaults().withThreads(1).withDevice(DeviceRequest.cuda(0));
        DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
                () -> ServingEngine.load(dir, settings, null));
        assertEquals("--device cuda:0: no usable CUDA GPU: CUDA support (module dsv2-engine-cuda) is not on the class "
                + "path. Use --device cpu (or auto, which falls back to the CPU).", e.getMessage());
    }

    @Test
    void int8WeightsFromTheSettingsReachTheModel() {
        Path dir = TestCheckpoints.preset("tiny", 5);
        ServingSettings settings = ServingSettings.defaults().withThreads(1).withKvCacheTokens(256)
                .withWeights(WeightFormat.INT8);
        try (ServingEngine engine = ServingEngine.load(dir, settings, null)) {
            assertEquals(WeightFormat.INT8, engine.model().weightFormat());
        }
    }
}
