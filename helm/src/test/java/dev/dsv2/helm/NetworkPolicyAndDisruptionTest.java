package dev.dsv2.helm;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyIngressRule;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeer;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static dev.dsv2.helm.DsvChart.values;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Traffic rules, checked with label-selector semantics against the pod templates the chart renders: the gateway is
 * open, only gateway pods reach the router's gRPC port, only router pods reach the experts' gRPC port, only the
 * monitoring namespaces reach router and expert metrics. PodDisruptionBudgets and Services select their own pods only.
 */
class NetworkPolicyAndDisruptionTest {

    private final Manifests manifests = DsvChart.render();

    @Test
    void eachPolicyGuardsExactlyItsComponentsPods() {
        for (String component : Manifests.COMPONENTS) {
            NetworkPolicy policy = manifests.get(NetworkPolicy.class, "dsv-" + component);
            assertEquals(List.of("Ingress"), policy.getSpec().getPolicyTypes());
            for (String other : Manifests.COMPONENTS) {
                assertEquals(other.equals(component), Manifests.selects(policy.getSpec().getPodSelector(), labels(other)),
                        "policy dsv-" + component + " selecting " + other + " pods");
            }
        }
    }

    @Test
    void theGatewayAcceptsAnySourceOnItsHttpAndGrpcPorts() {
        NetworkPolicy policy = manifests.get(NetworkPolicy.class, "dsv-gateway");

        assertEquals(1, policy.getSpec().getIngress().size());
        NetworkPolicyIngressRule rule = policy.getSpec().getIngress().getFirst();
        assertTrue(rule.getFrom() == null || rule.getFrom().isEmpty(), "no from: every source");
        assertEquals(List.of(8080, 9090), ports(rule));
    }

    @Test
    void onlyGatewayPodsReachTheRoutersGrpcPort() {
        NetworkPolicyIngressRule grpc = ruleFor(manifests.get(NetworkPolicy.class, "dsv-router"), 9090);

        assertEquals(1, grpc.getFrom().size());
        NetworkPolicyPeer peer = grpc.getFrom().getFirst();
        assertNull(peer.getNamespaceSelector(), "same namespace only");
        assertTrue(Manifests.selects(peer.getPodSelector(), labels("gateway")));
        assertFalse(Manifests.selects(peer.getPodSelector(), labels("router")));
        assertFalse(Manifests.selects(peer.getPodSelector(), labels("expert")));
        assertEquals(9090, namedContainerPort("router", "grpc"));
    }

    @Test
    void onlyRouterPodsReachTheExpertsGrpcPort() {
        NetworkPolicyIngressRule grpc = ruleFor(manifests.get(NetworkPolicy.class, "dsv-expert"), 9090);

        assertEquals(1, grpc.getFrom().size());
        NetworkPolicyPeer peer = grpc.getFrom().getFirst();
        assertNull(peer.getNamespaceSelector(), "same namespace only");
        assertTrue(Manifests.selects(peer.getPodSelector(), labels("router")));
        assertFalse(Manifests.selects(peer.getPodSelector(), labels("gateway")));
        assertFalse(Manifests.selects(peer.getPodSelector(), labels("expert")));
        assertEquals(9090, namedContainerPort("expert", "grpc"));
    }

    @Test
    void onlyTheMonitoringNamespacesReachRouterAndExpertMetrics() {
        for (String component : List.of("router", "expert")) {
            NetworkPolicy policy = manifests.get(NetworkPolicy.class, "dsv-" + component);
            assertEquals(2, policy.getSpec().getIngress().size(), "a gRPC rule and a metrics rule");
            NetworkPolicyIngressRule metrics = ruleFor(policy, 8080);
            assertEquals(List.of(8080), ports(metrics));
            assertEquals(namedContainerPort(component, "http"), 8080);
            NetworkPolicyPeer peer = metrics.getFrom().getFirst();
            assertEquals(Map.of("kubernetes.io/metadata.name", "monitoring"), peer.getNamespaceSelector().getMatchLabels());
            assertNull(peer.getPodSelector(), "every pod of the monitoring namespaces");
        }
    }

