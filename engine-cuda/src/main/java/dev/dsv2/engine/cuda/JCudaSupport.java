package dev.dsv2.engine.cuda;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.device.CudaDevice;
import dev.dsv2.engine.device.CudaProbe;
import dev.dsv2.engine.device.CudaSupport;
import dev.dsv2.engine.device.SelfCheckReport;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.cpu.HostBackend;
import dev.dsv2.engine.serve.ServingSettings;

import java.util.List;

/**
 * The engine's CUDA support through JCuda's driver API (registered for {@link java.util.ServiceLoader} in
 * META-INF/services): the device probe, the kernel self-check and the {@link CudaBackend} the model runs on. The CPU reference of the self-check is the CPU
 * backend the model runs on (from {@link ServingSettings#fromSystem()}).
 */
public final class JCudaSupport implements CudaSupport {

    @Override
    public CudaProbe probe() {
        return DriverProbe.probe();
    }

    @Override
    public SelfCheckReport selfCheck(CudaDevice device, ModelConfig config, long seed) {
        try (Backend backend = ServingSettings.fromSystem().createBackend()) {
            if (!(backend instanceof HostBackend cpu)) {
                throw new IllegalStateException("the self-check's reference must be a CPU backend, not "
                        + backend.name());
            }
            CudaContext cx;
            try {
                cx = new CudaContext(device);
            } catch (RuntimeException | LinkageError e) {
                return new SelfCheckReport(device, List.of(new SelfCheckReport.KernelResult("module load",
                        device.smName(), Double.NaN, 0, "loading the kernel modules failed: " + e, false)));
            }
            try (cx) {
                return new SelfCheckReport(device, new KernelSelfCheck(config, cpu, seed).run(cx));
            }
        }
    }

    @Override
    public Backend open(CudaDevice device) {
        return CudaBackend.open(device);
    }
}
