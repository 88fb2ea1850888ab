package dev.dsv2.helm;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static dev.dsv2.helm.DsvChart.values;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Where the weights come from (a created or existing PVC, optionally filled by the download init container), the
 * image names, and the optional integrations: Kafka batch settings, ServiceMonitors, the gateway's autoscaler.
 */
class ModelAndIntegrationsTest {

    private static final String MODEL_DIR = "/models/DeepSeek-V2-Lite-Chat";

    @Test
    void byDefaultEveryPodMountsTheChartsModelPvcReadOnly() {
        var manifests = DsvChart.render();

        PersistentVolumeClaim pvc = manifests.get(PersistentVolumeClaim.class, "dsv-model");
        assertEquals(List.of("ReadWriteMany"), pvc.getSpec().getAccessModes());
        assertEquals(new Quantity("64Gi"), pvc.getSpec().getResources().getRequests().get("storage"));
        assertEquals("keep", pvc.getMetadata().getAnnotations().get("helm.sh/resource-policy"));
        for (String component : Manifests.COMPONENTS) {
            Volume model = modelVolume(manifests, component);
            assertEquals("dsv-model", model.getPersistentVolumeClaim().getClaimName(), component);
            assertEquals(Boolean.TRUE, model.getPersistentVolumeClaim().getReadOnly(), component);
            VolumeMount mount = modelMount(manifests.container(component));
            assertEquals("/models", mount.getMountPath());
            assertEquals(Boolean.TRUE, mount.getReadOnly());
            assertEquals(MODEL_DIR, manifests.env(component, "DSV2_MODEL_DIR"));
            assertTrue(manifests.podTemplate(component).getSpec().getInitContainers().isEmpty(), component + " downloads by default");
        }
        assertEquals("DeepSeek-V2-Lite-Chat", manifests.env("gateway", "DSV2_MODEL_NAME"));
    }

    @Test
    void anExistingClaimReplacesTheChartsPvc() {
        var manifests = DsvChart.render(values("model.pvc.existingClaim", "deepseek-weights"));

        assertTrue(manifests.all(PersistentVolumeClaim.class).isEmpty());
        for (String component : Manifests.COMPONENTS) {
            assertEquals("deepseek-weights", modelVolume(manifests, component).getPersistentVolumeClaim().getClaimName());
        }
    }

    @Test
    void theDownloadInitContainerFillsTheModelDirectoryWithTheTokenFromASecret() {
        var manifests = DsvChart.render(values("model.download.enabled", true,
                "model.download.tokenSecret.name", "hf-token", "model.download.tokenSecret.key", "HF_TOKEN"));

        for (String component : Manifests.COMPONENTS) {
            List<Container> init = manifests.podTemplate(component).getSpec().getInitContainers();
            assertEquals(1, init.size(), component);
            Container download = init.getFirst();
            assertEquals("python:3.12-slim", download.getImage());
            assertTrue(download.getArgs().getFirst().contains("snapshot_download"), download.getArgs().getFirst());
            assertEquals(MODEL_DIR, envValue(download, "DSV2_MODEL_DIR"));
            assertEquals("deepseek-ai/DeepSeek-V2-Lite-Chat", envValue(download, "HF_REPO"));
            assertEquals("[\"*.json\",\"*.safetensors\"]", envValue(download, "HF_INCLUDE"));
            var token = download.getEnv().stream().filter(e -> e.getName().equals("HF_TOKEN")).findFirst().orElseThrow();
            assertEquals("hf-token", token.getValueFrom().getSecretKeyRef().getName());
            assertEquals("HF_TOKEN", token.getValueFrom().getSecretKeyRef().getKey());
            VolumeMount writable = modelMount(download);
            assertEquals("/models", writable.getMountPath());
            assertFalse(Boolean.TRUE.equals(writable.getReadOnly()), "the download writes into the volume");
            assertFalse(modelVolume(manifests, component).getPersistentVolumeClaim().getReadOnly());
            assertEquals(Boolean.TRUE, modelMount(manifests.container(component)).getReadOnly(), "the service only reads");
        }
    }

    @Test
    void anAnonymousDownloadWithoutAPvcUsesAnEmptyDirPerPod() {
        var manifests = DsvChart.render(values("model.download.enabled", true, "model.pvc.create", false));

        assertTrue(manifests.all(PersistentVolumeClaim.class).isEmpty());
        for (String component : Manifests.COMPONENTS) {
            assertEquals(new Quantity("64Gi"), modelVolume(manifests, component).getEmptyDir().getSizeLimit());
            Container download = manifests.podTemplate(component).getSpec().getInitContainers().getFirst();
            assertTrue(download.getEnv().stream().noneMatch(e -> e.getName().equals("HF_TOKEN")));
        }
    }

    @Test
    void imagesAreNamedAfterTheContractAndTaggedWithTheAppVersion() {
        String appVersion = (String) DsvChart.readValues(DsvChart.DIR.resolve("Chart.yaml")).get("appVersion");
        var defaults = DsvChart.render();
        var registry = DsvChart.render(values("global.image.registry", "registry.example.com/dsv2/",
                "router.image.tag", "0.1.1"));

        assertEquals("0.1.0", appVersion);
        for (String component : Manifests.COMPONENTS) {
            assertEquals("dsv2-" + component + ":" + appVersion, defaults.container(component).getImage());
        }
        assertEquals("registry.example.com/dsv2/dsv2-gateway:0.1.0", registry.container("gateway").getImage());
        assertEquals("registry.example.com/dsv2/dsv2-router:0.1.1", registry.container("router").getImage());
        assertEquals("IfNotPresent", registry.container("expert").getImagePullPolicy());
    }

