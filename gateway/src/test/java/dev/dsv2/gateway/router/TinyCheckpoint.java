package dev.dsv2.gateway.router;

import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.checkpoint.RandomCheckpointWriter;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalInt;

/** A random {@code tiny} checkpoint (vocab 1024, no tokenizer) for router tests, written once per JVM. */
final class TinyCheckpoint {
    private static Path dir;

    private TinyCheckpoint() {
    }

    static synchronized Path dir() {
        if (dir == null) {
            try {
                dir = Files.createTempDirectory("dsv2-router-test");
                dir.toFile().deleteOnExit();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            RandomCheckpointWriter.write(ModelPresets.preset("tiny"), dir, 7, line -> { });
        }
        return dir;
    }

    static EmbeddedRouter router() {
        return EmbeddedRouter.load(dir(), new EmbeddedRouter.Options("auto", 2, OptionalInt.of(4096), 2048, 256, 16),
                line -> { });
    }
}
