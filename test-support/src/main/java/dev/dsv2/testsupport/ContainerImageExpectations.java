package dev.dsv2.testsupport;

import java.util.List;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the Helm chart expects of every service's container image (Quarkus Jib settings): its name, tag 0.1.0, the
 * Temurin 25 JRE base, user 185, and an entrypoint that passes the Vector API flags and the parallel collector through
 * {@code JAVA_OPTS_APPEND}.
 */
public final class ContainerImageExpectations {
    private ContainerImageExpectations() {
    }

    /**
     * @param value  a configuration value by key (e.g. MicroProfile {@code Config.getValue(key, String.class)})
     * @param values a list-valued configuration value by key
     */
    public static void assertImage(String name, Function<String, String> value,
                                   Function<String, List<String>> values) {
        assertEquals(name, value.apply("quarkus.container-image.name"));
        assertEquals("0.1.0", value.apply("quarkus.container-image.tag"));
        assertEquals("eclipse-temurin:25-jre", value.apply("quarkus.jib.base-jvm-image"));
        assertEquals("185", value.apply("quarkus.jib.user"));
        assertEquals(List.of("/bin/sh", "-c", "exec java $JAVA_OPTS_APPEND -jar quarkus-run.jar"),
                values.apply("quarkus.jib.jvm-entrypoint"));
        String opts = value.apply("quarkus.jib.environment-variables.\"JAVA_OPTS_APPEND\"");
        assertTrue(opts.contains("--add-modules jdk.incubator.vector")
                && opts.contains("--enable-native-access=ALL-UNNAMED") && opts.contains("-XX:+UseParallelGC"), opts);
    }
}