    @Test
    void kafkaBatchSettingsReachTheGatewayOnlyWhenEnabled() {
        var off = DsvChart.render();
        assertEquals("false", off.env("gateway", "DSV2_KAFKA_ENABLED"));
        assertTrue(off.envVar("gateway", "KAFKA_BOOTSTRAP_SERVERS").isEmpty());

        var on = DsvChart.render(values("kafka.enabled", true,
                "kafka.bootstrapServers", "my-cluster-kafka-bootstrap.kafka.svc:9092",
                "kafka.topics.requests", "jobs.in", "kafka.groupId", "dsv2-prod", "kafka.maxInFlight", 32));
        assertEquals("true", on.env("gateway", "DSV2_KAFKA_ENABLED"));
        assertEquals("my-cluster-kafka-bootstrap.kafka.svc:9092", on.env("gateway", "KAFKA_BOOTSTRAP_SERVERS"));
        assertEquals("jobs.in", on.env("gateway", "DSV2_KAFKA_REQUESTS_TOPIC"));
        assertEquals("dsv2.batch.results", on.env("gateway", "DSV2_KAFKA_RESULTS_TOPIC"));
        assertEquals("dsv2.batch.dlq", on.env("gateway", "DSV2_KAFKA_DLQ_TOPIC"));
        assertEquals("dsv2-prod", on.env("gateway", "DSV2_KAFKA_GROUP_ID"));
        assertEquals("32", on.env("gateway", "DSV2_KAFKA_MAX_IN_FLIGHT"));
        assertTrue(on.envVar("router", "KAFKA_BOOTSTRAP_SERVERS").isEmpty());
    }

    @Test
    void serviceMonitorsScrapeEachComponentsMetricsPort() {
        assertTrue(DsvChart.render().allOfKind("ServiceMonitor").isEmpty(), "off by default: the CRD may be missing");

        var manifests = DsvChart.render(values("serviceMonitor.enabled", true,
                "serviceMonitor.labels", Map.of("release", "kube-prometheus-stack")));
        var monitors = manifests.allOfKind("ServiceMonitor");
        assertEquals(3, monitors.size());
        for (var object : monitors) {
            var monitor = (GenericKubernetesResource) object;
            assertEquals("monitoring.coreos.com/v1", monitor.getApiVersion());
            assertEquals("kube-prometheus-stack", monitor.getMetadata().getLabels().get("release"));
            Map<String, String> selector = monitor.get("spec", "selector", "matchLabels");
            List<Service> selected = manifests.all(Service.class).stream()
                    .filter(s -> Manifests.selects(selector, s.getMetadata().getLabels())).toList();
            assertEquals(1, selected.size(), monitor.getMetadata().getName() + " selects " + selected);
            List<Map<String, Object>> endpoints = monitor.get("spec", "endpoints");
            assertEquals("/q/metrics", endpoints.getFirst().get("path"));
            String port = (String) endpoints.getFirst().get("port");
            assertTrue(selected.getFirst().getSpec().getPorts().stream().anyMatch(p -> p.getName().equals(port)),
                    "the selected Service has no port named " + port);
        }
    }

    @Test
    void theGatewayAutoscalerOwnsTheReplicaCountWhenEnabled() {
        assertTrue(DsvChart.render().all(HorizontalPodAutoscaler.class).isEmpty());
        assertEquals(2, DsvChart.render().get(Deployment.class, "dsv-gateway").getSpec().getReplicas());

        var manifests = DsvChart.render(values("gateway.autoscaling.enabled", true, "gateway.autoscaling.maxReplicas", 12));
        HorizontalPodAutoscaler hpa = manifests.get(HorizontalPodAutoscaler.class, "dsv-gateway");
        assertEquals("Deployment", hpa.getSpec().getScaleTargetRef().getKind());
        assertEquals("dsv-gateway", hpa.getSpec().getScaleTargetRef().getName());
        assertEquals(2, hpa.getSpec().getMinReplicas());
        assertEquals(12, hpa.getSpec().getMaxReplicas());
        assertNull(manifests.get(Deployment.class, "dsv-gateway").getSpec().getReplicas());
    }

    @Test
    void theInstallNotesDescribeTheLayoutAndHowToReachTheApi() {
        String notes = DsvChart.installNotes(values("expert.shards", 4, "expert.replicationFactor", 2));

        assertTrue(notes.contains("dsv-expert-0..7 (StatefulSet, 4 shard(s) x 2 replica(s)"), notes);
        assertTrue(notes.contains("The model PVC starts empty."), notes);
        assertTrue(notes.contains("the router 900 s and each expert 900 s"), notes);
        assertTrue(notes.contains("kubectl -n llm port-forward svc/dsv-gateway 8080:8080"), notes);
        assertTrue(notes.contains("\"model\": \"DeepSeek-V2-Lite-Chat\""), notes);
    }

    private static Volume modelVolume(Manifests manifests, String component) {
        return manifests.podTemplate(component).getSpec().getVolumes().stream()
                .filter(v -> v.getName().equals("model")).findFirst()
                .orElseThrow(() -> new AssertionError(component + " pod has no volume named model"));
    }

    private static VolumeMount modelMount(Container container) {
        return container.getVolumeMounts().stream().filter(m -> m.getName().equals("model")).findFirst()
                .orElseThrow(() -> new AssertionError(container.getName() + " does not mount the model volume"));
    }

    private static String envValue(Container container, String name) {
        return container.getEnv().stream().filter(e -> e.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError(container.getName() + " has no env " + name)).getValue();
    }
}
