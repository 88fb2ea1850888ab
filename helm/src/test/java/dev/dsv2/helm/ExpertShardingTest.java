package dev.dsv2.helm;

import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

import static dev.dsv2.helm.DsvChart.NAMESPACE;
import static dev.dsv2.helm.DsvChart.values;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The expert StatefulSet runs shards x replicationFactor pods; each pod learns its ordinal from the pod-index label
 * (shard = ordinal % N, replica = ordinal / N) and the router lists every pod's stable DNS name on the headless
 * Service, so that it can reach each shard.
 */
class ExpertShardingTest {

    @Test
    void eachExpertPodReadsItsOrdinalFromThePodIndexLabel() {
        var manifests = DsvChart.render();

        EnvVar ordinal = manifests.envVar("expert", "DSV2_SHARD_ORDINAL").orElseThrow();
        assertEquals("metadata.labels['apps.kubernetes.io/pod-index']", ordinal.getValueFrom().getFieldRef().getFieldPath());
        assertEquals(null, ordinal.getValue());
    }

    @Test
    void defaultsRunTwoShardsWithoutReplication() {
        var manifests = DsvChart.render();

        assertEquals(2, manifests.get(StatefulSet.class, "dsv-expert").getSpec().getReplicas());
        assertEquals("2", manifests.env("expert", "DSV2_SHARD_COUNT"));
        assertEquals("1", manifests.env("expert", "DSV2_SHARD_REPLICAS"));
        assertEquals("dsv-expert-0.dsv-expert-headless.llm.svc:9090,dsv-expert-1.dsv-expert-headless.llm.svc:9090",
                manifests.env("router", "DSV2_ROUTER_EXPERTS"));
    }

    @Test
    void theGpuProfileRunsFourShards() {
        var manifests = DsvChart.render(List.of(DsvChart.GPU_4_SHARDS), Map.of());

        assertEquals(4, manifests.get(StatefulSet.class, "dsv-expert").getSpec().getReplicas());
        assertEquals("4", manifests.env("expert", "DSV2_SHARD_COUNT"));
        assertEquals(expectedAddresses(manifests, 4), manifests.env("router", "DSV2_ROUTER_EXPERTS"));
    }

    @ParameterizedTest(name = "{0} shards x {1} replicas")
    @CsvSource({"1,1", "4,1", "4,2", "8,3"})
    void theRouterListsEveryPodOfEveryShardAndReplica(int shards, int replicationFactor) {
        var manifests = DsvChart.render(values("expert.shards", shards, "expert.replicationFactor", replicationFactor));

        int pods = shards * replicationFactor;
        assertEquals(pods, manifests.get(StatefulSet.class, "dsv-expert").getSpec().getReplicas());
        assertEquals(String.valueOf(shards), manifests.env("expert", "DSV2_SHARD_COUNT"));
        assertEquals(String.valueOf(replicationFactor), manifests.env("expert", "DSV2_SHARD_REPLICAS"));
        String listed = manifests.env("router", "DSV2_ROUTER_EXPERTS");
        assertEquals(pods, listed.split(",").length, listed);
        assertEquals(expectedAddresses(manifests, pods), listed);
    }

    @Test
    void expertAddressesFollowAChangedGrpcPort() {
        var manifests = DsvChart.render(values("expert.ports.grpc", 9500));

        assertEquals("dsv-expert-0.dsv-expert-headless.llm.svc:9500,dsv-expert-1.dsv-expert-headless.llm.svc:9500",
                manifests.env("router", "DSV2_ROUTER_EXPERTS"));
        assertEquals("9500", manifests.env("expert", "QUARKUS_GRPC_SERVER_PORT"));
        assertEquals(9500, containerPort(manifests, "expert", "grpc").getContainerPort());
    }

    @Test
    void theHeadlessServiceGovernsTheExpertPodsAndPublishesThemWhileTheyLoad() {
        var manifests = DsvChart.render();

        StatefulSet experts = manifests.get(StatefulSet.class, "dsv-expert");
        Service headless = manifests.get(Service.class, experts.getSpec().getServiceName());
        assertEquals("dsv-expert-headless", headless.getMetadata().getName());
        assertEquals("None", headless.getSpec().getClusterIP());
        assertEquals(Boolean.TRUE, headless.getSpec().getPublishNotReadyAddresses());
        var podLabels = experts.getSpec().getTemplate().getMetadata().getLabels();
        assertTrue(Manifests.selects(headless.getSpec().getSelector(), podLabels));
        assertTrue(Manifests.selects(experts.getSpec().getSelector(), podLabels));
        assertEquals("Parallel", experts.getSpec().getPodManagementPolicy());
    }

