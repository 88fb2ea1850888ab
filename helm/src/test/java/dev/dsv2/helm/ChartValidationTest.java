package dev.dsv2.helm;

import com.marcnuri.helm.LintResult;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Map;
import java.util.stream.Stream;

import static dev.dsv2.helm.DsvChart.values;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code helm lint --strict} accepts the shipped values, and both lint and {@code helm template} refuse bad values with a
 * message that names the offending field: values.schema.json for single fields, the chart's validate helper for
 * combinations.
 */
class ChartValidationTest {

    @Test
    void defaultValuesLintWithoutWarningsOrErrors() {
        LintResult lint = DsvChart.lint();

        assertFalse(lint.isFailed(), () -> "lint failed: " + lint.getMessages());
        assertTrue(lint.getMessages().stream().noneMatch(m -> m.startsWith("[WARNING]") || m.startsWith("[ERROR]")),
                () -> "lint messages: " + lint.getMessages());
    }

    @Test
    void gpuFourShardProfileLintsWithoutWarningsOrErrors() {
        LintResult lint = DsvChart.lint(DsvChart.readValues(DsvChart.GPU_4_SHARDS));

        assertFalse(lint.isFailed(), () -> "lint failed: " + lint.getMessages());
        assertTrue(lint.getMessages().stream().noneMatch(m -> m.startsWith("[WARNING]") || m.startsWith("[ERROR]")),
                () -> "lint messages: " + lint.getMessages());
    }

    /** A dotted values path, a bad value for it, and the field path the schema error must name. */
    static Stream<Arguments> valuesTheSchemaRejects() {
        return Stream.of(
                Arguments.of("expert.shards", 0, "/expert/shards"),
                Arguments.of("expert.shards", -4, "/expert/shards"),
                Arguments.of("expert.shards", 2.5, "/expert/shards"),
                Arguments.of("expert.replicationFactor", 0, "/expert/replicationFactor"),
                Arguments.of("router.backend", "tpu", "/router/backend"),
                Arguments.of("expert.backend", "gpu", "/expert/backend"),
                Arguments.of("gateway.ports.http", 70000, "/gateway/ports/http"),
                Arguments.of("router.ports.grpc", 0, "/router/ports/grpc"),
                Arguments.of("expert.ports.grpc", "grpc", "/expert/ports/grpc"),
                Arguments.of("router.gpu.count", 0, "/router/gpu/count"),
                Arguments.of("router.gpuMemoryFraction", 1.5, "/router/gpuMemoryFraction"),
                Arguments.of("router.gpuMemoryFraction", 0, "/router/gpuMemoryFraction"),
                Arguments.of("router.cpuKernels", "fast", "/router/cpuKernels"),
                Arguments.of("router.microBatches", 3, "/router/microBatches"),
                Arguments.of("expert.cpuKernels", "avx", "/expert/cpuKernels"),
                Arguments.of("router.warmupSteps", -1, "/router/warmupSteps"),
                Arguments.of("expert.warmupSteps", "some", "/expert/warmupSteps"),
                Arguments.of("router.sharedExperts", "everywhere", "/router/sharedExperts"),
                Arguments.of("router.probes.startup.failureThreshold", 0, "/router/probes/startup/failureThreshold"),
                Arguments.of("gateway.image.tag", "latest", "/gateway/image/tag"),
                Arguments.of("expert.replicas", 8, "replicas"));
    }

    @ParameterizedTest(name = "{0}={1}")
    @MethodSource("valuesTheSchemaRejects")
    void lintRejectsABadValueNamingTheField(String path, Object value, String fieldInMessage) {
        LintResult lint = DsvChart.lint(values(path, value));

        assertTrue(lint.isFailed(), () -> path + "=" + value + " passed lint: " + lint.getMessages());
        String messages = String.join("\n", lint.getMessages());
        assertTrue(messages.contains(fieldInMessage), () -> "lint messages do not name " + fieldInMessage + ":\n" + messages);
    }

