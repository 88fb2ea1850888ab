package dev.dsv2.engine.device;

import dev.dsv2.engine.kernel.Backend;

/**
 * The model parity check a CUDA device must pass before it serves ({@link DeviceSelector}): the model run on the
 * device backend against the CPU backend. {@link ModelParityProbe} is the implementation for a checkpoint directory.
 */
@FunctionalInterface
public interface ParityProbe {
    /**
     * Runs the check on {@code device}.
     *
     * @return null when the device agrees with the CPU, else one line naming the step and the error
     */
    String mismatch(Backend device);
}
