package dev.dsv2.helm;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Optional;

import static dev.dsv2.helm.DsvChart.values;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * TLS in the chart: the gateway's public certificate and the services' mTLS certificates mounted from
 * kubernetes.io/tls Secrets (the shape cert-manager writes) and named in the env vars the services read; the gateway's
 * probes and ServiceMonitor switch to HTTPS with public TLS; nothing of it without the values.
 */
class TlsTest {

    private static Optional<Volume> volume(Manifests m, String component, String name) {
        PodSpec pod = m.podTemplate(component).getSpec();
        return pod.getVolumes().stream().filter(v -> v.getName().equals(name)).findFirst();
    }

    private static Optional<VolumeMount> mount(Manifests m, String component, String name) {
        return m.container(component).getVolumeMounts().stream().filter(v -> v.getName().equals(name)).findFirst();
    }

    @Test
    void byDefaultNothingIsMountedAndTheProbesSpeakHttp() {
        Manifests m = DsvChart.render();
        for (String component : Manifests.COMPONENTS) {
            assertTrue(volume(m, component, "tls-public").isEmpty());
            assertTrue(volume(m, component, "tls-internal").isEmpty());
            assertTrue(m.envVar(component, "DSV2_INTERNAL_TLS_CERT").isEmpty());
            assertEquals("HTTP", m.container(component).getReadinessProbe().getHttpGet().getScheme());
        }
        assertTrue(m.envVar("gateway", "DSV2_TLS_CERT").isEmpty());
    }

    @Test
    void publicTlsMountsTheSecretOnTheGatewayAndSwitchesItsProbesToHttps() {
        Manifests m = DsvChart.render(values("gateway.tls.enabled", true, "gateway.tls.secretName", "dsv2-public-tls"));

        assertEquals("dsv2-public-tls", volume(m, "gateway", "tls-public").orElseThrow().getSecret().getSecretName());
        VolumeMount mount = mount(m, "gateway", "tls-public").orElseThrow();
        assertEquals("/etc/dsv2/tls/public", mount.getMountPath());
        assertTrue(mount.getReadOnly());
        assertEquals("/etc/dsv2/tls/public/tls.crt", m.env("gateway", "DSV2_TLS_CERT"));
        assertEquals("/etc/dsv2/tls/public/tls.key", m.env("gateway", "DSV2_TLS_KEY"));
        Container gateway = m.container("gateway");
        assertEquals("HTTPS", gateway.getStartupProbe().getHttpGet().getScheme());
        assertEquals("HTTPS", gateway.getLivenessProbe().getHttpGet().getScheme());
        assertEquals("HTTPS", gateway.getReadinessProbe().getHttpGet().getScheme());
        // Public TLS is the gateway's only: the router and experts keep plain HTTP health ports.
        assertEquals("HTTP", m.container("router").getReadinessProbe().getHttpGet().getScheme());
        assertTrue(volume(m, "router", "tls-public").isEmpty());
    }

    @Test
    void withPublicTlsTheGatewayServiceMonitorScrapesOverHttpsVerifyingTheServiceName() {
        Manifests m = DsvChart.render(values("gateway.tls.enabled", true, "gateway.tls.secretName", "pub",
                "serviceMonitor.enabled", true));
        Map<String, Object> gateway = endpoint(m, "dsv-gateway");
        assertEquals("https", gateway.get("scheme"));
        assertEquals(Map.of("ca", Map.of("secret", Map.of("name", "pub", "key", "ca.crt")),
                "serverName", "dsv-gateway.llm.svc"), gateway.get("tlsConfig"));
        assertFalse(endpoint(m, "dsv-router").containsKey("scheme"));

        Manifests custom = DsvChart.render(values("gateway.tls.enabled", true, "gateway.tls.secretName", "pub",
                "serviceMonitor.enabled", true, "gateway.tls.serviceMonitorTlsConfig", Map.of("insecureSkipVerify", true)));
        assertEquals(Map.of("insecureSkipVerify", true), endpoint(custom, "dsv-gateway").get("tlsConfig"));
    }

