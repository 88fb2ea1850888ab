package dev.dsv2.helm;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.LabelSelectorRequirement;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;

import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Optional;

/**
 * The objects of one {@code helm template} run, with lookups by kind and name and the label-selector semantics the
 * API server applies (matchLabels and matchExpressions).
 *
 * @param yaml    the rendered manifests, as Helm printed them
 * @param objects every rendered object, parsed by the fabric8 model (CRDs such as ServiceMonitor as generic resources)
 */
record Manifests(String yaml, List<HasMetadata> objects) {

    /** The gateway Deployment, router StatefulSet and expert StatefulSet pod templates, by component name. */
    static final List<String> COMPONENTS = List.of("gateway", "router", "expert");

    <T extends HasMetadata> List<T> all(Class<T> type) {
        return objects.stream().filter(type::isInstance).map(type::cast).toList();
    }

    List<HasMetadata> allOfKind(String kind) {
        return objects.stream().filter(o -> o.getKind().equals(kind)).toList();
    }

    <T extends HasMetadata> T get(Class<T> type, String name) {
        return find(type, name).orElseThrow(() -> new NoSuchElementException(
                "no " + type.getSimpleName() + " named " + name + " in the rendered chart; rendered: " + names()));
    }

    <T extends HasMetadata> Optional<T> find(Class<T> type, String name) {
        return all(type).stream().filter(o -> o.getMetadata().getName().equals(name)).findFirst();
    }

    /** "Kind/name" of every object, for failure messages. */
    List<String> names() {
        return objects.stream().map(o -> o.getKind() + "/" + o.getMetadata().getName()).toList();
    }

    /** The pod template of a component's workload: the gateway Deployment, the router or expert StatefulSet. */
    PodTemplateSpec podTemplate(String component) {
        String name = DsvChart.RELEASE + "-" + component;
        return component.equals("gateway")
                ? get(Deployment.class, name).getSpec().getTemplate()
                : get(StatefulSet.class, name).getSpec().getTemplate();
    }

    /** The component's main container (named after the component). */
    Container container(String component) {
        return podTemplate(component).getSpec().getContainers().stream()
                .filter(c -> c.getName().equals(component))
                .findFirst()
                .orElseThrow(() -> new NoSuchElementException("no container named " + component + " in its pod template"));
    }

    /** The literal value of a container's env var; fails if it is absent or comes from a valueFrom. */
    String env(String component, String name) {
        EnvVar var = envVar(component, name).orElseThrow(() -> new NoSuchElementException(
                "container " + component + " has no env " + name + "; it has " + container(component).getEnv().stream().map(EnvVar::getName).toList()));
        if (var.getValue() == null) {
            throw new IllegalStateException("env " + name + " of " + component + " has no literal value: " + var);
        }
        return var.getValue();
    }

    Optional<EnvVar> envVar(String component, String name) {
        return container(component).getEnv().stream().filter(e -> e.getName().equals(name)).findFirst();
    }

    /** Whether a label selector selects an object with these labels (null or empty selector: everything). */
    static boolean selects(LabelSelector selector, Map<String, String> labels) {
        if (selector == null) {
            return true;
        }
        Map<String, String> matchLabels = selector.getMatchLabels() == null ? Map.of() : selector.getMatchLabels();
        boolean labelsMatch = matchLabels.entrySet().stream()
                .allMatch(e -> e.getValue().equals(labels.get(e.getKey())));
        List<LabelSelectorRequirement> expressions = selector.getMatchExpressions() == null ? List.of() : selector.getMatchExpressions();
        return labelsMatch && expressions.stream().allMatch(requirement -> satisfies(requirement, labels));
    }

    /** Whether a matchLabels-only selector (Services) selects these labels. */
    static boolean selects(Map<String, String> matchLabels, Map<String, String> labels) {
        return selects(new LabelSelector(List.of(), matchLabels), labels);
    }

    private static boolean satisfies(LabelSelectorRequirement requirement, Map<String, String> labels) {
        String value = labels.get(requirement.getKey());
        return switch (requirement.getOperator()) {
            case "In" -> value != null && requirement.getValues().contains(value);
            case "NotIn" -> value == null || !requirement.getValues().contains(value);
            case "Exists" -> value != null;
            case "DoesNotExist" -> value == null;
            default -> throw new IllegalArgumentException("unknown label selector operator " + requirement.getOperator());
        };
    }
}
