package dev.dsv2.cli;

import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.quant.CheckpointQuantizer;
import dev.dsv2.engine.serve.ServingSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code ./dsv2 quantize IN OUT}: an int8 checkpoint (docs/int8.md) that loads with no conversion. */
@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = "Write an int8 copy of a checkpoint: attention, MLP/expert and lm_head weights as I8 codes with "
                + "one BF16 scale per 32 values (NAME_scale), the rest as stored; config.json gets "
                + "quantization_config. Load it with any --weights: it runs as int8.")
public final class QuantizeCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "IN", description = "The bf16 checkpoint directory.")
    Path in;

    @Parameters(index = "1", paramLabel = "OUT", description = "Output directory (created if missing).")
    Path out;

    @Override
    public Integer call() {
        long t0 = System.nanoTime();
        try (Backend backend = ServingSettings.fromSystem().createBackend()) {
            long bytes = CheckpointQuantizer.quantize(in, out, backend, line -> System.err.println("quantize: " + line));
            System.err.printf("quantize: wrote %s (%.1f MB of tensors) in %.1f s%n", out, bytes / 1e6,
                    (System.nanoTime() - t0) / 1e9);
        }
        return 0;
    }
}
