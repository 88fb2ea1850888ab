package dev.dsv2.engine.device;

import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.Backend;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Proxy;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The device policy: cpu is the CPU; auto falls back to the CPU and says why; cuda never silently runs on the CPU,
 * and a device serves only after the kernel self-check and the model parity probe pass. The CUDA side is given as fixed
 * answers (what the driver would report; a proxy stands in for the opened device backend), so every branch
 * runs without a GPU.
 */
class DeviceSelectorTest {
    private static final Supplier<ModelConfig> TINY = () -> ModelPresets.preset("tiny");
    private static final CudaDevice H100 = new CudaDevice(0, "NVIDIA H100 80GB HBM3", 9, 0, 80L << 30, 79L << 30);
    private static final ParityProbe AGREES = device -> null;
    private static final ParityProbe DIFFERS = device -> "step 2: greedy token 17 on cuda:0, 93 on the CPU";

    /** Answers what a driver would: a fixed probe, and a self-check that passes or fails as told (and is counted). */
    private static final class FixedCuda implements CudaSupport {
        final CudaProbe probe;
        final boolean checkPasses;
        final AtomicInteger checks = new AtomicInteger();
        final AtomicInteger opened = new AtomicInteger();
        final AtomicInteger closed = new AtomicInteger();

        FixedCuda(CudaProbe probe, boolean checkPasses) {
            this.probe = probe;
            this.checkPasses = checkPasses;
        }

        @Override
        public CudaProbe probe() {
            return probe;
        }

        @Override
        public SelfCheckReport selfCheck(CudaDevice device, ModelConfig config, long seed) {
            checks.incrementAndGet();
            return new SelfCheckReport(device, List.of(
                    new SelfCheckReport.KernelResult("rms_norm_f32", "4x128", 0, 1e-5, "max |gpu-cpu|", true),
                    new SelfCheckReport.KernelResult("gemv_bf16", "1x128x128", checkPasses ? 0 : 0.5, 1e-4,
                            "max |gpu-cpu| / rms(cpu)", checkPasses)));
        }

