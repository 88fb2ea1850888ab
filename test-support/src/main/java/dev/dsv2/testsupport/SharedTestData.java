package dev.dsv2.testsupport;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The shared test data ({@code shared/testdata} beside the repository: the real DeepSeek-V3 tokenizer, the V2 chat
 * template), found one way only: the {@value #PROPERTY} system property, which the root pom gives every test JVM
 * (surefire's {@code systemPropertyVariables}, default {@code ${maven.multiModuleProjectDirectory}/../shared/testdata},
 * overridable with {@code -Ddsv2.testdata=DIR} on the Maven command line). There is no search and no fallback
 * directory, so a test never silently reads data from somewhere else; when the property or the data is missing, the
 * error says which and how to fix it.
 */
public final class SharedTestData {
    /** The system property naming the shared test data directory. */
    public static final String PROPERTY = "dsv2.testdata";
    /** The DeepSeek-V3 tokenizer directory ({@code tokenizer.json}, {@code tokenizer_config.json}). */
    public static final String DEEPSEEK_V3_TOKENIZER = "deepseek-v3-tokenizer";

    private SharedTestData() {
    }

    /** The shared test data directory; fails naming the property and its value when it is unset or not a directory. */
    public static Path dir() {
        String value = System.getProperty(PROPERTY);
        if (value == null || value.isBlank()) {
            throw new IllegalStateException("the system property " + PROPERTY + " is not set: run the tests through"
                    + " Maven (the root pom sets it to <repository>/../shared/testdata), or give the test JVM -D"
                    + PROPERTY + "=<path of shared/testdata>");
        }
        Path dir = Path.of(value).toAbsolutePath().normalize();
        if (!Files.isDirectory(dir)) {
            throw new IllegalStateException(PROPERTY + "=" + value + ": no such directory (" + dir + "); the tests"
                    + " expect the shared test data in a folder 'shared/testdata' beside the repository's folder, or"
                    + " run Maven with -D" + PROPERTY + "=<path of shared/testdata>");
        }
        return dir;
    }

    /** {@code name} inside the shared test data; fails naming the full path when it does not exist. */
    public static Path resolve(String name) {
        Path path = dir().resolve(name);
        if (!Files.exists(path)) {
            throw new IllegalStateException("shared test data " + name + " is missing: no " + path + " (from "
                    + PROPERTY + "=" + System.getProperty(PROPERTY) + ")");
        }
        return path;
    }

    /** The real DeepSeek-V3 tokenizer directory. */
    public static Path deepSeekV3Tokenizer() {
        return resolve(DEEPSEEK_V3_TOKENIZER);
    }
}
