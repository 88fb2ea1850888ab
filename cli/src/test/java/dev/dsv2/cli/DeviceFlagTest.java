package dev.dsv2.cli;

import dev.dsv2.engine.device.DeviceSelector;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static dev.dsv2.cli.MakeModelAndGenerateTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * {@code --device} as a user meets it on generate, bench and selfcheck: a bad value is a usage error naming it;
 * without a GPU, auto runs on the CPU with one line saying why and cuda is a one-line error with a non-zero exit.
 * (The GPU-present branches are covered by the engine's DeviceSelectorTest and the GPU tests of engine-cuda.)
 */
class DeviceFlagTest {
    @TempDir
    static Path tmp;
    static Path tiny;

    @BeforeAll
    static void makeModel() {
        tiny = tmp.resolve("tiny");
        assertEquals(0, run("make-model", tiny.toString(), "--preset", "tiny", "--seed", "3").exit());
    }

    private static void assumeNoGpu() {
        assumeFalse(DeviceSelector.fromClassPath().probe().available(), "a CUDA device is present");
    }

    @Test
    void aBadDeviceIsAUsageErrorNamingTheValue() {
        for (String cmd : new String[]{"generate", "bench", "selfcheck"}) {
            MakeModelAndGenerateTest.Run r = cmd.equals("generate")
                    ? run(cmd, "--model", tiny.toString(), "--prompt-ids", "1", "--device", "gpu")
                    : run(cmd, "--device", "gpu");
            assertEquals(2, r.exit(), cmd + ": " + r.err());
            assertTrue(r.err().contains("unknown device 'gpu' (expected auto, cpu, cuda or cuda:N (N >= 0))"),
                    cmd + ": " + r.err());
        }
    }

    @Test
    void autoRunsOnTheCpuAndSaysWhyInOneLine() {
        assumeNoGpu();
        MakeModelAndGenerateTest.Run r = run("generate", "--model", tiny.toString(), "--prompt-ids", "1,5",
                "--max-tokens", "2", "--temperature", "0", "--json");
        assertEquals(0, r.exit(), r.err());
        String[] lines = r.err().strip().split("\n");
        assertEquals(1, lines.length, r.err());
        assertTrue(lines[0].startsWith("dsv2: device auto -> cpu: ") && lines[0].contains("libcuda.so.1"), lines[0]);
        assertTrue(r.out().startsWith("{\"prompt_ids\":[1,5]"), r.out());
    }

    @Test
    void cpuRunsQuietly() {
        MakeModelAndGenerateTest.Run r = run("generate", "--model", tiny.toString(), "--prompt-ids", "1,5",
                "--max-tokens", "2", "--temperature", "0", "--json", "--device", "cpu");
        assertEquals(0, r.exit(), r.err());
        assertFalse(r.err().contains("device"), r.err());
    }

    @Test
    void cudaWithoutAGpuIsOneErrorLineAndExitCodeOne() {
        assumeNoGpu();
        for (String[] args : new String[][]{
                {"generate", "--model", tiny.toString(), "--prompt-ids", "1", "--device", "cuda"},
                {"bench", "--model", tiny.toString(), "--device", "cuda:1"},
                {"selfcheck", "--device", "cuda"}}) {
            MakeModelAndGenerateTest.Run r = run(args);
            assertEquals(1, r.exit(), String.join(" ", args) + ": " + r.err());
            String device = args[args.length - 1].equals("cuda") ? "cuda:0" : "cuda:1";
            assertEquals("error: --device " + device + ": no usable CUDA GPU: libcuda.so.1 not found (no NVIDIA "
                    + "driver on this machine, or not on the library path). Use --device cpu (or auto, which falls "
                    + "back to the CPU).", r.err().strip(), String.join(" ", args));
            assertEquals("", r.out());
        }
    }

    @Test
    void selfcheckOnlyChecksCuda() {
        MakeModelAndGenerateTest.Run r = run("selfcheck", "--device", "cpu");
        assertEquals(2, r.exit(), r.err());
        assertTrue(r.err().contains("selfcheck checks the CUDA kernels: --device must be cuda or cuda:N, got cpu"),
                r.err());
    }
}
