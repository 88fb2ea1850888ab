package dev.dsv2.testsupport;

import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.checkpoint.RandomCheckpointWriter;
import dev.dsv2.engine.config.ModelConfig;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Random checkpoints of the engine's presets for tests, in the exact Hugging Face layout
 * ({@link RandomCheckpointWriter}), each written once per build under the module's {@code target/test-models} and
 * shared by every test of that module that asks for the same preset and seed.
 *
 * <p>A checkpoint's directory is {@code target/test-models/seed<S>/<preset>}, so its name (which the services report
 * as the model name) is the preset's. It is written to a temporary directory and moved into place, so a reader never
 * sees half a checkpoint; one whose {@code config.json} no longer matches the preset (the preset changed since the
 * last build) is written again. Callers treat it as read-only: a test that corrupts files copies it first.
 */
public final class TestCheckpoints {
    /** The {@code tiny} preset: 3 layers (1 dense + 2 MoE), hidden 128, 16 routed experts top-6, 2 shared, vocab 1024. */
    public static final ModelConfig TINY = ModelPresets.preset("tiny");

    private static final Path ROOT = Path.of("target", "test-models").toAbsolutePath();

    private TestCheckpoints() {
    }

    /** The {@code tiny} preset's checkpoint with this seed. */
    public static Path tiny(long seed) {
        return preset("tiny", seed);
    }

    /** The checkpoint of {@code preset} (a name {@link ModelPresets#preset} takes) with this seed. */
    public static synchronized Path preset(String preset, long seed) {
        ModelConfig config = ModelPresets.preset(preset);
        Path dir = ROOT.resolve("seed" + seed).resolve(preset.replace(':', '-'));
        if (holds(dir, config)) {
            return dir;
        }
        try {
            Files.createDirectories(dir.getParent());
            Path tmp = Files.createTempDirectory(dir.getParent(), dir.getFileName() + ".tmp");
            RandomCheckpointWriter.write(config, tmp, seed, line -> { });
            deleteRecursively(dir);
            try {
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                deleteRecursively(tmp);
                if (!holds(dir, config)) { // else another test JVM of the module put the same checkpoint in place
                    throw e;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("writing the test checkpoint " + dir, e);
        }
        return dir;
    }

    private static boolean holds(Path dir, ModelConfig config) {
        if (!Files.exists(dir.resolve("config.json"))) {
            return false;
        }
        try {
            return config.equals(ModelConfig.load(dir));
        } catch (RuntimeException unreadable) { // written by an older build whose config the parser now refuses
            return false;
        }
    }

    private static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
