package dev.dsv2.engine.device;

import dev.dsv2.engine.config.ModelConfig;

import java.util.Iterator;
import java.util.ServiceLoader;
import java.util.function.Supplier;

/**
 * The one place that turns a {@link DeviceRequest} into the device the model runs on.
 *
 * <ul>
 *   <li>{@code cpu}: the CPU backend.</li>
 *   <li>{@code auto}: the CPU, with the reason a GPU was not used: the CUDA module is not on the class path, the
 *       driver library is missing, the driver has no device, or (with a GPU present) the CUDA forward path is not
 *       implemented yet.</li>
 *   <li>{@code cuda[:N]}: never silently the CPU. Without a usable GPU a {@link DeviceUnavailableException} names
 *       what is missing. With one, the kernel self-check runs first (a mismatch refuses the device naming the
 *       kernel); then, because the model's forward pass is still bound to host memory, the request is refused with
 *       that reason.</li>
 * </ul>
 * CUDA support is found at run time ({@link ServiceLoader} of {@link CudaSupport}), so the engine never links JCuda.
 */
public final class DeviceSelector {
    /** Whether the model's forward pass can run on a CUDA device. False until the device-neutral seam exists. */
    public static final boolean CUDA_FORWARD_IMPLEMENTED = false;

    static final String NOT_ON_CLASSPATH = "CUDA support (module dsv2-engine-cuda) is not on the class path";
    static final String FORWARD_MISSING = "the CUDA forward path is not implemented yet (the model's activations and "
            + "latent cache still live in host memory; the CUDA kernels exist and are self-checked, but no model "
            + "layer runs on them)";

    private final CudaSupport cuda;

    /** @param cuda the CUDA support, or null when it is not available at all */
    public DeviceSelector(CudaSupport cuda) {
        this.cuda = cuda;
    }

    /** A selector with the CUDA support found on the class path, if any. */
    public static DeviceSelector fromClassPath() {
        return new DeviceSelector(loadCudaSupport());
    }

    /** The first {@link CudaSupport} on the class path, or null. */
    public static CudaSupport loadCudaSupport() {
        try {
            Iterator<CudaSupport> it = ServiceLoader.load(CudaSupport.class).iterator();
            return it.hasNext() ? it.next() : null;
        } catch (java.util.ServiceConfigurationError | LinkageError e) {
            return null;
        }
    }

    /** The probe result, or the reason CUDA support is absent. */
    public CudaProbe probe() {
        return cuda == null ? CudaProbe.unavailable(NOT_ON_CLASSPATH) : cuda.probe();
    }

    /**
     * Chooses the device for {@code request}.
     *
     * @param config the model's configuration, read only when a CUDA device must be self-checked
     * @throws DeviceUnavailableException when {@code cuda[:N]} was asked for and cannot run the model
     */
    public DeviceChoice select(DeviceRequest request, Supplier<ModelConfig> config) {
        return switch (request.kind()) {
            case CPU -> new DeviceChoice(request, null, "requested");
            case AUTO -> auto(request);
            case CUDA -> cuda(request, config);
        };
    }

    private DeviceChoice auto(DeviceRequest request) {
        CudaProbe p = probe();
        if (!p.available()) {
            return new DeviceChoice(request, null, p.unavailable());
        }
        return new DeviceChoice(request, null, "found " + p.devices().getFirst().describe() + ", but "
                + FORWARD_MISSING + "; running on the CPU (./dsv2 selfcheck --device cuda checks the kernels)");
    }

    private DeviceChoice cuda(DeviceRequest request, Supplier<ModelConfig> config) {
        CudaDevice device = device(request);
        SelfCheckReport report = cuda.selfCheck(device, config.get(), 0);
        if (!report.passed()) {
            throw new DeviceUnavailableException("--device " + request + ": " + device.describe()
                    + " refused: the kernel self-check failed: " + report.firstFailure());
        }
        if (!CUDA_FORWARD_IMPLEMENTED) {
            throw new DeviceUnavailableException("--device " + request + ": " + device.describe() + " passed the "
                    + "kernel self-check (" + report.kernels().size() + " kernels), but " + FORWARD_MISSING
                    + ". Use --device cpu (or auto) to run on the CPU.");
        }
        return new DeviceChoice(request, device, "requested");
    }

    /**
     * The device {@code cuda:N} names.
     *
     * @throws DeviceUnavailableException without a driver or device, or when N is beyond the device count
     */
    public CudaDevice device(DeviceRequest request) {
        if (request.kind() != DeviceRequest.Kind.CUDA) {
            throw new IllegalArgumentException("not a CUDA device request: " + request);
        }
        CudaProbe p = probe();
        if (!p.available()) {
            throw new DeviceUnavailableException("--device " + request + ": no usable CUDA GPU: " + p.unavailable()
                    + ". Use --device cpu (or auto, which falls back to the CPU).");
        }
        if (request.ordinal() >= p.devices().size()) {
            StringBuilder found = new StringBuilder();
            for (CudaDevice d : p.devices()) {
                found.append(found.isEmpty() ? "" : ", ").append(d.describe());
            }
            throw new DeviceUnavailableException("--device " + request + ": the driver reports "
                    + p.devices().size() + " CUDA device(s): " + found);
        }
        return p.devices().get(request.ordinal());
    }
}
