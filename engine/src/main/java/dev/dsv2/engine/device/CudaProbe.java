package dev.dsv2.engine.device;

import java.util.List;

/**
 * What the CUDA driver said when asked for devices: either the devices, or why there are none usable (the missing
 * library or the driver's error), phrased for a user.
 *
 * @param devices     every device the driver enumerates (empty when unavailable)
 * @param unavailable null when the driver loaded and counted at least one device; otherwise the reason
 */
public record CudaProbe(List<CudaDevice> devices, String unavailable) {

    public CudaProbe {
        devices = List.copyOf(devices);
        if ((unavailable == null) == devices.isEmpty()) {
            throw new IllegalArgumentException("a CUDA probe has devices or a reason for having none, not both");
        }
    }

    public static CudaProbe unavailable(String reason) {
        return new CudaProbe(List.of(), reason);
    }

    public static CudaProbe of(List<CudaDevice> devices) {
        return new CudaProbe(devices, null);
    }

    public boolean available() {
        return unavailable == null;
    }
}
