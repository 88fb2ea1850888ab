package dev.dsv2.engine.model;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The backend seam holds: the model code composes {@link dev.dsv2.engine.kernel.Backend} operations on buffers and
 * could run on any backend. Scanning {@code engine/src/main/java/dev/dsv2/engine/model}, no source imports a backend
 * implementation ({@code kernel.cpu}, {@code kernel.scalar}) or the host buffer, none drives threads
 * ({@code parallelFor}, {@code WorkerPool}), and float arrays appear only where host data
 * crosses the seam, in the files and numbers listed below, each with its reason. A new float array in the model
 * (an activation that bypasses the backend) fails here: make it a {@code Buffer} from the workspace, or add it to the
 * list with the reason it is host data.
 */
class ModelSeamTest {
    private static final Path MODEL = Path.of("src/main/java/dev/dsv2/engine/model");

    private static final List<String> FORBIDDEN = List.of("dev.dsv2.engine.kernel.cpu", "dev.dsv2.engine.kernel.scalar",
            "HostBuffer", "WorkerPool", "parallelFor");

    /** Float arrays that are host data, not activations: file -> how many "float[]" it may declare. */
    private static final Map<String, Integer> HOST_FLOAT_ARRAYS = Map.of(
            "DeepseekV2Model.java", 4,    // the logits hand-off to the sampler (Backend.hostView)
            "ExpertShard.java", 2,        // the expert service's wire rows (x, out)
            "LocalExperts.java", 4,       // the same host entry point (x, out of compute / computeWithShared)
            "HostRoutedExperts.java", 6,  // the adapter for remote experts, which compute on host arrays
            "RotaryEmbedding.java", 2,    // the YaRN inverse frequencies, a constant of the config
            "Workspace.java", 2);         // the routing weights (host metadata, as the ids)

    /** A routing-weights parameter or local ({@code float[] weights}) is host metadata anywhere. */
    private static final Pattern FLOAT_ARRAY = Pattern.compile("float\\[\\](?:\\[\\])?(?! weights\\b)");

    @Test
    void modelCodeUsesNoBackendImplementationOrThreadsOfItsOwn() throws IOException {
        List<String> violations = new ArrayList<>();
        for (Path file : sources()) {
            String code = withoutComments(Files.readString(file));
            for (String forbidden : FORBIDDEN) {
                if (code.contains(forbidden)) {
                    violations.add(file.getFileName() + " uses " + forbidden);
                }
            }
        }
        assertEquals(List.of(), violations);
    }

    @Test
    void floatArraysInModelCodeAreOnlyTheNamedHostBoundaries() throws IOException {
        List<String> violations = new ArrayList<>();
        for (Path file : sources()) {
            String name = file.getFileName().toString();
            Matcher m = FLOAT_ARRAY.matcher(withoutComments(Files.readString(file)));
            int count = 0;
            while (m.find()) {
                count++;
            }
            int allowed = HOST_FLOAT_ARRAYS.getOrDefault(name, 0);
            if (count > allowed) {
                violations.add(name + " declares " + count + " float arrays, " + allowed + " allowed as host data");
            }
        }
        assertEquals(List.of(), violations);
    }

    private static List<Path> sources() throws IOException {
        assertTrue(Files.isDirectory(MODEL), MODEL.toAbsolutePath() + " (tests run from the engine module)");
        try (Stream<Path> files = Files.list(MODEL)) {
            List<Path> java = files.filter(p -> p.toString().endsWith(".java")).sorted().toList();
            assertTrue(java.size() > 10, "model sources found: " + java.size());
            return java;
        }
    }

    /** The code without comments (javadoc may name anything). */
    private static String withoutComments(String src) {
        return src.replaceAll("(?s)/\\*.*?\\*/", "").replaceAll("//[^\\n]*", "");
    }
}
