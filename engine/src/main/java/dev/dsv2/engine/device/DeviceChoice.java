package dev.dsv2.engine.device;

import dev.dsv2.engine.kernel.Backend;

/**
 * The device the model will run on and why, as one line a caller logs or prints once.
 *
 * @param request what was asked for
 * @param device  the CUDA device when the model runs on one; null for the CPU
 * @param reason  why this device: "requested", or why {@code auto} did or did not pick a GPU
 * @param backend the opened, checked device backend the model runs on (owned by whoever builds the model, which
 *                closes it); null for the CPU, whose backend the caller creates from its settings
 */
public record DeviceChoice(DeviceRequest request, CudaDevice device, String reason, Backend backend) {

    /** A CPU choice. */
    public DeviceChoice(DeviceRequest request, CudaDevice device, String reason) {
        this(request, device, reason, null);
    }

    public boolean cpu() {
        return device == null;
    }

    /** One line for the log / stderr, e.g. {@code device auto -> cpu: libcuda.so.1 not found (no NVIDIA driver)}. */
    public String describe() {
        return "device " + request + " -> " + (cpu() ? "cpu" : device.describe())
                + (reason == null ? "" : ": " + reason);
    }
}
