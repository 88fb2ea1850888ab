package dev.dsv2.engine.cuda;

import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.device.CudaProbe;
import dev.dsv2.engine.device.SelfCheckReport;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * On a GPU: every kernel agrees with the CPU backend on V2-Lite's real shapes and on the group-limited gate of the
 * tiny-v2 preset. Skipped without a CUDA device.
 */
class KernelSelfCheckGpuTest {

    private static SelfCheckReport check(String preset) {
        CudaProbe p = new JCudaSupport().probe();
        assumeTrue(p.available(), () -> "no CUDA device: " + p.unavailable());
        ModelConfig c = ModelPresets.preset(preset);
        SelfCheckReport r = new JCudaSupport().selfCheck(p.devices().getFirst(), c, 42);
        for (SelfCheckReport.KernelResult k : r.kernels()) {
            System.out.println(preset + ": " + k);
        }
        return r;
    }

    @Test
    void everyKernelMatchesTheCpuOnV2LiteShapes() {
        SelfCheckReport r = check("lite-layers:1");
        assertEquals(10, r.kernels().size());
        assertTrue(r.passed(), r.firstFailure());
    }

    @Test
    void everyKernelMatchesTheCpuOnTheGroupLimitedTinyV2() {
        SelfCheckReport r = check("tiny-v2");
        assertTrue(r.passed(), r.firstFailure());
    }
}
