package dev.dsv2.engine.model;

import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.checkpoint.RandomCheckpointWriter;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Random checkpoints for tests, written once per build under target/test-models. */
public final class TestModels {
    private TestModels() {
    }

    public static synchronized Path preset(String preset, long seed) {
        Path dir = Path.of("target", "test-models", preset.replace(':', '-') + "-seed" + seed).toAbsolutePath();
        if (!Files.exists(dir.resolve("config.json"))) {
            try {
                Path tmp = Files.createTempDirectory(dir.getParent() == null ? Path.of(".") : createParent(dir), "tmp");
                RandomCheckpointWriter.write(ModelPresets.preset(preset), tmp, seed, s -> { });
                Files.move(tmp, dir);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return dir;
    }

    private static Path createParent(Path dir) throws IOException {
        return Files.createDirectories(dir.getParent());
    }
}
