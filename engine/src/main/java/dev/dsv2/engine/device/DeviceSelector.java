package dev.dsv2.engine.device;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.Backend;

import java.util.Iterator;
import java.util.ServiceLoader;
import java.util.function.Supplier;

/**
 * The one place that turns a {@link DeviceRequest} into the device the model runs on.
 *
 * <ul>
 *   <li>{@code cpu}: the CPU backend.</li>
 *   <li>{@code cuda[:N]}: never silently the CPU. Without a usable GPU a {@link DeviceUnavailableException} names
 *       what is missing. With one, two guards run before the device may serve: the <b>kernel self-check</b> (every
 *       kernel on random inputs of the model's shapes against the CPU; a mismatch refuses the device naming the
 *       kernel), then the CUDA backend is opened and the <b>model parity probe</b> ({@link ParityProbe}: the model on
 *       the device against the CPU, greedy ids identical, top-5 logprobs within 2e-3; a mismatch refuses the device
 *       naming the step and the error). The choice then carries the opened backend.</li>
 *   <li>{@code auto}: the CUDA path above when the driver reports a device and both guards pass, else the CPU with
 *       one line saying why (the CUDA module is not on the class path, no driver, no device, or the guard that
 *       refused).</li>
 * </ul>
 * CUDA support is found at run time ({@link ServiceLoader} of {@link CudaSupport}), so the engine never links JCuda.
 */
public final class DeviceSelector {
    static final String NOT_ON_CLASSPATH = "CUDA support (module dsv2-engine-cuda) is not on the class path";

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
     * @param parity the model parity probe a CUDA device must pass; null refuses CUDA (nothing to check it with)
     * @throws DeviceUnavailableException when {@code cuda[:N]} was asked for and cannot run the model
     */
    public DeviceChoice select(DeviceRequest request, Supplier<ModelConfig> config, ParityProbe parity) {
        return switch (request.kind()) {
            case CPU -> new DeviceChoice(request, null, "requested");
            case AUTO -> auto(request, config, parity);
            case CUDA -> cuda(request, device(request), config, parity, "requested");
        };
    }

    private DeviceChoice auto(DeviceRequest request, Supplier<ModelConfig> config, ParityProbe parity) {
        CudaProbe p = probe();
        if (!p.available()) {
            return new DeviceChoice(request, null, p.unavailable());
        }
        CudaDevice device = p.devices().getFirst();
        try {
            return cuda(request, device, config, parity, "the kernel self-check and the model parity probe passed");
        } catch (DeviceUnavailableException e) {
            return new DeviceChoice(request, null, e.getMessage() + "; running on the CPU");
        }
    }

    private DeviceChoice cuda(DeviceRequest request, CudaDevice device, Supplier<ModelConfig> config,
                              ParityProbe parity, String reason) {
        String refused = "--device " + request + ": " + device.describe() + " refused: ";
        if (parity == null) {
            throw new DeviceUnavailableException(refused + "no model parity probe was given (this caller cannot "
                    + "check the forward pass on the device); use --device cpu");
        }
        SelfCheckReport report = cuda.selfCheck(device, config.get(), 0);
        if (!report.passed()) {
            throw new DeviceUnavailableException(refused + "the kernel self-check failed: " + report.firstFailure());
        }
        Backend backend;
        try {
            backend = cuda.open(device);
        } catch (DeviceUnavailableException e) {
            throw e;
        } catch (RuntimeException | LinkageError e) {
            throw new DeviceUnavailableException(refused + "opening the CUDA backend failed: " + e);
        }
        String mismatch;
        try {
            mismatch = parity.mismatch(backend);
        } catch (RuntimeException | LinkageError e) {
            mismatch = "the probe failed: " + e;
        }
        if (mismatch != null) {
            backend.close();
            throw new DeviceUnavailableException(refused + "the model parity probe failed: " + mismatch);
        }
        return new DeviceChoice(request, device, reason, backend);
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
