package dev.dsv2.engine.kernel.cpu;

import dev.dsv2.engine.kernel.CpuKernels;
import dev.dsv2.engine.kernel.Weight;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The native int8 kernel ({@link NativeInt8}, {@code dsv2.cpu-kernels=native}) against scalar oracles written here:
 * <ul>
 *   <li>activation quantization: the same bytes and scales as the definition (per block of 32: scale
 *       {@code d = max|x| / 127}, code {@code clamp(rint(x / d), -127, 127)}, all zero where d is 0), from natural and
 *       pair order, with a block of one subnormal value;</li>
 *   <li>the product on the same quantized activations: per block an exact integer dot product, scaled by the weight's
 *       and the activation's block scales, summed in double by the oracle. The kernel converts each 32-bit lane's
 *       partial sum (4 products) to float and accumulates in float, so the documented tolerance is
 *       {@code (blocks + 8) · 2^-23 · Σ_k |s_w s_x| Σ_j |q_w q_x|}: a float sum's rounding bound over at most
 *       {@code blocks / 2 + 6} additions per lane, with margin;</li>
 *   <li>the backend paths (matrix-vector chunks on the worker pool, grouped SwiGLU) stay within the activations'
 *       rounding of the float oracle.</li>
 * </ul>
 * Skipped (assumption) only where this CPU or platform cannot run the library; then the refusal is checked instead.
 */
class NativeInt8KernelTest {
    private static final int[] ROWS = {1, 3, 5, 13, 37};
    private static final int[] COLS = {32, 64, 96, 160, 1408, 2080, 5120};
    private static VectorBackend nativeBackend;

    @BeforeAll
    static void open() {
        if (NativeInt8.unavailableReason() == null) {
            nativeBackend = new VectorBackend(2, CpuKernels.NATIVE);
        }
    }

    @AfterAll
    static void close() {
        if (nativeBackend != null) {
            nativeBackend.close();
        }
    }

    private static void assumeAvailable() {
        assumeTrue(NativeInt8.unavailableReason() == null, "native kernels unavailable: "
                + NativeInt8.unavailableReason());
    }

    /** The quantization's definition, value by value, on a natural-order row. */
    static void quantizeOracle(float[] x, int xOff, int n, byte[] q, int qOff, float[] qs, int qsOff) {
        for (int k = 0; k < n / 32; k++) {
            float amax = 0f;
            for (int j = 0; j < 32; j++) {
                amax = Math.max(amax, Math.abs(x[xOff + 32 * k + j]));
            }
            float d = amax / 127f;
            for (int j = 0; j < 32; j++) {
                float t = d == 0f ? 0f : x[xOff + 32 * k + j] / d;
                q[qOff + 32 * k + j] = (byte) Math.max(-127, Math.min(127, Math.rint(t)));
            }
            qs[qsOff + k] = d;
        }
    }

    /** Row r of w times quantized row (q, qs) in double, and the tolerance bound, as {value, tolerance}. */
    static double[] productOracle(Weight w, int r, byte[] q, int qOff, float[] qs, int qsOff) {
        int n = w.cols();
        double sum = 0;
        double abs = 0;
        for (int k = 0; k < n / 32; k++) {
            long dot = 0;
            long absDot = 0;
            for (int j = 0; j < 32; j++) {
                int c = 32 * k + j;
                long p = (long) w.data().get(java.lang.foreign.ValueLayout.JAVA_BYTE, (long) r * n + c) * q[qOff + c];
                dot += p;
                absDot += Math.abs(p);
            }
            double s = (double) w.scale(r, k) * qs[qsOff + k];
            sum += dot * s;
            abs += absDot * Math.abs(s);
        }
        return new double[]{sum, (n / 32 + 8) * Math.scalb(1.0, -23) * abs};
    }

    private static float[] randomRows(int m, int n, long seed) {
        float[] x = KernelDifferentialTest.randomVector(m * n, seed);
        for (int i = 0; i < n && m > 0; i += 32 * 3) {
            Arrays.fill(x, i, Math.min(n, i + 32), 0f);  // an all-zero block: scale 0, codes 0
        }
        return x;
    }

    @Test
    void quantizationWritesTheDefinitionsCodesAndScalesFromNaturalAndPairOrder() {
        assumeAvailable();
        for (int n : COLS) {
            for (int m : new int[]{1, 4, 17}) {
                float[] x = randomRows(m, n, n + m);
                x[m * n - 1] = 1e-39f;
                byte[] expected = new byte[m * n];
                float[] expectedScales = new float[m * n / 32];
                for (int b = 0; b < m; b++) {
                    quantizeOracle(x, b * n, n, expected, b * n, expectedScales, b * n / 32);
                }
                byte[] q = new byte[m * n];
                float[] qs = new float[m * n / 32];
                NativeInt8.quantize(x, 0, n, m, n, false, q, 0, qs, 0);
                assertArrayEquals(expected, q, "codes, n " + n + ", m " + m);
                assertArrayEquals(expectedScales, qs, "scales, n " + n + ", m " + m);
                float[] paired = new float[m * n + 3];
                for (int b = 0; b < m; b++) {
                    MatVecKernels.toPairOrder(x, b * n, n, paired, 3 + b * n);
                }
                Arrays.fill(q, (byte) 0);
                NativeInt8.quantize(paired, 3, n, m, n, true, q, 0, qs, 0);
                assertArrayEquals(expected, q, "codes from pair order, n " + n + ", m " + m);
            }
        }
    }

