package dev.dsv2.engine.cuda;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Where nvcc is installed (development and CI machines, no GPU needed), every kernel source compiles and assembles
 * to a cubin for sm_80 and sm_90, and ptxas accepts the committed compute_80 PTX for sm_90 (the JIT path).
 */
class KernelSourcesAssembleTest {
    private static final Path NVCC = Path.of("/usr/local/bin/nvcc");

    private static String run(List<String> cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "timed out: " + cmd);
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + "\n" + out);
        return out;
    }

    @Test
    void kernelSourcesAssembleForSm80AndSm90(@TempDir Path tmp) throws Exception {
        assumeTrue(Files.isExecutable(NVCC), "nvcc not installed");
        for (String m : KernelBinary.MODULES) {
            for (String arch : new String[]{"sm_80", "sm_90"}) {
                Path cubin = tmp.resolve(m + "." + arch + ".cubin");
                List<String> cmd = new ArrayList<>(List.of(NVCC.toString(), "-std=c++17", "-O3", "-arch=" + arch,
                        "-cubin", "-o", cubin.toString(), KernelArtefactsTest.SOURCES.resolve(m + ".cu").toString()));
                run(cmd);
                assertTrue(Files.size(cubin) > 1000, cubin.toString());
            }
        }
    }

    @Test
    void committedPtxAssemblesForSm90(@TempDir Path tmp) throws Exception {
        Path ptxas = NVCC.resolveSibling("ptxas");
        assumeTrue(Files.isExecutable(ptxas), "ptxas not installed");
        for (String m : KernelBinary.MODULES) {
            Path out = tmp.resolve(m + ".cubin");
            run(List.of(ptxas.toString(), "-arch=sm_90", "-o", out.toString(),
                    KernelArtefactsTest.ARTEFACTS.resolve(m + ".compute_80.ptx").toString()));
            assertTrue(Files.size(out) > 1000, out.toString());
        }
    }
}