    private static Map<String, Object> endpoint(Manifests m, String name) {
        GenericKubernetesResource monitor = (GenericKubernetesResource) m.allOfKind("ServiceMonitor").stream()
                .filter(o -> o.getMetadata().getName().equals(name)).findFirst().orElseThrow();
        List<Map<String, Object>> endpoints = monitor.get("spec", "endpoints");
        return endpoints.getFirst();
    }

    @Test
    void internalTlsMountsTheSharedSecretEverywhereAndNamesTheFiles() {
        Manifests m = DsvChart.render(values("internalTls.enabled", true, "internalTls.secretName", "dsv2-mtls",
                "internalTls.secretNames", Map.of("expert", "dsv2-mtls-expert"), "internalTls.authority", "dsv2-internal"));
        for (String component : Manifests.COMPONENTS) {
            String secret = component.equals("expert") ? "dsv2-mtls-expert" : "dsv2-mtls";
            assertEquals(secret, volume(m, component, "tls-internal").orElseThrow().getSecret().getSecretName(),
                    component);
            assertEquals("/etc/dsv2/tls/internal", mount(m, component, "tls-internal").orElseThrow().getMountPath());
            assertEquals("/etc/dsv2/tls/internal/tls.crt", m.env(component, "DSV2_INTERNAL_TLS_CERT"));
            assertEquals("/etc/dsv2/tls/internal/tls.key", m.env(component, "DSV2_INTERNAL_TLS_KEY"));
            assertEquals("/etc/dsv2/tls/internal/ca.crt", m.env(component, "DSV2_INTERNAL_TLS_CA"));
            assertEquals("dsv2-internal", m.env(component, "DSV2_INTERNAL_TLS_AUTHORITY"));
            assertEquals("HTTP", m.container(component).getReadinessProbe().getHttpGet().getScheme(),
                    "mTLS is on the gRPC ports; the health port stays plain HTTP");
        }
    }

    @Test
    void theInstallNotesShowHttpsWithTheCaWhenPublicTlsIsOn() {
        String notes = DsvChart.installNotes(values("gateway.tls.enabled", true, "gateway.tls.secretName", "pub",
                "internalTls.enabled", true, "internalTls.secretName", "mtls"));
        assertTrue(notes.contains("curl --cacert ca.crt --resolve dsv-gateway.llm.svc:8080:127.0.0.1 "
                + "https://dsv-gateway.llm.svc:8080/v1/models"), notes);
        assertTrue(notes.contains("Internal gRPC (gateway -> router -> experts) is mutual TLS"), notes);
        assertTrue(DsvChart.installNotes(Map.of()).contains("curl http://localhost:8080/v1/models"));
    }

    @Test
    void enablingTlsWithoutASecretFailsSayingWhichValueToSet() {
        var error = assertThrows(IllegalStateException.class,
                () -> DsvChart.render(values("gateway.tls.enabled", true)));
        assertTrue(error.getMessage().contains("gateway.tls.enabled=true needs gateway.tls.secretName"),
                error::getMessage);
        error = assertThrows(IllegalStateException.class, () -> DsvChart.render(values("internalTls.enabled", true,
                "internalTls.secretNames", Map.of("gateway", "g", "router", "r"))));
        assertTrue(error.getMessage().contains("internalTls.enabled=true needs a Secret for the expert: set "
                + "internalTls.secretName (shared) or internalTls.secretNames.expert"), error::getMessage);
    }

    @Test
    void lintAcceptsTlsValuesAndTheSchemaRejectsUnknownOnes() {
        var lint = DsvChart.lint(values("gateway.tls.enabled", true, "gateway.tls.secretName", "pub",
                "internalTls.enabled", true, "internalTls.secretName", "mtls"));
        assertFalse(lint.isFailed(), () -> "lint failed: " + lint.getMessages());
        var bad = DsvChart.lint(values("internalTls.secret", "typo"));
        assertTrue(bad.isFailed());
        assertTrue(String.join("\n", bad.getMessages()).contains("internalTls"), () -> String.join("\n",
                bad.getMessages()));
    }
}
