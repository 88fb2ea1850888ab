package dev.dsv2.helm;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Toleration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;
import java.util.Map;

import static dev.dsv2.helm.DsvChart.values;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GPUs are requested exactly where enabled, in both requests and limits; every probe hits a real Quarkus health path
 * on a port the container declares; the startup probes leave router and experts minutes to load their weights.
 */
class ResourcesAndProbesTest {

    private static final String GPU = "nvidia.com/gpu";

    @Test
    void noContainerRequestsAGpuByDefault() {
        var manifests = DsvChart.render();

        for (String component : Manifests.COMPONENTS) {
            assertFalse(requestsOrLimits(manifests.container(component), GPU), component + " requests a GPU by default");
        }
    }

    @Test
    void theGpuProfilePutsOneGpuOnTheRouterAndOnEachShardButNoneOnTheGateway() {
        var manifests = DsvChart.render(List.of(DsvChart.GPU_4_SHARDS), Map.of());

        for (String component : List.of("router", "expert")) {
            var resources = manifests.container(component).getResources();
            assertEquals(new Quantity("1"), resources.getLimits().get(GPU), component + " limits");
            assertEquals(new Quantity("1"), resources.getRequests().get(GPU), component + " requests");
            assertEquals("cuda", manifests.env(component, "DSV2_DEVICE"));
            var pod = manifests.podTemplate(component).getSpec();
            assertEquals("true", pod.getNodeSelector().get("nvidia.com/gpu.present"));
            assertTrue(pod.getTolerations().stream().map(Toleration::getKey).anyMatch(GPU::equals));
        }
        assertFalse(requestsOrLimits(manifests.container("gateway"), GPU));
    }

    @Test
    void enablingTheRouterGpuAddsItToTheRouterOnlyAndKeepsCpuAndMemory() {
        var manifests = DsvChart.render(values("router.gpu.enabled", true, "router.gpu.count", 2,
                "router.gpu.resourceName", "amd.com/gpu"));

        var router = manifests.container("router").getResources();
        assertEquals(new Quantity("2"), router.getLimits().get("amd.com/gpu"));
        assertEquals(new Quantity("2"), router.getRequests().get("amd.com/gpu"));
        assertEquals(new Quantity("8Gi"), router.getLimits().get("memory"));
        assertEquals(new Quantity("4"), router.getRequests().get("cpu"));
        assertFalse(requestsOrLimits(manifests.container("expert"), "amd.com/gpu"));
        assertFalse(requestsOrLimits(manifests.container("gateway"), "amd.com/gpu"));
    }

    @Test
    void aGpuIsRequestedEvenWhenTheComponentDeclaresNoResources() {
        // null deletes the default resources block, as "--set expert.resources=null" does.
        var manifests = DsvChart.render(values("expert.gpu.enabled", true, "expert.resources", null));

        var experts = manifests.container("expert").getResources();
        assertEquals(Map.of(GPU, new Quantity("1")), experts.getLimits());
        assertEquals(new Quantity("1"), experts.getLimits().get(GPU));
        assertEquals(new Quantity("1"), experts.getRequests().get(GPU));
    }

    @ParameterizedTest
    @ValueSource(strings = {"default", "gpu-4shards"})
    void everyProbeHitsAQuarkusHealthPathOnTheContainersHttpPort(String profile) {
        var manifests = profile.equals("default")
                ? DsvChart.render()
                : DsvChart.render(List.of(DsvChart.GPU_4_SHARDS), Map.of());

        for (String component : Manifests.COMPONENTS) {
            Container container = manifests.container(component);
            assertProbe(container, container.getStartupProbe(), "/q/health/started");
            assertProbe(container, container.getLivenessProbe(), "/q/health/live");
            assertProbe(container, container.getReadinessProbe(), "/q/health/ready");
        }
    }

    @Test
    void probesFollowAChangedHttpPort() {
        var manifests = DsvChart.render(values("router.ports.http", 8181));

        Container router = manifests.container("router");
        assertEquals("8181", manifests.env("router", "QUARKUS_HTTP_PORT"));
        assertEquals(8181, namedPort(router, router.getReadinessProbe().getHttpGet().getPort().getStrVal()).getContainerPort());
    }

    @Test
    void routerAndExpertsHaveAtLeastTenMinutesToLoadTheirWeights() {
        var manifests = DsvChart.render();

        for (String component : List.of("router", "expert")) {
            Probe startup = manifests.container(component).getStartupProbe();
            int budgetSeconds = startup.getPeriodSeconds() * startup.getFailureThreshold();
            assertTrue(budgetSeconds >= 600, component + " startup budget is only " + budgetSeconds + " s");
        }
    }

    @Test
    void theStartupBudgetIsConfigurable() {
        var manifests = DsvChart.render(values("expert.probes.startup.failureThreshold", 360,
                "expert.probes.startup.periodSeconds", 5));

        Probe startup = manifests.container("expert").getStartupProbe();
        assertEquals(1800, startup.getPeriodSeconds() * startup.getFailureThreshold());
    }

    @Test
    void containersRunAsTheImagesNonRootUserWithoutPrivileges() {
        var manifests = DsvChart.render();

        for (String component : Manifests.COMPONENTS) {
            var pod = manifests.podTemplate(component).getSpec();
            assertEquals(185L, pod.getSecurityContext().getRunAsUser());
            assertEquals(Boolean.TRUE, pod.getSecurityContext().getRunAsNonRoot());
            assertEquals(Boolean.FALSE, manifests.container(component).getSecurityContext().getAllowPrivilegeEscalation());
            assertEquals(Boolean.FALSE, pod.getAutomountServiceAccountToken());
        }
    }

    private static void assertProbe(Container container, Probe probe, String path) {
        assertNotNull(probe, container.getName() + " has no probe for " + path);
        assertEquals(path, probe.getHttpGet().getPath(), container.getName());
        String portName = probe.getHttpGet().getPort().getStrVal();
        assertEquals("http", portName, container.getName() + " probes " + path + " on a port that is not the named http port");
        int port = namedPort(container, portName).getContainerPort();
        String httpPort = container.getEnv().stream().filter(e -> e.getName().equals("QUARKUS_HTTP_PORT"))
                .findFirst().orElseThrow().getValue();
        assertEquals(httpPort, String.valueOf(port), container.getName() + ": the probed port is not the one Quarkus listens on");
    }

    private static ContainerPort namedPort(Container container, String name) {
        return container.getPorts().stream().filter(p -> name.equals(p.getName())).findFirst()
                .orElseThrow(() -> new AssertionError(container.getName() + " declares no port named " + name));
    }

    private static boolean requestsOrLimits(Container container, String resource) {
        var resources = container.getResources();
        return resources != null
                && ((resources.getLimits() != null && resources.getLimits().containsKey(resource))
                || (resources.getRequests() != null && resources.getRequests().containsKey(resource)));
    }
}