    @Test
    void theMonitoringSelectorAndPortsComeFromValues() {
        var custom = DsvChart.render(values(
                "networkPolicy.monitoring.namespaceSelector", Map.of("matchLabels", Map.of("team", "observability")),
                "networkPolicy.monitoring.podSelector", Map.of("matchLabels", Map.of("app.kubernetes.io/name", "prometheus")),
                "expert.ports.http", 8181, "expert.ports.grpc", 9191));

        NetworkPolicy experts = custom.get(NetworkPolicy.class, "dsv-expert");
        NetworkPolicyPeer monitoring = ruleFor(experts, 8181).getFrom().getFirst();
        assertTrue(Manifests.selects(monitoring.getNamespaceSelector(), Map.of("team", "observability")));
        assertFalse(Manifests.selects(monitoring.getNamespaceSelector(), Map.of("kubernetes.io/metadata.name", "monitoring")));
        assertTrue(Manifests.selects(monitoring.getPodSelector(), Map.of("app.kubernetes.io/name", "prometheus")));
        assertEquals(List.of(9191), ports(ruleFor(experts, 9191)));
    }

    @Test
    void theMonitoringNamespaceCanBeRenamed() {
        var custom = DsvChart.render(values("networkPolicy.monitoring.namespace", "prometheus"));

        NetworkPolicyPeer monitoring = ruleFor(custom.get(NetworkPolicy.class, "dsv-router"), 8080).getFrom().getFirst();
        assertEquals(Map.of("kubernetes.io/metadata.name", "prometheus"), monitoring.getNamespaceSelector().getMatchLabels());
    }

    @Test
    void policiesCanBeTurnedOff() {
        assertEquals(List.of(), DsvChart.render(values("networkPolicy.enabled", false)).all(NetworkPolicy.class));
    }

    @Test
    void eachDisruptionBudgetSelectsExactlyItsComponentsPods() {
        assertEquals(3, manifests.all(PodDisruptionBudget.class).size());
        for (String component : Manifests.COMPONENTS) {
            PodDisruptionBudget pdb = manifests.get(PodDisruptionBudget.class, "dsv-" + component);
            assertEquals(new IntOrString(1), pdb.getSpec().getMaxUnavailable());
            for (String other : Manifests.COMPONENTS) {
                assertEquals(other.equals(component), Manifests.selects(pdb.getSpec().getSelector(), labels(other)),
                        "PDB dsv-" + component + " selecting " + other + " pods");
            }
        }
    }

    @Test
    void disruptionBudgetsAreConfigurablePerComponent() {
        var custom = DsvChart.render(values("gateway.pdb.enabled", false, "expert.pdb.maxUnavailable", "25%"));

        assertTrue(custom.find(PodDisruptionBudget.class, "dsv-gateway").isEmpty());
        assertEquals(new IntOrString("25%"), custom.get(PodDisruptionBudget.class, "dsv-expert").getSpec().getMaxUnavailable());
    }

    @Test
    void eachServiceSelectsExactlyItsComponentsPods() {
        Map<String, String> serviceOf = Map.of("gateway", "dsv-gateway", "router", "dsv-router", "expert", "dsv-expert-headless");
        for (String component : Manifests.COMPONENTS) {
            Service service = manifests.get(Service.class, serviceOf.get(component));
            for (String other : Manifests.COMPONENTS) {
                assertEquals(other.equals(component), Manifests.selects(service.getSpec().getSelector(), labels(other)),
                        "Service " + service.getMetadata().getName() + " selecting " + other + " pods");
            }
            for (var port : service.getSpec().getPorts()) {
                assertEquals(port.getPort(), namedContainerPort(component, port.getTargetPort().getStrVal()),
                        service.getMetadata().getName() + " port " + port.getName());
            }
        }
    }

    @Test
    void workloadSelectorsMatchTheirOwnPodTemplates() {
        for (String component : Manifests.COMPONENTS) {
            LabelSelector selector = component.equals("gateway")
                    ? manifests.get(io.fabric8.kubernetes.api.model.apps.Deployment.class, "dsv-gateway").getSpec().getSelector()
                    : manifests.get(io.fabric8.kubernetes.api.model.apps.StatefulSet.class, "dsv-" + component).getSpec().getSelector();
            assertTrue(Manifests.selects(selector, labels(component)), component);
        }
    }

    private Map<String, String> labels(String component) {
        return manifests.podTemplate(component).getMetadata().getLabels();
    }

    private int namedContainerPort(String component, String name) {
        return manifests.container(component).getPorts().stream().filter(p -> name.equals(p.getName())).findFirst()
                .orElseThrow(() -> new AssertionError(component + " declares no port named " + name)).getContainerPort();
    }

    private static NetworkPolicyIngressRule ruleFor(NetworkPolicy policy, int port) {
        return policy.getSpec().getIngress().stream().filter(rule -> ports(rule).contains(port)).findFirst()
                .orElseThrow(() -> new AssertionError(policy.getMetadata().getName() + " has no rule for port " + port));
    }

    private static List<Integer> ports(NetworkPolicyIngressRule rule) {
        return rule.getPorts().stream().map(p -> p.getPort().getIntVal()).toList();
    }
}
