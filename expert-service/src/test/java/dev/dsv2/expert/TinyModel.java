package dev.dsv2.expert;

import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.checkpoint.RandomCheckpointWriter;
import dev.dsv2.engine.config.ModelConfig;

import java.nio.file.Path;

/**
 * The {@code tiny} preset (3 layers: 1 dense + 2 MoE, hidden 128, 16 routed experts top-6, 2 shared experts,
 * vocab 1024) as a random bf16 checkpoint, written where a test asks (its temp dir).
 */
public final class TinyModel {
    public static final ModelConfig CONFIG = ModelPresets.preset("tiny");

    private TinyModel() {
    }

    public static Path write(Path dir, long seed) {
        RandomCheckpointWriter.write(CONFIG, dir, seed, line -> { });
        return dir;
    }
}
