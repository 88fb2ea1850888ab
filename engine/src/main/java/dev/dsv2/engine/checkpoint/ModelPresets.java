package dev.dsv2.engine.checkpoint;

import dev.dsv2.engine.config.ModelConfig;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * Named model configurations for random checkpoints, tests and benchmarks. Each is a {@code config.json} resource
 * (in {@code presets/} beside this class) read by the same parser as a real checkpoint's, so a preset is exactly
 * what {@code make-model} writes and any checkpoint could hold.
 * <ul>
 *   <li>{@code tiny} ({@code tiny.json}): DeepSeek-V2-Lite's structure (no q LoRA, greedy top-6 of 16 routed
 *       experts, 2 shared, layer 0 dense, YaRN exactly as V2-Lite) at tiny sizes: vocab 1024, hidden 128, 3 layers,
 *       4 heads, kv_lora 64, nope 32 + rope 16, v 32, intermediate 320, moe_intermediate 64; bos 0, eos 1.</li>
 *   <li>{@code tiny-v2} ({@code tiny-v2.json}): DeepSeek-V2's structure (q_lora_rank 96; 32 routed experts in 8
 *       groups, top-3 groups, {@code group_limited_greedy} top-6, routed_scaling_factor 16), otherwise like
 *       {@code tiny}.</li>
 *   <li>{@code lite-layers:N}: DeepSeek-V2-Lite's published config.json ({@code deepseek-v2-lite.json}) with
 *       {@code num_hidden_layers = N} (N &ge; 1).</li>
 *   <li>{@code lite}: DeepSeek-V2-Lite with all 27 layers (15.7B parameters; for sizing).</li>
 * </ul>
 */
public final class ModelPresets {
    /** The names {@link #preset} accepts, for help texts. */
    public static final String VALID_NAMES = "tiny, tiny-v2, lite-layers:N (N >= 1), lite";

    private static final String LITE_LAYERS = "lite-layers:";
    private static final String LITE_FILE = "deepseek-v2-lite";

    private ModelPresets() {
    }

    public static ModelConfig preset(String name) {
        return switch (name) {
            case "tiny", "tiny-v2" -> resource(name);
            case "lite" -> resource(LITE_FILE);
            default -> {
                if (name.startsWith(LITE_LAYERS)) {
                    yield resource(LITE_FILE).with(Map.of("num_hidden_layers", liteLayers(name)));
                }
                throw new IllegalArgumentException("unknown preset \"" + name + "\" (valid: " + VALID_NAMES + ")");
            }
        };
    }

    /** {@code c} with another vocabulary (e.g. a real tokenizer's) and its bos/eos ids. */
    public static ModelConfig withVocab(ModelConfig c, int vocab, int bos, int eos) {
        if (vocab < 1 || bos < 0 || bos >= vocab || eos < 0 || eos >= vocab) {
            throw new IllegalArgumentException("vocab " + vocab + " with bos " + bos + " and eos " + eos
                    + ": bos and eos must be ids in [0, vocab)");
        }
        return c.with(Map.of("vocab_size", vocab, "bos_token_id", bos, "eos_token_id", eos));
    }

    private static int liteLayers(String name) {
        String n = name.substring(LITE_LAYERS.length());
        int layers;
        try {
            layers = Integer.parseInt(n);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("preset " + name + ": \"" + n
                    + "\" is not a layer count (valid presets: " + VALID_NAMES + ")");
        }
        if (layers < 1) {
            throw new IllegalArgumentException("preset " + name + ": the layer count must be >= 1, got "
                    + layers + " (valid presets: " + VALID_NAMES + ")");
        }
        return layers;
    }

    /** Parses the preset resource {@code presets/<file>.json}. */
    private static ModelConfig resource(String file) {
        String path = "presets/" + file + ".json";
        try (InputStream in = ModelPresets.class.getResourceAsStream(path)) {
            if (in == null) {
                throw new IllegalStateException("the engine's resources lack " + path + " (a broken build?)");
            }
            return ModelConfig.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8), "preset " + path);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read preset " + path, e);
        }
    }
}
