package dev.dsv2.engine.serve;

import dev.dsv2.engine.device.DeviceRequest;
import dev.dsv2.engine.model.WeightFormat;
import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.config.ModelConfig;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The shared serving keys: one meaning in every service; refusals name the key, the variable and the value. */
class ServingSettingsTest {

    private static ServingSettings parse(Map<String, String> values) {
        return ServingSettings.parse(key -> Optional.ofNullable(values.get(key)));
    }

    private static String refusal(Map<String, String> values) {
        return assertThrows(IllegalArgumentException.class, () -> parse(values)).getMessage();
    }

    @Test
    void unsetKeysGiveTheDocumentedDefaults() {
        ServingSettings s = parse(Map.of());
        assertEquals("auto", s.backend());
        assertEquals(Runtime.getRuntime().availableProcessors(), s.threads());
        assertEquals(DeviceRequest.AUTO, s.device());
        assertEquals(WeightFormat.BF16, s.weights());
        assertEquals(OptionalInt.empty(), s.kvCacheTokens());
        assertEquals(OptionalInt.empty(), s.contextLimit());
        assertEquals(512, s.maxBatchTokens());
        assertEquals(256, s.maxRunning());
        assertEquals(4096, s.maxWaiting());
        assertEquals(ExpertWire.BF16, s.expertWire());
        assertEquals(dev.dsv2.engine.kernel.CpuKernels.AUTO, s.cpuKernels(),
                "int8 native where it runs, bf16 on the bit-exact Java kernels");
    }

    @Test
    void cpuKernelsAreAutoJavaOrNativeAndABadValueIsRefusedNamingTheAcceptedOnes() {
        assertEquals(dev.dsv2.engine.kernel.CpuKernels.NATIVE,
                parse(Map.of("dsv2.cpu-kernels", " Native ")).cpuKernels());
        assertEquals(dev.dsv2.engine.kernel.CpuKernels.JAVA, parse(Map.of("dsv2.cpu-kernels", "java")).cpuKernels());
        assertEquals(dev.dsv2.engine.kernel.CpuKernels.AUTO, parse(Map.of("dsv2.cpu-kernels", "AUTO")).cpuKernels());
        assertEquals("dsv2.cpu-kernels (DSV2_CPU_KERNELS): unknown CPU kernels 'vnni' (expected auto, java or "
                + "native)", refusal(Map.of("dsv2.cpu-kernels", "vnni")));
    }

    @Test
    void zeroMeansTheDefaultForThreadsCacheAndContextAsInTheHelmValues() {
        ServingSettings s = parse(Map.of("dsv2.threads", "0", "dsv2.kv-cache.tokens", "0", "dsv2.context-limit", "0"));
        assertEquals(parse(Map.of()), s);
    }

    @Test
    void setKeysAreTrimmedAndKept() {
        ServingSettings s = parse(Map.of("dsv2.backend", " Scalar ", "dsv2.threads", "3", "dsv2.device", "CUDA:1",
                "dsv2.weights", "int8", "dsv2.kv-cache.tokens", "4096", "dsv2.context-limit", "2048",
                "dsv2.max-batch-tokens", "64", "dsv2.max-running", "8", "dsv2.max-waiting", "0",
                "dsv2.expert-wire", " F32 "));
        assertEquals(new ServingSettings("scalar", 3, DeviceRequest.cuda(1), WeightFormat.INT8,
                OptionalInt.of(4096), OptionalInt.of(2048), 64, 8, 0, ExpertWire.F32), s);
        assertEquals(ServingSettings.DEFAULT_WARMUP_STEPS, s.warmupSteps());
        assertEquals(new BatchScheduler.Config(64, 8, 0, 2048), s.schedulerConfig(2048));
    }

    @Test
    void microBatchesReachTheSchedulerConfig() {
        assertEquals(MicroBatches.AUTO, parse(Map.of()).schedulerConfig(512).microBatches());
        assertEquals(MicroBatches.ONE, parse(Map.of("dsv2.micro-batches", " 1 ")).schedulerConfig(512).microBatches());
        assertEquals("dsv2.micro-batches (DSV2_MICRO_BATCHES): 'always' is not a micro-batch policy (accepted: auto, "
                + "1, 2)", refusal(Map.of("dsv2.micro-batches", "always")));
    }

