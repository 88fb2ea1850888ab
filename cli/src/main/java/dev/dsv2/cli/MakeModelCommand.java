package dev.dsv2.cli;

import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.checkpoint.RandomCheckpointWriter;
import dev.dsv2.engine.config.ModelConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code ./dsv2 make-model OUT --preset tiny|tiny-v2|lite-layers:N [--seed S] [--tokenizer FILE]}. */
@Command(name = "make-model", mixinStandardHelpOptions = true,
        description = "Write a random DeepSeek-V2 checkpoint in the exact Hugging Face layout "
                + "(config.json, sharded bf16 safetensors + index, tokenizer files).")
public final class MakeModelCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "OUT", description = "Output directory (created if missing).")
    Path out;

    @Option(names = "--preset", required = true, paramLabel = "NAME",
            description = "tiny (V2-Lite structure, tiny dims), tiny-v2 (V2 structure: q-LoRA, group-limited routing), "
                    + "lite-layers:N (V2-Lite's real dims, N layers).")
    String preset;

    @Option(names = "--seed", defaultValue = "0", description = "Random seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--tokenizer", paramLabel = "FILE",
            description = "tokenizer.json (or its directory) to copy into the checkpoint; the vocabulary is sized to it.")
    Path tokenizer;

    @Override
    public Integer call() {
        ModelConfig config = ModelPresets.preset(preset);
        if (tokenizer != null) {
            RandomCheckpointWriter.TokenizerInfo info = RandomCheckpointWriter.readTokenizerInfo(tokenizer);
            config = ModelPresets.withVocab(config, info.vocabSize(), info.bosId(), info.eosId());
        }
        long t0 = System.nanoTime();
        RandomCheckpointWriter.write(config, out, seed, line -> System.err.println("make-model: " + line));
        if (tokenizer != null) {
            RandomCheckpointWriter.copyTokenizer(tokenizer, out);
        }
        System.err.printf("make-model: wrote %s (preset %s, %d layers, vocab %d) in %.1f s%n", out, preset,
                config.numHiddenLayers(), config.vocabSize(), (System.nanoTime() - t0) / 1e9);
        return 0;
    }
}