    @ParameterizedTest(name = "{0}={1}")
    @MethodSource("valuesTheSchemaRejects")
    void templateRejectsABadValueNamingTheField(String path, Object value, String fieldInMessage) {
        var error = assertThrows(IllegalStateException.class, () -> DsvChart.render(values(path, value)));

        assertTrue(error.getMessage().contains("values don't meet the specifications of the schema"), error::getMessage);
        assertTrue(error.getMessage().contains(fieldInMessage), () -> "error does not name " + fieldInMessage + ": " + error.getMessage());
    }

    /** Combinations of valid fields that cannot work together, and the words the failure must contain. */
    static Stream<Arguments> contradictoryValues() {
        return Stream.of(
                Arguments.of(values("router.gpu.enabled", true, "router.backend", "cpu"),
                        "router.gpu.enabled=true contradicts router.backend=cpu"),
                Arguments.of(values("expert.backend", "cuda"),
                        "expert.backend=cuda needs a GPU: set expert.gpu.enabled=true"),
                Arguments.of(values("model.pvc.create", false),
                        "model: no source for the weights: set model.pvc.existingClaim"),
                Arguments.of(values("kafka.enabled", true),
                        "kafka.enabled=true needs kafka.bootstrapServers"));
    }

    /**
     * Only {@code helm template}/{@code install} can report these: in lint mode Helm turns a template's {@code fail}
     * into an INFO log line and passes.
     */
    @ParameterizedTest
    @MethodSource("contradictoryValues")
    void templateRejectsContradictoryValuesSayingWhatToChange(Map<String, Object> overrides, String expected) {
        var error = assertThrows(IllegalStateException.class, () -> DsvChart.render(overrides));

        assertTrue(error.getMessage().contains(expected), error::getMessage);
    }

    @Test
    void theSchemaAcceptsEveryBackendAndReplicatedShards() {
        for (String backend : new String[] {"auto", "cpu"}) {
            var manifests = DsvChart.render(values("router.backend", backend, "expert.backend", backend,
                    "expert.shards", 8, "expert.replicationFactor", 2));
            assertEquals(backend, manifests.env("router", "DSV2_DEVICE"));
            assertEquals(backend, manifests.env("expert", "DSV2_DEVICE"));
        }
        var cuda = DsvChart.render(values("router.backend", "cuda", "router.gpu.enabled", true));
        assertEquals("cuda", cuda.env("router", "DSV2_DEVICE"));
        assertEquals("0.9", cuda.env("router", "DSV2_GPU_MEMORY_FRACTION"));
        assertEquals("0.5", DsvChart.render(values("router.gpuMemoryFraction", 0.5)).env("router",
                "DSV2_GPU_MEMORY_FRACTION"));
        assertEquals("auto", cuda.env("router", "DSV2_CPU_KERNELS"));
        assertEquals("auto", cuda.env("expert", "DSV2_CPU_KERNELS"));
        var nativeKernels = DsvChart.render(values("router.cpuKernels", "native", "expert.cpuKernels", "native"));
        assertEquals("native", nativeKernels.env("router", "DSV2_CPU_KERNELS"));
        assertEquals("native", nativeKernels.env("expert", "DSV2_CPU_KERNELS"));
        var javaKernels = DsvChart.render(values("router.cpuKernels", "java", "expert.cpuKernels", "java"));
        assertEquals("java", javaKernels.env("router", "DSV2_CPU_KERNELS"));
        assertEquals("java", javaKernels.env("expert", "DSV2_CPU_KERNELS"));
        assertEquals("32", cuda.env("router", "DSV2_WARMUP_STEPS"));
        assertEquals("32", cuda.env("expert", "DSV2_WARMUP_STEPS"));
        var noWarmup = DsvChart.render(values("router.warmupSteps", 0, "expert.warmupSteps", 0));
        assertEquals("0", noWarmup.env("router", "DSV2_WARMUP_STEPS"));
        assertEquals("0", noWarmup.env("expert", "DSV2_WARMUP_STEPS"));
    }
}