    @Test
    void sharedExpertPlacementReachesRouterAndShards() {
        var local = DsvChart.render();
        assertEquals("local", local.env("router", "DSV2_ROUTER_SHARED_EXPERTS"));
        assertEquals("false", local.env("expert", "DSV2_SHARD_SHARED_EXPERTS"));

        var onShards = DsvChart.render(values("router.sharedExperts", "shards"));
        assertEquals("shards", onShards.env("router", "DSV2_ROUTER_SHARED_EXPERTS"));
        assertEquals("true", onShards.env("expert", "DSV2_SHARD_SHARED_EXPERTS"));
    }

    @Test
    void theExpertWireReachesTheRouterBf16ByDefault() {
        assertEquals("bf16", DsvChart.render().env("router", "DSV2_EXPERT_WIRE"));
        assertEquals("f32", DsvChart.render(values("router.expertWire", "f32")).env("router", "DSV2_EXPERT_WIRE"));
    }

    @Test
    void theMicroBatchPolicyReachesTheRouterAutoByDefault() {
        assertEquals("auto", DsvChart.render().env("router", "DSV2_MICRO_BATCHES"));
        assertEquals("1", DsvChart.render(values("router.microBatches", 1)).env("router", "DSV2_MICRO_BATCHES"));
        assertEquals("2", DsvChart.render(values("router.microBatches", 2)).env("router", "DSV2_MICRO_BATCHES"));
    }

    @Test
    void theGatewayDialsTheRouterServiceOnAPortThatReachesTheRoutersGrpcPort() {
        var manifests = DsvChart.render(values("router.ports.grpc", 9700));

        String router = manifests.env("gateway", "DSV2_GATEWAY_ROUTER");
        assertEquals("dsv-router.llm.svc:9700", router);
        Service service = manifests.get(Service.class, router.substring(0, router.indexOf('.')));
        ServicePort port = service.getSpec().getPorts().stream().filter(p -> p.getPort() == 9700).findFirst().orElseThrow();
        ContainerPort target = containerPort(manifests, "router", port.getTargetPort().getStrVal());
        assertEquals(9700, target.getContainerPort());
        assertTrue(Manifests.selects(service.getSpec().getSelector(), manifests.podTemplate("router").getMetadata().getLabels()));
    }

    @Test
    void routerSchedulerSettingsAreWiredFromValues() {
        var defaults = DsvChart.render();
        assertEquals("512", defaults.env("router", "DSV2_MAX_BATCH_TOKENS"));
        assertEquals("256", defaults.env("router", "DSV2_MAX_RUNNING"));
        assertTrue(defaults.envVar("router", "DSV2_KV_CACHE_TOKENS").isEmpty(), "0 means sized by the router");
        assertTrue(defaults.envVar("router", "DSV2_THREADS").isEmpty(), "0 means available processors");
        assertTrue(defaults.envVar("router", "DSV2_CONTEXT_LIMIT").isEmpty());

        var tuned = DsvChart.render(values("router.kvCacheTokens", 131072, "router.threads", 6, "expert.threads", 3,
                "contextLimit", 16384, "router.maxRunning", 64));
        assertEquals("131072", tuned.env("router", "DSV2_KV_CACHE_TOKENS"));
        assertEquals("6", tuned.env("router", "DSV2_THREADS"));
        assertEquals("3", tuned.env("expert", "DSV2_THREADS"));
        assertEquals("16384", tuned.env("router", "DSV2_CONTEXT_LIMIT"));
        assertEquals("16384", tuned.env("gateway", "DSV2_CONTEXT_LIMIT"));
        assertEquals("64", tuned.env("router", "DSV2_MAX_RUNNING"));
    }

    /** "<sts>-<i>.<headless service>.<namespace>.svc:<grpc port>" for every ordinal, from the rendered objects. */
    private static String expectedAddresses(Manifests manifests, int pods) {
        StatefulSet experts = manifests.get(StatefulSet.class, "dsv-expert");
        String name = experts.getMetadata().getName();
        String service = experts.getSpec().getServiceName();
        int port = containerPort(manifests, "expert", "grpc").getContainerPort();
        return String.join(",", IntStream.range(0, pods)
                .mapToObj(i -> "%s-%d.%s.%s.svc:%d".formatted(name, i, service, NAMESPACE, port))
                .toList());
    }

    private static ContainerPort containerPort(Manifests manifests, String component, String name) {
        return manifests.container(component).getPorts().stream()
                .filter(p -> name.equals(p.getName()))
                .findFirst()
                .orElseThrow(() -> new AssertionError(component + " container has no port named " + name));
    }
}
