package dev.dsv2.cli;

import dev.dsv2.engine.kernel.CpuKernels;
import dev.dsv2.engine.serve.ServingSettings;
import picocli.CommandLine.Option;

/**
 * {@code --cpu-kernels auto|java|native} of the commands that run the model: the settings' {@code dsv2.cpu-kernels}
 * ({@link CpuKernels}) for this run; a bad value is refused naming the value and the accepted ones.
 */
public final class CpuKernelsOption {

    @Option(names = "--cpu-kernels", paramLabel = "auto|java|native",
            description = "Kernels of the matrix products: java (bit-exact), native (the bundled library; bf16 "
                    + "weights on AVX512_BF16 for every product, decode and prefill, with activations rounded to "
                    + "bf16 once per product; int8 weights on AVX512-VNNI for every product, activations rounded to "
                    + "int8 per block of 32 like llama.cpp's Q8_0; needs both CPU features, refused naming what is "
                    + "missing where the CPU or platform cannot run it) or auto (the default: int8 weights native "
                    + "where the CPU can run it, else java with one line saying why; bf16 weights java). "
                    + "Default: dsv2.cpu-kernels, else auto.")
    String kernels;

    /** The serving settings of this process ({@code -D} keys, environment) with this option applied when given. */
    ServingSettings settings() {
        ServingSettings s = ServingSettings.fromSystem();
        if (kernels == null) {
            return s;
        }
        try {
            return s.withCpuKernels(CpuKernels.parse(kernels));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--cpu-kernels: " + e.getMessage(), e);
        }
    }
}
