package dev.dsv2.engine.kernel;

import java.util.Locale;

/**
 * Which kernels the CPU backend runs for the matrix products of int8 and bf16 weights
 * ({@code dsv2.cpu-kernels}, {@code --cpu-kernels}):
 * <ul>
 *   <li>{@link #AUTO} (the default): int8 weights' products as {@link #NATIVE} where the native kernels can run
 *       here (else as {@link #JAVA}, logged once with the reason), bf16 weights' products as {@link #JAVA}. A user
 *       who chose int8 weights chose their rounding for speed and memory, and the native int8 kernel decodes ~2x
 *       faster than the Java one (the Java Vector API has no 8-bit dot product); bf16 stays bit-exact.</li>
 *   <li>{@link #JAVA}: the Java Vector API kernels, bit-exact and reproducible
 *       ({@code GoldenLogitsTest} pins them); activations stay float32.</li>
 *   <li>{@link #NATIVE}: matrix products in the bundled native library: int8 weights (every product: decode,
 *       batched decode, prefill) on AVX512-VNNI {@code vpdpbusd}
 *       ({@code kernel.cpu.NativeInt8}),
 *       activations rounded to int8 per block of 32 like llama.cpp's Q8_0 path ({@code docs/int8.md}); bf16 weights
 *       on AVX512_BF16 {@code vdpbf16ps} for every product, matrix-vector and GEMM ({@code kernel.cpu.NativeBf16}),
 *       activations rounded to bf16 once per product
 *       like llama.cpp's bf16 matmuls ({@code docs/performance.md}). Results differ from {@code java} by those
 *       roundings. It needs both CPU features (a CPU with VNNI but no BF16 is refused at start naming
 *       avx512_bf16), and is refused with the missing CPU feature or library named where it cannot run. Everything
 *       else (attention, norms, rope, sampling) stays on the Java kernels.</li>
 * </ul>
 */
public enum CpuKernels {
    AUTO,
    JAVA,
    NATIVE;

    /** The lower-case name of the command line and the settings: {@code auto}, {@code java} or {@code native}. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * The choice named by {@code value} ({@code auto}, {@code java} or {@code native}, any case, blanks ignored).
     *
     * @throws IllegalArgumentException naming the value and the accepted ones
     */
    public static CpuKernels parse(String value) {
        return switch (value == null ? "" : value.strip().toLowerCase(Locale.ROOT)) {
            case "auto" -> AUTO;
            case "java" -> JAVA;
            case "native" -> NATIVE;
            default -> throw new IllegalArgumentException("unknown CPU kernels " + (value == null ? "null"
                    : "'" + value + "'") + " (expected auto, java or native)");
        };
    }

    @Override
    public String toString() {
        return label();
    }
}
