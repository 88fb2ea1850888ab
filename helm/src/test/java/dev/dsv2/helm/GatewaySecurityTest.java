package dev.dsv2.helm;

import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import org.junit.jupiter.api.Test;

import static dev.dsv2.helm.DsvChart.values;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The gateway's protections in the chart: API keys from an existing Secret (never a literal in values), gRPC
 * reflection off in production, and a termination grace period that covers the shutdown drain.
 */
class GatewaySecurityTest {

    @Test
    void byDefaultTheGatewayIsOpenWithoutReflectionAndDrainsFor30Seconds() {
        var manifests = DsvChart.render();

        assertTrue(manifests.envVar("gateway", "DSV2_API_KEYS").isEmpty(), "no keys unless a Secret is named");
        assertEquals("false", manifests.env("gateway", "DSV2_GRPC_REFLECTION"));
        assertEquals("30s", manifests.env("gateway", "DSV2_SHUTDOWN_DRAIN_TIMEOUT"));
        assertEquals(40L, manifests.podTemplate("gateway").getSpec().getTerminationGracePeriodSeconds());
    }

    @Test
    void apiKeysComeFromTheNamedSecretAndTheGracePeriodFollowsTheDrainTimeout() {
        var manifests = DsvChart.render(values("gateway.apiKeys.existingSecret", "dsv2-keys",
                "gateway.apiKeys.secretKey", "keys", "gateway.drainTimeoutSeconds", 90,
                "gateway.grpcReflection", true));

        EnvVar keys = manifests.envVar("gateway", "DSV2_API_KEYS").orElseThrow();
        assertEquals("dsv2-keys", keys.getValueFrom().getSecretKeyRef().getName());
        assertEquals("keys", keys.getValueFrom().getSecretKeyRef().getKey());
        assertEquals(null, keys.getValue(), "the key itself never appears in the manifest");
        assertEquals("90s", manifests.env("gateway", "DSV2_SHUTDOWN_DRAIN_TIMEOUT"));
        assertEquals(100L, manifests.podTemplate("gateway").getSpec().getTerminationGracePeriodSeconds());
        assertEquals("true", manifests.env("gateway", "DSV2_GRPC_REFLECTION"));
        assertTrue(manifests.all(Deployment.class).size() >= 1);
    }
}