        @Override
        public Backend open(CudaDevice device) {
            opened.incrementAndGet();
            return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[]{Backend.class},
                    (proxy, method, args) -> switch (method.getName()) {
                        case "close" -> {
                            closed.incrementAndGet();
                            yield null;
                        }
                        case "name" -> "cuda:0";
                        default -> throw new UnsupportedOperationException(method.getName());
                    });
        }
    }

    @Test
    void cpuIsTheCpu() {
        DeviceChoice c = new DeviceSelector(null).select(DeviceRequest.CPU, TINY, AGREES);
        assertTrue(c.cpu());
        assertEquals("device cpu -> cpu: requested", c.describe());
    }

    @Test
    void autoWithoutCudaModuleFallsBackSayingWhy() {
        DeviceChoice c = new DeviceSelector(null).select(DeviceRequest.AUTO, TINY, AGREES);
        assertTrue(c.cpu());
        assertEquals("device auto -> cpu: " + DeviceSelector.NOT_ON_CLASSPATH, c.describe());
    }

    @Test
    void autoWithoutDriverFallsBackNamingTheLibrary() {
        FixedCuda cuda = new FixedCuda(CudaProbe.unavailable("libcuda.so.1 not found (no NVIDIA driver)"), true);
        DeviceChoice c = new DeviceSelector(cuda).select(DeviceRequest.AUTO, TINY, AGREES);
        assertTrue(c.cpu());
        assertEquals("device auto -> cpu: libcuda.so.1 not found (no NVIDIA driver)", c.describe());
        assertEquals(0, cuda.checks.get());
    }

    @Test
    void autoWithAGpuThatPassesBothGuardsRunsOnIt() {
        FixedCuda cuda = new FixedCuda(CudaProbe.of(List.of(H100)), true);
        DeviceChoice c = new DeviceSelector(cuda).select(DeviceRequest.AUTO, TINY, AGREES);
        assertFalse(c.cpu());
        assertNotNull(c.backend());
        assertEquals("device auto -> cuda:0 NVIDIA H100 80GB HBM3 (sm_90, 80 GiB): the kernel self-check and the "
                + "model parity probe passed", c.describe().replaceAll("\\(sm_90[^)]*\\)", "(sm_90, 80 GiB)"));
    }

    @Test
    void autoWithAGpuThatFailsTheParityProbeFallsBackSayingWhyAndClosesTheBackend() {
        FixedCuda cuda = new FixedCuda(CudaProbe.of(List.of(H100)), true);
        DeviceChoice c = new DeviceSelector(cuda).select(DeviceRequest.AUTO, TINY, DIFFERS);
        assertTrue(c.cpu());
        assertNull(c.backend());
        assertTrue(c.reason().contains("the model parity probe failed: step 2: greedy token 17")
                && c.reason().endsWith("; running on the CPU"), c.reason());
        assertEquals(1, cuda.closed.get());
    }

    @Test
    void cudaWithoutDriverIsAnErrorNamingWhatIsMissing() {
        FixedCuda cuda = new FixedCuda(CudaProbe.unavailable("libcuda.so.1 not found (no NVIDIA driver)"), true);
        DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
                () -> new DeviceSelector(cuda).select(DeviceRequest.cuda(0), TINY, AGREES));
        assertEquals("--device cuda:0: no usable CUDA GPU: libcuda.so.1 not found (no NVIDIA driver). "
                + "Use --device cpu (or auto, which falls back to the CPU).", e.getMessage());
        assertEquals(0, e.getStackTrace().length, "shown to users as is: no stack trace");
    }

    @Test
    void cudaWithoutModuleIsAnError() {
        DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
                () -> new DeviceSelector(null).select(DeviceRequest.cuda(0), TINY, AGREES));
        assertTrue(e.getMessage().contains(DeviceSelector.NOT_ON_CLASSPATH), e.getMessage());
    }

    @Test
    void cudaOrdinalBeyondTheDevicesListsThem() {
        DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
                () -> new DeviceSelector(new FixedCuda(CudaProbe.of(List.of(H100)), true))
                        .select(DeviceRequest.cuda(2), TINY, AGREES));
        assertTrue(e.getMessage().startsWith("--device cuda:2: the driver reports 1 CUDA device(s): cuda:0 NVIDIA H100"),
                e.getMessage());
    }

    @Test
    void cudaWithAGpuRunsTheSelfCheckThenTheParityProbeAndCarriesTheBackend() {
        FixedCuda cuda = new FixedCuda(CudaProbe.of(List.of(H100)), true);
        DeviceChoice c = new DeviceSelector(cuda).select(DeviceRequest.cuda(0), TINY, AGREES);
        assertEquals(1, cuda.checks.get());
        assertEquals(1, cuda.opened.get());
        assertEquals("requested", c.reason());
        assertNotNull(c.backend());
    }

    @Test
    void aFailingParityProbeRefusesTheDeviceNamingTheStep() {
        FixedCuda cuda = new FixedCuda(CudaProbe.of(List.of(H100)), true);
        DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
                () -> new DeviceSelector(cuda).select(DeviceRequest.cuda(0), TINY, DIFFERS));
        assertTrue(e.getMessage().startsWith("--device cuda:0: cuda:0 NVIDIA H100")
                && e.getMessage().endsWith("refused: the model parity probe failed: step 2: greedy token 17 on "
                + "cuda:0, 93 on the CPU"), e.getMessage());
        assertEquals(1, cuda.closed.get());
        assertEquals(0, e.getStackTrace().length);
    }

    @Test
    void withoutAParityProbeCudaIsRefused() {
        FixedCuda cuda = new FixedCuda(CudaProbe.of(List.of(H100)), true);
        DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
                () -> new DeviceSelector(cuda).select(DeviceRequest.cuda(0), TINY, null));
        assertTrue(e.getMessage().contains("no model parity probe"), e.getMessage());
        assertEquals(0, cuda.opened.get());
    }

    @Test
    void aFailingSelfCheckRefusesTheDeviceNamingTheKernel() {
        FixedCuda cuda = new FixedCuda(CudaProbe.of(List.of(H100)), false);
        DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
                () -> new DeviceSelector(cuda).select(DeviceRequest.cuda(0), TINY, AGREES));
        assertTrue(e.getMessage().contains("self-check failed: kernel gemv_bf16"), e.getMessage());
    }

    @Test
    void reportWithoutKernelsDoesNotPass() {
        SelfCheckReport r = new SelfCheckReport(H100, List.of());
        assertEquals(false, r.passed());
        assertEquals("no kernel ran", r.firstFailure());
        assertNull(new SelfCheckReport(H100, List.of(new SelfCheckReport.KernelResult("k", "s", 0, 1, "d", true)))
                .firstFailure());
    }
}
