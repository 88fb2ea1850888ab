package dev.dsv2.engine.device;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.Backend;

/**
 * The CUDA side of device selection, provided at run time by the {@code dsv2-engine-cuda} module through
 * {@link java.util.ServiceLoader} (the engine itself stays plain Java and never links JCuda). Implementations must
 * not throw on a machine without a GPU or driver: {@link #probe()} reports the reason instead.
 */
public interface CudaSupport {

    /** Asks the driver for devices; never throws (a missing {@code libcuda.so.1} is a reason, not an error). */
    CudaProbe probe();

    /**
     * Runs every CUDA kernel once on random inputs of {@code config}'s shapes on {@code device} and compares it with
     * the CPU backend. Returns the per-kernel results; {@link SelfCheckReport#passed()} is false on any mismatch.
     */
    SelfCheckReport selfCheck(CudaDevice device, ModelConfig config, long seed);

    /**
     * Opens the CUDA backend on {@code device} (its context and kernel modules); the caller closes it.
     *
     * @throws DeviceUnavailableException naming what failed, as one line
     */
    Backend open(CudaDevice device);
}
