package dev.dsv2.engine.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * Which compiled form of a kernel module a device loads. The build ships, per module, cubins for sm_80 (A100) and
 * sm_90 (H100/H200) and PTX for compute_80. A cubin runs on devices of its major compute capability and a minor one
 * at least its own (sm_80 on 8.0, 8.6, 8.9), so a device takes the newest such cubin; any other device of compute
 * capability 8.0 or newer JIT-compiles the PTX (the driver must support PTX ISA 9.0, i.e. CUDA 13 / R580+);
 * older devices lack bf16 {@code mma.sync} and are refused.
 *
 * @param resource class-path resource of the artefact
 * @param ptx      true for PTX text (loaded null-terminated), false for a cubin
 */
record KernelBinary(String resource, boolean ptx) {
    static final String DIR = "dev/dsv2/engine/cuda/kernels/";
    /** The module names, one per .cu source. */
    static final String[] MODULES = {"gemv", "gemm", "swiglu", "norm_rope", "mla_decode", "prefill_attention",
            "gate_sample", "forward"};
    /** Compute capabilities with a cubin, newest first. */
    static final int[][] CUBIN_ARCHS = {{9, 0}, {8, 0}};
    static final String PTX_ARCH = "compute_80";

    /**
     * @throws IllegalStateException when the device is older than compute capability 8.0
     */
    static KernelBinary forDevice(String module, int major, int minor) {
        for (int[] arch : CUBIN_ARCHS) {
            if (arch[0] == major && arch[1] <= minor) {
                return new KernelBinary(DIR + module + ".sm_" + arch[0] + arch[1] + ".cubin", false);
            }
        }
        if (major < 8) {
            throw new IllegalStateException("compute capability " + major + "." + minor + " is not supported: the "
                    + "kernels need sm_80 or newer (bf16 mma.sync)");
        }
        return new KernelBinary(DIR + module + "." + PTX_ARCH + ".ptx", true);
    }

    /** The artefact's bytes as cuModuleLoadData takes them (PTX with a terminating NUL). */
    byte[] load() {
        try (InputStream in = KernelBinary.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("kernel artefact " + resource + " is not on the class path (rebuild "
                        + "engine-cuda: bash engine-cuda/src/main/cuda/build.sh)");
            }
            byte[] b = in.readAllBytes();
            if (!ptx) {
                return b;
            }
            byte[] z = java.util.Arrays.copyOf(b, b.length + 1);
            z[b.length] = 0;
            return z;
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + resource + ": " + e.getMessage(), e);
        }
    }
}
