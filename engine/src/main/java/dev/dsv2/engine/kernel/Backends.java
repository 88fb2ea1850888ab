package dev.dsv2.engine.kernel;

import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.engine.kernel.scalar.ScalarBackend;
import java.util.Locale;
import java.util.logging.Logger;

/**
 * The one place that chooses the kernel backend: {@code scalar} forces the scalar oracle, otherwise the Vector API
 * backend, its int8 matrix-vector and bf16 matrix products in Java or native ({@link CpuKernels}). The requested
 * name, thread count and kernels come from {@code dsv2.backend} / {@code dsv2.threads} / {@code dsv2.cpu-kernels},
 * parsed by {@link dev.dsv2.engine.serve.ServingSettings}. The choice is logged once.
 */
public final class Backends {
    private static final Logger LOG = Logger.getLogger(Backends.class.getName());

    private Backends() {
    }

    /**
     * The backend name {@code requested} means: {@code auto} (also for null or blank), {@code cpu}, {@code vector}
     * or {@code scalar}, in lower case.
     *
     * @throws IllegalArgumentException naming the value and the accepted names
     */
    public static String canonicalName(String requested) {
        String v = requested == null ? "auto" : requested.trim().toLowerCase(Locale.ROOT);
        return switch (v) {
            case "", "auto" -> "auto";
            case "cpu", "vector", "scalar" -> v;
            default -> throw new IllegalArgumentException("'" + requested + "' is not a kernel backend (expected auto,"
                    + " cpu, vector or scalar)");
        };
    }

    /** The backend {@code requested} with the Java kernels ({@link CpuKernels#JAVA}: bit-exact, for tests). */
    public static Backend create(String requested, int threads) {
        return create(requested, threads, CpuKernels.JAVA);
    }

    /**
     * The backend {@code requested}, its int8 and bf16 matrix products on {@code kernels} (the scalar oracle runs
     * Java for {@link CpuKernels#AUTO}).
     *
     * @throws IllegalArgumentException for {@code native} kernels with the scalar backend
     * @throws IllegalStateException    for {@code native} kernels where they cannot run, naming what is missing
     */
    public static Backend create(String requested, int threads, CpuKernels kernels) {
        boolean scalar = canonicalName(requested).equals("scalar");
        if (scalar && kernels == CpuKernels.NATIVE) {
            throw new IllegalArgumentException("the scalar backend is the Java oracle: it runs no native kernels "
                    + "(use dsv2.backend=auto or vector with dsv2.cpu-kernels=native)");
        }
        Backend b = scalar ? new ScalarBackend() : new VectorBackend(threads, kernels);
        LOG.fine(() -> "kernel backend: " + b.name());
        return b;
    }
}
