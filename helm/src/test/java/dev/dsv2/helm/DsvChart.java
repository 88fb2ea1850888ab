package dev.dsv2.helm;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.utils.Serialization;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The chart under test, {@code helm/dsv2}, driven through the Helm 3.21 that helm-java bundles (no helm binary, no
 * cluster, no network).
 *
 * <ul>
 *   <li>{@link #render} runs {@code helm template} as release {@value #RELEASE} in namespace {@value #NAMESPACE}, with
 *       the given values files and overrides, and parses the manifests into fabric8 model objects.</li>
 *   <li>{@link #lint} runs {@code helm lint --strict}. helm-java's lint takes no values, so it lints a temporary copy of
 *       the chart whose values.yaml is the chart's own, deep-merged with the overrides.</li>
 * </ul>
 * Overrides are nested maps written as a YAML values file, exactly as a user's {@code -f my-values.yaml}.
 */
final class DsvChart {

    static final String RELEASE = "dsv";
    static final String NAMESPACE = "llm";
    /** helm-java's Helm defaults to Kubernetes v1.20.0; the chart needs >= 1.28 (the pod-index label). */
    static final String KUBE_VERSION = "v1.31.0";
    static final Path DIR = Path.of(System.getProperty("dsv2.chart.dir", "dsv2")).toAbsolutePath();
    static final Path GPU_4_SHARDS = DIR.resolve("examples/values-gpu-4shards.yaml");

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    private DsvChart() {
    }

    /** {@code helm template} with the chart's defaults. */
    static Manifests render() {
        return render(Map.of());
    }

    /** {@code helm template -f <overrides>}. */
    static Manifests render(Map<String, Object> overrides) {
        return render(List.of(), overrides);
    }

    /** {@code helm template -f <file>... -f <overrides>}; later files win, as with the helm CLI. */
    static Manifests render(List<Path> valuesFiles, Map<String, Object> overrides) {
        var command = new Helm(DIR).template().withName(RELEASE).withNamespace(NAMESPACE).withKubeVersion(KUBE_VERSION);
        valuesFiles.forEach(command::withValuesFile);
        Path overridesFile = null;
        try {
            if (!overrides.isEmpty()) {
                overridesFile = Files.createTempFile("dsv2-values-", ".yaml");
                YAML.writeValue(overridesFile.toFile(), overrides);
                command.withValuesFile(overridesFile);
            }
            String yaml = command.call();
            return new Manifests(yaml, parse(yaml));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            deleteQuietly(overridesFile);
        }
    }

    /** The NOTES.txt text that {@code helm install} prints, from a client-only dry run. */
    static String installNotes(Map<String, Object> overrides) {
        var command = new Helm(DIR).install().withName(RELEASE).withNamespace(NAMESPACE).withKubeVersion(KUBE_VERSION)
                .clientOnly().dryRun();
        Path overridesFile = null;
        try {
            overridesFile = Files.createTempFile("dsv2-values-", ".yaml");
            YAML.writeValue(overridesFile.toFile(), overrides);
            String output = command.withValuesFile(overridesFile).call().getOutput();
            int notes = output.indexOf("NOTES:");
            if (notes < 0) {
                throw new IllegalStateException("helm install printed no NOTES: " + output);
            }
            return output.substring(notes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            deleteQuietly(overridesFile);
        }
    }

    /** {@code helm lint --strict} of the chart with its values.yaml deep-merged with each overrides map in turn. */
    @SafeVarargs
    static LintResult lint(Map<String, Object>... overrides) {
        Path copy = null;
        try {
            copy = Files.createTempDirectory("dsv2-chart-");
            Path chart = copy.resolve("dsv2");
            copyTree(DIR, chart);
            if (overrides.length > 0) {
                Map<String, Object> values = readValues(DIR.resolve("values.yaml"));
                for (Map<String, Object> layer : overrides) {
                    values = deepMerge(values, layer);
                }
                YAML.writeValue(chart.resolve("values.yaml").toFile(), values);
            }
            return new Helm(chart).lint().strict().call();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            deleteTree(copy);
        }
    }

    /** A values file as nested maps. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> readValues(Path file) {
        try {
            return YAML.readValue(file.toFile(), LinkedHashMap.class);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Nested values from dotted paths: {@code values("expert.shards", 0, "router.backend", "tpu")} is
     * {@code {expert: {shards: 0}, router: {backend: tpu}}}.
     */
    @SuppressWarnings("unchecked")
    static Map<String, Object> values(Object... pathsAndValues) {
        if (pathsAndValues.length % 2 != 0) {
            throw new IllegalArgumentException("values(...) takes path, value pairs; got " + pathsAndValues.length + " arguments");
        }
        Map<String, Object> root = new LinkedHashMap<>();
        for (int i = 0; i < pathsAndValues.length; i += 2) {
            String[] keys = ((String) pathsAndValues[i]).split("\\.");
            Map<String, Object> node = root;
            for (int k = 0; k < keys.length - 1; k++) {
                node = (Map<String, Object>) node.computeIfAbsent(keys[k], key -> new LinkedHashMap<String, Object>());
            }
            node.put(keys[keys.length - 1], pathsAndValues[i + 1]);
        }
        return root;
    }

    /** Helm's merge rule: maps merge key by key, anything else (lists, scalars) is replaced by the override. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> deepMerge(Map<String, Object> base, Map<String, Object> override) {
        Map<String, Object> merged = new LinkedHashMap<>(base);
        override.forEach((key, value) -> {
            if (value instanceof Map<?, ?> overrideMap && merged.get(key) instanceof Map<?, ?> baseMap) {
                merged.put(key, deepMerge((Map<String, Object>) baseMap, (Map<String, Object>) overrideMap));
            } else {
                merged.put(key, value);
            }
        });
        return merged;
    }

    private static List<HasMetadata> parse(String yaml) {
        List<HasMetadata> objects = new ArrayList<>();
        // helm template separates documents with "---" and a "# Source:" comment; empty documents are skipped.
        for (String document : yaml.split("(?m)^---\\s*$")) {
            if (document.lines().allMatch(line -> line.isBlank() || line.startsWith("#"))) {
                continue;
            }
            Object parsed = Serialization.unmarshal(new ByteArrayInputStream(document.getBytes(StandardCharsets.UTF_8)));
            if (!(parsed instanceof HasMetadata object)) {
                throw new IllegalStateException("rendered document is not a Kubernetes object: " + document);
            }
            objects.add(object);
        }
        return objects;
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> paths = Files.walk(from)) {
            for (Path source : (Iterable<Path>) paths::iterator) {
                Path target = to.resolve(from.relativize(source).toString());
                if (Files.isDirectory(source)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(source, target);
                }
            }
        }
    }

    private static void deleteTree(Path root) {
        if (root == null) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted((a, b) -> b.getNameCount() - a.getNameCount()).forEach(DsvChart::deleteQuietly);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void deleteQuietly(Path path) {
        if (path == null) {
            return;
        }
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
