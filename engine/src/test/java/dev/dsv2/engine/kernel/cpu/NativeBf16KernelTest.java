package dev.dsv2.engine.kernel.cpu;

import dev.dsv2.engine.kernel.CpuKernels;
import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.tensor.Bf16;
import dev.dsv2.engine.tensor.DType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The native bf16 kernel ({@link NativeBf16}, {@code dsv2.cpu-kernels=native}) against oracles written here:
 * <ul>
 *   <li>activation rounding: bit for bit {@link Bf16#fromFloat} (round to nearest even) from natural and pair
 *       order, on row lengths that are not multiples of 32, except that a subnormal value becomes a zero of its sign
 *       (the instruction's documented treatment);</li>
 *   <li>the product on the same bf16 activations: the oracle sums the exact products of the bf16 weights and the
 *       rounded activations in double. The kernel's float lanes each take {@code ceil(cols / 32)} steps of two
 *       rounded additions, then 15 additions reduce the 16 lanes, so the documented tolerance is
 *       {@code (cols / 16 + 8) · 2^-23 · Σ|w x|}: the float-sum rounding bound with margin. Shapes: columns that are
 *       not multiples of 32 (masked tails, down to 1), rows not multiples of 4, 1 to 7 activation rows, a start row
 *       r0 &gt; 0, an output stride wider than the rows, pair-ordered output and accumulation into the output;</li>
 *   <li>the backend paths (matrix-vector chunks on the worker pool, lm_head-sized products, grouped SwiGLU) stay
 *       within the activations' rounding of the float oracle.</li>
 * </ul>
 * Skipped (assumption) only where this CPU or platform cannot run the library.
 */
class NativeBf16KernelTest {
    private static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED
            .withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int[] ROWS = {1, 3, 4, 5, 7, 13, 37};
    private static final int[] COLS = {1, 2, 17, 31, 32, 33, 63, 64, 100, 160, 1408, 2081};
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

    /** The rounding's definition: {@link Bf16#fromFloat}, a subnormal value flushed to a zero of its sign. */
    static short roundOracle(float x) {
        if (x != 0f && Math.abs(x) < Float.MIN_NORMAL) {
            return (short) (Float.floatToRawIntBits(x) >>> 16 & 0x8000);
        }
        return Bf16.fromFloat(x);
    }

    /** Row r of bf16 w times bf16 row {@code xb[xbOff, + cols)} in double, and the tolerance, as {value, tol}. */
    static double[] productOracle(Weight w, int r, short[] xb, int xbOff) {
        int n = w.cols();
        double sum = 0;
        double abs = 0;
        for (int c = 0; c < n; c++) {
            double p = (double) Bf16.toFloat(w.data().get(LE_SHORT, 2L * ((long) r * n + c)))
                    * Bf16.toFloat(xb[xbOff + c]);
            sum += p;
            abs += Math.abs(p);
        }
        return new double[]{sum, (n / 16.0 + 8) * Math.scalb(1.0, -23) * abs};
    }

    @Test
    void roundingIsRoundToNearestEvenFromNaturalAndPairOrder() {
        assumeAvailable();
        for (int n : COLS) {
            for (int m = 1; m <= 4; m++) {
                float[] x = KernelDifferentialTest.randomVector(m * n, n * 31L + m);
                // Ties (to even, both ways), a value that rounds up into the next binade, a subnormal, a negative zero.
                x[0] = Float.intBitsToFloat(0x3F808000);
                if (n > 1) {
                    x[1] = Float.intBitsToFloat(0x3F818000);
                }
                if (n > 2) {
                    x[2] = Float.intBitsToFloat(0x3FFFFFFF);
                }
                x[m * n - 1] = -1e-39f;
                if (n > 3) {
                    x[3] = -0f;
                }
                short[] expected = new short[m * n];
                for (int i = 0; i < m * n; i++) {
                    expected[i] = roundOracle(x[i]);
                }
                short[] q = new short[2 + m * n];
                NativeBf16.round(x, 0, n, m, n, false, q, 2);
                assertArrayEqualsFrom(expected, q, 2, "natural order, n " + n + ", m " + m);
                float[] paired = new float[3 + m * n];
                for (int b = 0; b < m; b++) {
                    MatVecKernels.toPairOrder(x, b * n, n, paired, 3 + b * n);
                }
                Arrays.fill(q, (short) 0);
                NativeBf16.round(paired, 3, n, m, n, true, q, 2);
                assertArrayEqualsFrom(expected, q, 2, "pair order, n " + n + ", m " + m);
                assertEquals(0, q[0] | q[1], "nothing is written before qOff");
            }
        }
    }

    private static void assertArrayEqualsFrom(short[] expected, short[] actual, int off, String what) {
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[off + i], what + ": value " + i);
        }
    }

    /**
     * 1 to 7 activation rows: the matrix-vector blocks, except 4 to 7 rows of 2048 columns or more (2081 here), which
     * take the GEMM form.
     */
    @Test
    void productMatchesTheOracleOnOddShapesStridesPairOrderAndAccumulation() {
        assumeAvailable();
        for (int rows : ROWS) {
            for (int n : COLS) {
                Weight w = KernelDifferentialTest.randomWeight(DType.BF16, rows, n, rows * 131L + n);
                for (int m = 1; m <= 7; m++) {
                    checkProduct(w, rows, rows > 4 ? 1 : 0, n, m);
                }
            }
        }
    }

    /**
     * From 8 activation rows the kernel runs its register-tiled GEMM form (4 weight rows x 6 activation rows, then
     * single rows and activation tails; columns in K blocks whose partial sums are added: of 512 columns with the
     * weight rows in groups of 32 that each run every block up to 48 activation rows, of 2048 in one group beyond):
     * rows that are not multiples of 4 (from row 1, and from row 0 so that whole quads take the pair-order fast path;
     * 37 and 70 rows span two and three groups), activation counts that are not multiples of 6 (8 to 70: both forms,
     * and beyond a 66-row chunk), column tails and column counts spanning K blocks (2081 and 4500: 4 and 8 blocks of
     * the small form, a last block up to a quarter longer), with the same strides, pair order and accumulation.
     */
    @Test
    void gemmFormMatchesTheOracleOnOddShapesStridesPairOrderAndAccumulation() {
        assumeAvailable();
        for (int rows : new int[]{5, 13, 37, 70}) {
            for (int n : new int[]{17, 33, 100, 2081, 4500}) {
                Weight w = KernelDifferentialTest.randomWeight(DType.BF16, rows, n, rows * 131L + n);
                for (int m : new int[]{8, 16, 23, 49, 70}) {
                    checkProduct(w, rows, rows > 4 ? 1 : 0, n, m);
                    // From row 0: whole 4-row quads inside the pair blocks take the two-store pair-order path.
                    checkProduct(w, rows, 0, n, m);
                }
            }
        }
    }

    /**
     * Weight rows that do not start on a 64-byte boundary (HF safetensors align their data to 8 bytes only) take their
     * columns before the first boundary as a masked head step, in the matrix-vector form and (up to 24 activation rows,
     * with the activations copied to the same offset) in the GEMM form: every offset 0-62 bytes in steps of 2 (the bf16
     * size), columns that are multiples of 32 (the head applies; 32 itself, shorter than head + a full step; 4608: nine
     * K blocks at 5 and 16 activation rows (5 rows of 2048 columns or more take the GEMM form), the first head columns
     * wider, so that the later ones start aligned and the last takes the tail; two blocks of 2048 + head and the rest
     * at 50 rows) and one that is not (no head), 1 to 25 activation rows.
     */
    @Test
    void misalignedWeightRowsTakeAHeadStepAndStillMatchTheOracle() {
        assumeAvailable();
        for (int offset = 0; offset < 64; offset += 2) {
            for (int n : new int[]{32, 96, 4608, 2081}) {
                int rows = n > 2048 ? 9 : 13;
                Weight w = weightAt(KernelDifferentialTest.randomWeight(DType.BF16, rows, n, offset * 7L + n), offset);
                for (int m : new int[]{1, 3, 5, 8, 16, 25, 50}) {
                    if (n > 2048 ? m != 5 && m != 16 && m != 50 : m == 50) {
                        continue;
                    }
                    checkProduct(w, rows, 1, n, m);
                }
            }
        }
    }

    /** The same bf16 weight with its data copied to {@code offset} bytes past a 64-byte boundary. */
    private static Weight weightAt(Weight w, int offset) {
        long bytes = (long) w.rows() * w.cols() * 2;
        MemorySegment seg = Arena.ofAuto().allocate(bytes + 64, 64).asSlice(offset, bytes);
        MemorySegment.copy(w.data(), 0, seg, 0, bytes);
        assertEquals(offset, seg.address() % 64, "weight data offset");
        return new Weight(w.name(), DType.BF16, w.rows(), w.cols(), seg);
    }

    /** {@link NativeBf16#rows} of rows [r0, rows) against {@link #productOracle}, every stride/pair/accumulate case. */
    private static void checkProduct(Weight w, int rows, int r0, int n, int m) {
        float[] x = KernelDifferentialTest.randomVector(m * n, m * 7L + n);
        short[] xb = new short[5 + m * n];
        NativeBf16.round(x, 0, n, m, n, false, xb, 5);
        int stride = rows + 3;
        for (boolean pairOut : new boolean[]{false, true}) {
            for (boolean accumulate : new boolean[]{false, true}) {
                int outOff = 7;
                float[] out = new float[outOff + m * stride];
                float[] before = KernelDifferentialTest.randomVector(out.length, rows + m);
                if (accumulate) {
                    System.arraycopy(before, 0, out, 0, out.length);
                }
                NativeBf16.rows(w, r0, rows, xb, 5, m, out, outOff, stride, pairOut, accumulate);
                String what = "[" + rows + "x" + n + "] m " + m + (pairOut ? " pair-ordered" : "")
                        + (accumulate ? " accumulated" : "");
                for (int b = 0; b < m; b++) {
                    for (int r = 0; r < stride; r++) {
                        int at = outOff + b * stride + (r < rows ? MatVecKernels.pos(r, rows, pairOut) : r);
                        float base = accumulate ? before[at] : 0f;
                        if (r < r0 || r >= rows) {
                            assertEquals(base, out[at], what + ": slot " + r + " is outside [r0, r1)");
                            continue;
                        }
                        double[] e = productOracle(w, r, xb, 5 + b * n);
                        assertEquals(base + e[0], out[at], e[1] + Math.ulp(base) + Math.ulp(
                                (float) (base + e[0])), what + " row " + r + " act " + b);
                    }
                }
                for (int i = 0; i < outOff; i++) {
                    assertEquals(accumulate ? before[i] : 0f, out[i], "nothing is written before outOff");
                }
            }
        }
    }

    @Test
    void backendMatVecRunsTheNativeKernelPerChunkOnRoundedActivations() {
        assumeAvailable();
        for (int rows : new int[]{5, 37, 301, 2053}) {
            for (int n : new int[]{100, 2048}) {
                Weight w = KernelDifferentialTest.randomWeight(DType.BF16, rows, n, rows + n);
                for (int m : new int[]{1, 3, 15, 16, 70}) {
                    float[] x = KernelDifferentialTest.randomVector(3 + m * (n + 1), rows * m);
                    float[] out = new float[2 + m * rows];
                    nativeBackend.matmul(w, x, 3, n + 1, out, 2, rows, m);
                    short[] xb = new short[m * n];
                    for (int b = 0; b < m; b++) {
                        for (int c = 0; c < n; c++) {
                            xb[b * n + c] = roundOracle(x[3 + b * (n + 1) + c]);
                        }
                        for (int r = 0; r < rows; r++) {
                            double[] e = productOracle(w, r, xb, b * n);
                            assertEquals(e[0], out[2 + b * rows + r], e[1], "matmul [" + rows + "x" + n + "] m " + m
                                    + " row " + r);
                        }
                    }
                }
            }
        }
    }

    /**
     * The grouped SwiGLU with native bf16 groups (a group of 20 rows too: every group takes the native kernel)
     * stays within 1% of each output row's largest magnitude of the float oracle: two activation roundings (x, then h)
     * of relative error at most 2^-9 each.
     */
    @Test
    void swiGluWithNativeGroupsStaysWithinTheActivationRoundingOfTheFloatOracle() {
        assumeAvailable();
        int d = 96;
        int inter = 161;
        Weight[][] experts = new Weight[3][];
        for (int e = 0; e < 3; e++) {
            experts[e] = new Weight[]{KernelDifferentialTest.randomWeight(DType.BF16, inter, d, 100 + e),
                KernelDifferentialTest.randomWeight(DType.BF16, inter, d, 200 + e),
                KernelDifferentialTest.randomWeight(DType.BF16, d, inter, 300 + e)};
        }
        Int8KernelTest.assertSwiGluNearOracle(nativeBackend, experts, d, 0.01f);
    }

    /** A CPU with VNNI but no BF16 is refused at start, naming avx512_bf16; one with every flag is not. */
    @Test
    void aCpuWithoutAvx512Bf16IsRefusedNamingIt() {
        Set<String> have = new HashSet<>(NativeInt8.CPU_FLAGS);
        assertNull(NativeInt8.missingFlags(have));
        have.remove("avx512_bf16");
        assertEquals("this CPU lacks avx512_bf16 (the native kernels need avx512f, avx512bw, avx512vl, avx512_vnni, "
                + "avx512_bf16)", NativeInt8.missingFlags(have));
    }
}
