package dev.dsv2.engine.serve;

import org.junit.jupiter.api.Test;

import java.util.Optional;
import java.util.OptionalInt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The latent cache sized from device memory: fraction of the total, less what is used, less the reserve. */
class DeviceMemoryPlanTest {
    private static final long GIB = 1L << 30;
    /** V2-Lite: 27 layers x 576 floats x 4 bytes. */
    private static final long LITE_TOKEN = 27L * 576 * 4;

    @Test
    void theCacheGetsTheFractionOfTheDeviceLessWhatIsInUseAndTheReserve() {
        // 80 GiB device, 32 GiB used after the weights: 0.9 * 80 - 32 = 40 GiB allowed, 38 GiB after the 5% reserve
        DeviceMemoryPlan p = new DeviceMemoryPlan(48 * GIB, 80 * GIB, 0.9, LITE_TOKEN, 64);
        assertEquals((long) ((long) (0.9 * 80 * GIB - 32 * GIB) * 0.95), p.cacheBudgetBytes());
        int tokens = p.fittingTokens();
        assertEquals(0, tokens % 64);
        assertTrue((long) tokens * LITE_TOKEN <= p.cacheBudgetBytes());
        assertTrue((long) (tokens + 64) * LITE_TOKEN > p.cacheBudgetBytes());
        assertEquals(tokens, p.cacheTokens(OptionalInt.empty()));
    }

    @Test
    void anExplicitTokenCountThatFitsIsKept() {
        DeviceMemoryPlan p = new DeviceMemoryPlan(48 * GIB, 80 * GIB, 0.9, LITE_TOKEN, 64);
        assertEquals(1000, p.cacheTokens(OptionalInt.of(1000)));
    }

    @Test
    void anExplicitTokenCountThatDoesNotFitNamesBothNumbers() {
        DeviceMemoryPlan p = new DeviceMemoryPlan(4 * GIB, 80 * GIB, 0.9, LITE_TOKEN, 64);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> p.cacheTokens(OptionalInt.of(10_000_000)));
        assertTrue(e.getMessage().startsWith("dsv2.kv-cache.tokens (DSV2_KV_CACHE_TOKENS) 10,000,000 does not fit in "
                + "device memory: " + String.format("%,d", p.fittingTokens()) + " tokens fit"), e.getMessage());
    }

    @Test
    void whenUsedMemoryExceedsTheFractionNoBlockFits() {
        DeviceMemoryPlan p = new DeviceMemoryPlan(2 * GIB, 80 * GIB, 0.5, LITE_TOKEN, 64);
        assertEquals(0, p.cacheBudgetBytes());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> p.cacheTokens(OptionalInt.empty()));
        assertTrue(e.getMessage().startsWith("no latent cache block fits in device memory"), e.getMessage());
    }

    @Test
    void theFractionIsValidatedInTheOpenClosedUnitInterval() {
        for (double bad : new double[]{0, -0.1, 1.01, Double.NaN}) {
            assertThrows(IllegalArgumentException.class, () -> DeviceMemoryPlan.validateFraction(bad));
        }
        assertEquals(1.0, DeviceMemoryPlan.validateFraction(1.0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ServingSettings.parse(k -> k.equals(ServingSettings.GPU_MEMORY_FRACTION)
                        ? Optional.of("1.5") : Optional.empty()));
        assertTrue(e.getMessage().startsWith("dsv2.gpu-memory-fraction (DSV2_GPU_MEMORY_FRACTION)"), e.getMessage());
        assertEquals(0.9, ServingSettings.defaults().gpuMemoryFraction());
        assertEquals(0.5, ServingSettings.parse(k -> k.equals(ServingSettings.GPU_MEMORY_FRACTION)
                ? Optional.of("0.5") : Optional.empty()).gpuMemoryFraction());
    }

    @Test
    void theServingEngineSizesADeviceCacheFromTheMeasuredMemory() {
        var config = dev.dsv2.engine.checkpoint.ModelPresets.preset("lite-layers:4");
        ServingSettings s = ServingSettings.defaults();
        long perToken = dev.dsv2.engine.cache.LatentKvCache.bytesPerToken(config);
        int tokens = ServingEngine.deviceCacheTokens(s, config, new long[]{GIB, 2 * GIB});
        assertEquals(new DeviceMemoryPlan(GIB, 2 * GIB, 0.9, perToken, 64).fittingTokens(), tokens);
        assertThrows(IllegalArgumentException.class, () -> ServingEngine.deviceCacheTokens(
                s.withKvCacheTokens(100_000_000), config, new long[]{GIB, 2 * GIB}));
    }
}
