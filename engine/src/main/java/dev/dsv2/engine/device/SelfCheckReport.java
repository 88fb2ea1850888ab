package dev.dsv2.engine.device;

import java.util.List;

/**
 * The outcome of a CUDA kernel self-check: one entry per kernel, each with its measured error against the CPU
 * backend and the tolerance it is held to.
 *
 * @param device  the device checked
 * @param kernels results in the order they ran
 */
public record SelfCheckReport(CudaDevice device, List<KernelResult> kernels) {

    /**
     * @param kernel    kernel name as in the .cu sources
     * @param shape     the shapes it ran on
     * @param error     the measured error (its definition is in {@code detail})
     * @param tolerance the bound the error must stay under
     * @param detail    how the error is measured, or why the kernel failed
     * @param passed    error within tolerance and the kernel ran
     */
    public record KernelResult(String kernel, String shape, double error, double tolerance, String detail,
                               boolean passed) {
    }

    public SelfCheckReport {
        kernels = List.copyOf(kernels);
    }

    public boolean passed() {
        return !kernels.isEmpty() && kernels.stream().allMatch(KernelResult::passed);
    }

    /** The first failing kernel, phrased for a user; null when all passed. */
    public String firstFailure() {
        for (KernelResult k : kernels) {
            if (!k.passed()) {
                return "kernel " + k.kernel() + " [" + k.shape() + "]: " + k.detail() + " (error " + k.error()
                        + ", tolerance " + k.tolerance() + ")";
            }
        }
        return kernels.isEmpty() ? "no kernel ran" : null;
    }
}