    @Test
    void productMatchesTheIntegerOracleOnOddShapesOffsetsAndPairOrderedOutput() {
        assumeAvailable();
        for (int rows : ROWS) {
            for (int n : COLS) {
                Weight w = Int8KernelTest.randomInt8(rows, n, rows * 131L + n);
                // Every count of the unpacked 4-row groups, and batched decode's packed activations (16 to 66 rows)
                // on both sides of their bounds.
                int[] ms = n > 1500 ? new int[]{1, 5, 9, 13, 15, 16, 17, 66, 67}
                        : new int[]{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 31, 66, 67};
                for (int m : ms) {
                    float[] x = randomRows(m, n, m * 7L + n);
                    byte[] q = new byte[5 + m * n];
                    float[] qs = new float[2 + m * n / 32];
                    NativeInt8.quantize(x, 0, n, m, n, false, q, 5, qs, 2);
                    for (boolean pairOut : new boolean[]{false, true}) {
                        int r0 = rows > 4 ? 1 : 0;
                        int outOff = 7;
                        float[] out = new float[outOff + m * rows];
                        NativeInt8.rows(w, r0, rows, q, 5, qs, 2, m, out, outOff, rows, pairOut);
                        for (int b = 0; b < m; b++) {
                            for (int r = 0; r < rows; r++) {
                                int at = outOff + b * rows + MatVecKernels.pos(r, rows, pairOut);
                                if (r < r0) {
                                    assertEquals(0f, out[at], "row " + r + " is outside [r0, r1)");
                                    continue;
                                }
                                double[] e = productOracle(w, r, q, 5 + b * n, qs, 2 + b * n / 32);
                                assertEquals(e[0], out[at], e[1], "[" + rows + "x" + n + "] m " + m + " row " + r
                                        + " act " + b + (pairOut ? " pair-ordered" : ""));
                            }
                        }
                        assertEquals(0f, out[0], "nothing is written before outOff");
                    }
                }
            }
        }
    }

    @Test
    void backendMatVecRunsTheNativeKernelPerChunkOnQuantizedActivations() {
        assumeAvailable();
        for (int rows : new int[]{5, 37, 301}) {
            for (int n : new int[]{96, 2048}) {
                Weight w = Int8KernelTest.randomInt8(rows, n, rows + n);
                // Any batch: decode's few rows, batched decode (16) and beyond (70) all take the native kernel.
                for (int m : new int[]{1, 3, 15, 16, 70}) {
                    float[] x = randomRows(m, n, rows * m);
                    float[] out = new float[2 + m * rows];
                    nativeBackend.matmul(w, x, 0, n, out, 2, rows, m);
                    byte[] q = new byte[m * n];
                    float[] qs = new float[m * n / 32];
                    for (int b = 0; b < m; b++) {
                        quantizeOracle(x, b * n, n, q, b * n, qs, b * n / 32);
                        for (int r = 0; r < rows; r++) {
                            double[] e = productOracle(w, r, q, b * n, qs, b * n / 32);
                            assertEquals(e[0], out[2 + b * rows + r], e[1], "matmul [" + rows + "x" + n + "] m " + m);
                        }
                    }
                }
            }
        }
    }

    /**
     * The grouped SwiGLU with native groups (every group, a group of 20 rows too, takes the native kernel) stays
     * within 3% of each output row's largest magnitude of the float oracle: two activation roundings (x, then h) of
     * at most half a code step ({@code max|block| / 254}) each.
     */
    @Test
    void swiGluWithNativeGroupsStaysWithinTheActivationRoundingOfTheFloatOracle() {
        assumeAvailable();
        int d = 96;
        int inter = 160;
        Weight[][] experts = Int8KernelTest.threeExperts(d, inter);
        Int8KernelTest.assertSwiGluNearOracle(nativeBackend, experts, d, 0.03f);
    }

    @Test
    void nativeKernelsWhereTheyCannotRunAreRefusedNamingWhatIsMissing() {
        String reason = NativeInt8.unavailableReason();
        if (reason == null) {
            assertEquals("vector(" + Lanes.F.vectorBitSize() + "-bit, 2 threads, native int8/bf16 kernels)",
                    nativeBackend.name());
            assertEquals(CpuKernels.NATIVE, nativeBackend.cpuKernels());
            return;
        }
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> new VectorBackend(1, CpuKernels.NATIVE));
        assertEquals("native CPU kernels (dsv2.cpu-kernels=native) are unavailable: " + reason, e.getMessage());
    }
}
