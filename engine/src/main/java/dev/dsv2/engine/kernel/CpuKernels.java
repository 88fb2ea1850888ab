package dev.dsv2.engine.kernel;

import java.util.Locale;

/**
 * Which kernels the CPU backend runs for int8 weights ({@code dsv2.cpu-kernels}, {@code --cpu-kernels}):
 * <ul>
 *   <li>{@link #JAVA} (the default): the Java Vector API kernels, bit-exact and reproducible
 *       ({@code GoldenLogitsTest} pins them); activations stay float32.</li>
 *   <li>{@link #NATIVE}: the int8 matrix-vector products (decode) in the bundled native library
 *       ({@code kernel.cpu.NativeInt8}: AVX512-VNNI {@code vpdpbusd}), activations rounded to int8 per block of 32 like
 *       llama.cpp's Q8_0 path, so results differ from {@code java} by that rounding ({@code docs/int8.md}); opt-in
 *       only, and refused with the missing CPU feature or library named where it cannot run. bf16 weights, GEMMs
 *       (prefill) and everything else stay on the Java kernels.</li>
 * </ul>
 */
public enum CpuKernels {
    JAVA,
    NATIVE;

    /** The lower-case name of the command line and the settings: {@code java} or {@code native}. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * The choice named by {@code value} ({@code java} or {@code native}, any case, blanks ignored).
     *
     * @throws IllegalArgumentException naming the value and the accepted ones
     */
    public static CpuKernels parse(String value) {
        return switch (value == null ? "" : value.strip().toLowerCase(Locale.ROOT)) {
            case "java" -> JAVA;
            case "native" -> NATIVE;
            default -> throw new IllegalArgumentException("unknown CPU kernels " + (value == null ? "null"
                    : "'" + value + "'") + " (expected java or native)");
        };
    }

    @Override
    public String toString() {
        return label();
    }
}
