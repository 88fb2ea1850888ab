package dev.dsv2.engine.kernel.cpu;

import dev.dsv2.engine.kernel.Backends;
import dev.dsv2.engine.kernel.CpuKernels;
import dev.dsv2.engine.kernel.ExpertGroups;
import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.tensor.DType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * {@code dsv2.cpu-kernels=auto} (the default): int8 weights' products are the native kernel's (bit for bit the
 * {@code native} backend's) where it can run, else the Java kernels'; bf16 weights' products stay the Java kernels'
 * (bit for bit the {@code java} backend's), at every batch size (matrix-vector and GEMM paths) and in the grouped
 * SwiGLU. Where the native kernels cannot run, {@code auto} is the Java kernels for both formats.
 */
class AutoKernelsTest {
    private static final int[] BATCHES = {1, 2, 5, 16, 40};
    private static VectorBackend auto;
    private static VectorBackend javaKernels;
    private static VectorBackend nativeKernels;

    @BeforeAll
    static void open() {
        auto = new VectorBackend(2, CpuKernels.AUTO);
        javaKernels = new VectorBackend(2, CpuKernels.JAVA);
        nativeKernels = NativeInt8.unavailableReason() == null ? new VectorBackend(2, CpuKernels.NATIVE) : null;
    }

    @AfterAll
    static void close() {
        auto.close();
        javaKernels.close();
        if (nativeKernels != null) {
            nativeKernels.close();
        }
    }

    /** The backend whose int8 products auto must reproduce here. */
    private static VectorBackend int8Reference() {
        return nativeKernels != null ? nativeKernels : javaKernels;
    }

    private static float[] matmul(VectorBackend b, Weight w, float[] x, int batch) {
        float[] out = new float[batch * w.rows()];
        b.matmul(w, x, 0, out, 0, batch);
        return out;
    }

    @Test
    void int8ProductsAreTheNativeKernelsAndBf16ProductsTheJavaKernels() {
        Weight int8 = Int8KernelTest.randomInt8(67, 2080, 11);
        Weight bf16 = KernelDifferentialTest.randomWeight(DType.BF16, 67, 2080, 12);
        for (int batch : BATCHES) {
            float[] x = KernelDifferentialTest.randomVector(batch * 2080, 13 + batch);
            assertArrayEquals(matmul(int8Reference(), int8, x, batch), matmul(auto, int8, x, batch),
                    "int8 product, batch " + batch);
            assertArrayEquals(matmul(javaKernels, bf16, x, batch), matmul(auto, bf16, x, batch),
                    "bf16 product, batch " + batch);
        }
    }

    /** A product auto must tell apart from the other kernels: the references differ from each other here. */
    @Test
    void theKernelsItChoosesBetweenGiveDifferentNumbers() {
        Weight int8 = Int8KernelTest.randomInt8(16, 2080, 21);
        Weight bf16 = KernelDifferentialTest.randomWeight(DType.BF16, 16, 2080, 22);
        float[] x = KernelDifferentialTest.randomVector(3 * 2080, 23);
        if (nativeKernels != null) {
            assertFalse(Arrays.equals(matmul(javaKernels, int8, x, 3), matmul(nativeKernels, int8, x, 3)),
                    "int8: native rounds the activations to int8, java keeps them float");
            assertFalse(Arrays.equals(matmul(javaKernels, bf16, x, 3), matmul(nativeKernels, bf16, x, 3)),
                    "bf16: native rounds the activations to bf16, java keeps them float");
        }
    }

    @Test
    void groupedSwiGluFollowsTheSameRule() {
        int d = 160;
        int inter = 96;
        Weight[][] int8Experts = Int8KernelTest.threeExperts(d, inter);
        Weight[][] bf16Experts = new Weight[3][];
        for (int e = 0; e < 3; e++) {
            bf16Experts[e] = new Weight[]{KernelDifferentialTest.randomWeight(DType.BF16, inter, d, 400 + e),
                KernelDifferentialTest.randomWeight(DType.BF16, inter, d, 500 + e),
                KernelDifferentialTest.randomWeight(DType.BF16, d, inter, 600 + e)};
        }
        for (int[] counts : new int[][]{{1, 2, 1}, {3, 17, 5}, {20, 1, 0}}) {
            int rows = 24;
            float[] x = KernelDifferentialTest.randomVector(rows * d, 7);
            assertArrayEquals(swiGlu(int8Reference(), int8Experts, counts, x, d, rows),
                    swiGlu(auto, int8Experts, counts, x, d, rows), "int8 SwiGLU");
            assertArrayEquals(swiGlu(javaKernels, bf16Experts, counts, x, d, rows),
                    swiGlu(auto, bf16Experts, counts, x, d, rows), "bf16 SwiGLU");
        }
    }

    private static float[] swiGlu(VectorBackend b, Weight[][] experts, int[] counts, float[] x, int d, int rows) {
        ExpertGroups g = Int8KernelTest.groups(experts, counts, rows);
        float[] out = new float[rows * d];
        b.swiGlu(g, x, 0, out, 0);
        return out;
    }

    @Test
    void itsNameSaysWhichProductsRunNatively() {
        String prefix = "vector(" + Lanes.F.vectorBitSize() + "-bit, 2 threads";
        assertEquals(prefix + (nativeKernels != null ? ", kernels auto: int8 native, bf16 java)"
                : ", kernels auto: java)"), auto.name());
        assertEquals(prefix + ")", javaKernels.name());
        assertEquals(CpuKernels.AUTO, auto.cpuKernels());
        try (var scalar = Backends.create("scalar", 1, CpuKernels.AUTO)) {
            assertEquals("scalar", scalar.name(), "the oracle takes auto as the Java kernels");
        }
    }
}
