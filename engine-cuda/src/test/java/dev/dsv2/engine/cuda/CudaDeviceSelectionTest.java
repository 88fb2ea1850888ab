package dev.dsv2.engine.cuda;

import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.device.CudaProbe;
import dev.dsv2.engine.device.CudaDevice;
import dev.dsv2.engine.device.DeviceChoice;
import dev.dsv2.engine.device.DeviceRequest;
import dev.dsv2.engine.device.DeviceSelector;
import dev.dsv2.engine.device.DeviceUnavailableException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * The real JCuda probe through the engine's selector, on a machine without a GPU (skipped where one is present):
 * auto falls back naming libcuda.so.1, cuda is an error naming it, and nothing throws a LinkageError.
 */
class CudaDeviceSelectionTest {

    @Test
    void cudaSupportIsFoundOnTheClassPath() {
        assertInstanceOf(JCudaSupport.class, DeviceSelector.loadCudaSupport());
    }

    @Test
    void withoutADriverAutoFallsBackToTheCpuNamingTheMissingLibrary() {
        CudaProbe p = new JCudaSupport().probe();
        assumeFalse(p.available(), "a CUDA device is present");
        assertTrue(p.unavailable().contains("libcuda.so.1") || p.unavailable().contains("CUDA"), p.unavailable());
        DeviceChoice c = DeviceSelector.fromClassPath().select(DeviceRequest.AUTO, () -> ModelPresets.preset("tiny"),
                device -> null);
        assertTrue(c.cpu());
        assertTrue(c.describe().startsWith("device auto -> cpu: "), c.describe());
        // The probe is cached: asking again neither throws NoClassDefFoundError nor changes the answer.
        assertTrue(new JCudaSupport().probe().unavailable().equals(p.unavailable()));
    }

    @Test
    void withoutADriverCudaIsAnErrorNamingWhatIsMissing() {
        assumeFalse(new JCudaSupport().probe().available(), "a CUDA device is present");
        DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
                () -> DeviceSelector.fromClassPath().select(DeviceRequest.parse("cuda:1"),
                        () -> ModelPresets.preset("tiny"), device -> null));
        assertTrue(e.getMessage().startsWith("--device cuda:1: no usable CUDA GPU: "), e.getMessage());
    }

    @Test
    void withoutADriverTheCudaBackendRefusesInOneLine() {
        assumeFalse(new JCudaSupport().probe().available(), "a CUDA device is present");
        CudaDevice h100 = new CudaDevice(0, "NVIDIA H100 80GB HBM3", 9, 0, 80L << 30, 79L << 30);
        for (int attempt = 0; attempt < 2; attempt++) { // the second sees NoClassDefFoundError, not the link error
            DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
                    () -> new JCudaSupport().open(h100));
            assertTrue(e.getMessage().startsWith("cuda backend on cuda:0 NVIDIA H100 80GB HBM3"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
            assertEquals(0, e.getStackTrace().length);
        }
    }
}
