package dev.dsv2.gateway.router;

import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.checkpoint.RandomCheckpointWriter;
import dev.dsv2.engine.serve.ServingSettings;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

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
        return EmbeddedRouter.load(dir(), ServingSettings.defaults().withThreads(2).withKvCacheTokens(4096)
                .withContextLimit(2048).withBatchLimits(256, 16), line -> { });
    }
}