    @Test
    void badValuesAreRefusedNamingTheKeyTheVariableAndTheValue() {
        assertEquals("dsv2.threads (DSV2_THREADS) must be >= 1, got -2 (0 or unset = the default)",
                refusal(Map.of("dsv2.threads", "-2")));
        assertEquals("dsv2.threads (DSV2_THREADS) must be an integer, got 'four'",
                refusal(Map.of("dsv2.threads", "four")));
        assertEquals("dsv2.kv-cache.tokens (DSV2_KV_CACHE_TOKENS) must be >= 1, got -5 (0 or unset = the default)",
                refusal(Map.of("dsv2.kv-cache.tokens", "-5")));
        assertEquals("dsv2.context-limit (DSV2_CONTEXT_LIMIT) must be >= 2, got 1 (0 or unset = the default)",
                refusal(Map.of("dsv2.context-limit", "1")));
        assertEquals("dsv2.max-batch-tokens (DSV2_MAX_BATCH_TOKENS) must be >= 1, got 0",
                refusal(Map.of("dsv2.max-batch-tokens", "0")));
        assertEquals("dsv2.max-waiting (DSV2_MAX_WAITING) must be >= 0, got -1",
                refusal(Map.of("dsv2.max-waiting", "-1")));
        assertEquals("dsv2.backend (DSV2_BACKEND): 'gpu' is not a kernel backend (expected auto, cpu, vector or"
                + " scalar)", refusal(Map.of("dsv2.backend", "gpu")));
        assertEquals("dsv2.device (DSV2_DEVICE): device 'cuda:x': 'x' is not a CUDA device index (expected auto,"
                + " cpu, cuda or cuda:N (N >= 0))", refusal(Map.of("dsv2.device", "cuda:x")));
        assertEquals("dsv2.weights (DSV2_WEIGHTS): unknown weight format 'fp8' (expected bf16 or int8)",
                refusal(Map.of("dsv2.weights", "fp8")));
        assertEquals("dsv2.expert-wire (DSV2_EXPERT_WIRE): 'fp8' is not a wire format (expected bf16 or f32)",
                refusal(Map.of("dsv2.expert-wire", "fp8")));
    }

    @Test
    void weightsParseEveryAcceptedSpelling() {
        assertEquals(WeightFormat.INT8, WeightFormat.parse(" INT8 "));
        assertEquals(WeightFormat.BF16, WeightFormat.parse("bf16"));
        assertEquals("int8", WeightFormat.INT8.toString());
    }

    @Test
    void theContextLimitDefaultsToTheModelsAndIsCheckedAgainstIt() {
        ModelConfig tiny = ModelPresets.preset("tiny");
        assertEquals(tiny.defaultContextLimit(), ServingSettings.defaults().contextLimit(tiny));
        assertEquals(1024, ServingSettings.defaults().withContextLimit(1024).contextLimit(tiny));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ServingSettings.defaults().withContextLimit(tiny.maxPositionEmbeddings() + 1).contextLimit(tiny));
        assertTrue(e.getMessage().startsWith("dsv2.context-limit (DSV2_CONTEXT_LIMIT) "
                + (tiny.maxPositionEmbeddings() + 1) + " must be in [2, " + tiny.maxPositionEmbeddings() + "]"),
                e.getMessage());
    }

    @Test
    void programmaticSettingsAreCheckedLikeParsedOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ServingSettings.defaults().withKvCacheTokens(-5));
        assertEquals("dsv2.kv-cache.tokens (DSV2_KV_CACHE_TOKENS) must be >= 1, got -5", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ServingSettings.defaults().withThreads(0));
    }

    @Test
    void environmentVariableNamesFollowQuarkus() {
        assertEquals("DSV2_KV_CACHE_TOKENS", ServingSettings.envName("dsv2.kv-cache.tokens"));
        assertEquals("DSV2_MAX_BATCH_TOKENS", ServingSettings.envName("dsv2.max-batch-tokens"));
    }
}
