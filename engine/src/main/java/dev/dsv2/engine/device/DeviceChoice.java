package dev.dsv2.engine.device;

/**
 * The device the model will run on and why, as one line a caller logs or prints once.
 *
 * @param request what was asked for
 * @param device  the CUDA device when the model runs on one; null for the CPU (the only outcome today)
 * @param reason  why this device: "requested", or why {@code auto} did not pick a GPU
 */
public record DeviceChoice(DeviceRequest request, CudaDevice device, String reason) {

    public boolean cpu() {
        return device == null;
    }

    /** One line for the log / stderr, e.g. {@code device auto -> cpu: libcuda.so.1 not found (no NVIDIA driver)}. */
    public String describe() {
        return "device " + request + " -> " + (cpu() ? "cpu" : device.describe())
                + (reason == null ? "" : ": " + reason);
    }
}
