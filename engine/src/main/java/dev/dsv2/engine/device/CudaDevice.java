package dev.dsv2.engine.device;

/**
 * One CUDA device as the driver reports it.
 *
 * @param ordinal           driver device index
 * @param name              e.g. "NVIDIA H100 80GB HBM3"
 * @param computeMajor      compute capability, major (9 for Hopper)
 * @param computeMinor      compute capability, minor
 * @param totalMemoryBytes  device memory
 * @param freeMemoryBytes   free device memory when probed ({@code cuMemGetInfo})
 */
public record CudaDevice(int ordinal, String name, int computeMajor, int computeMinor, long totalMemoryBytes,
                         long freeMemoryBytes) {

    /** {@code sm_90} style name of the compute capability. */
    public String smName() {
        return "sm_" + computeMajor + computeMinor;
    }

    public String describe() {
        return String.format("cuda:%d %s (%s, %.1f of %.1f GiB free)", ordinal, name, smName(),
                freeMemoryBytes / (double) (1L << 30), totalMemoryBytes / (double) (1L << 30));
    }
}
