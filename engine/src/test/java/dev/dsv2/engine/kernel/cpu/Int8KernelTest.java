package dev.dsv2.engine.kernel.cpu;

import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.kernel.ExpertGroups;
import dev.dsv2.engine.kernel.scalar.ScalarBackend;
import dev.dsv2.engine.tensor.Bf16;
import dev.dsv2.engine.tensor.DType;
import dev.dsv2.engine.tensor.TensorView;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The int8 weight path against the scalar oracle (which dequantizes value by value through {@link Weight#get}) on
 * awkward shapes — row counts that fill no quad or panel, one to many scale blocks per row, activation counts on both
 * sides of the matrix-vector / GEMM switch — and the quantizer's error bound.
 */
class Int8KernelTest {
    private static final int[] ROWS = {1, 3, 5, 6, 17, 64, 129};
    private static final int[] COLS = {32, 64, 96, 160, 512};
    private static final int[] BATCHES = {1, 2, 3, 4, 5, 9, 15, 16, 17, 33, 50};
    private static final VectorBackend VECTOR = new VectorBackend(2);
    private static final ScalarBackend SCALAR = new ScalarBackend();
    private static final ValueLayout.OfFloat LE_FLOAT =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @AfterAll
    static void close() {
        VECTOR.close();
    }

    /** A random bf16 weight with a different magnitude per row (so scales differ) quantized to int8. */
    static Weight randomInt8(int rows, int cols, long seed) {
        Weight w = KernelDifferentialTest.randomWeight(DType.BF16, rows, cols, seed);
        return Int8Quantizer.quantize(w, Arena.ofAuto(), SCALAR);
    }

    private static void assertClose(float[] expected, float[] actual, int from, int n, int cols, String what) {
        float tol = 1e-5f * (float) Math.sqrt(cols) * 4;
        for (int i = from; i < from + n; i++) {
            assertEquals(expected[i], actual[i], tol + Math.abs(expected[i]) * 1e-5f, what + " at " + i);
        }
    }

    @Test
    void matmulMatchesScalarOracleOnAwkwardShapes() {
        for (int rows : ROWS) {
            for (int cols : COLS) {
                Weight w = randomInt8(rows, cols, rows * 31L + cols);
                for (int batch : BATCHES) {
                    int xOff = 3;
                    int outOff = 5;
                    float[] x = KernelDifferentialTest.randomVector(xOff + batch * cols, batch);
                    float[] expected = new float[outOff + batch * rows];
                    float[] actual = new float[outOff + batch * rows];
                    SCALAR.matmul(w, x, xOff, expected, outOff, batch);
                    VECTOR.matmul(w, x, xOff, actual, outOff, batch);
                    assertClose(expected, actual, outOff, batch * rows, cols,
                            "int8 [" + rows + "x" + cols + "] batch " + batch);
                    assertEquals(0f, actual[0], "matmul must not write before outOff");
                }
            }
        }
    }

    /**
     * The matrix-vector results (decode: fewer than 16 activation rows) do not depend on the thread count, on how the
     * rows are split into chunks, nor on the batch an activation row is part of: bit for bit, each row's chain is the
     * same whichever register block (4 x 2, 4 x 1, one row) computes it.
     */
    @Test
    void matrixVectorIsIndependentOfThreadsAndBatch() {
        int cols = 2048;
        int maxBatch = 15;
        for (int rows : new int[] {203, 1408}) {
            Weight w = randomInt8(rows, cols, rows);
            float[] x = KernelDifferentialTest.randomVector(maxBatch * cols, 7);
            float[][] byThreads = new float[3][];
            for (int t = 1; t <= 3; t++) {
                try (VectorBackend be = new VectorBackend(t)) {
                    for (int batch = 1; batch <= maxBatch; batch++) {
                        float[] out = new float[batch * rows];
                        be.matmul(w, x, 0, out, 0, batch);
                        if (batch == maxBatch) {
                            byThreads[t - 1] = out;
                        }
                        for (int b = 0; b < batch; b++) {
                            float[] single = new float[rows];
                            be.matmul(w, x, b * cols, single, 0, 1);
                            for (int r = 0; r < rows; r++) {
                                assertEquals(Float.floatToRawIntBits(single[r]),
                                        Float.floatToRawIntBits(out[b * rows + r]), "int8 [" + rows + "x" + cols
                                                + "] row " + r + " of activation " + b + " in a batch of " + batch
                                                + " differs from the same activation alone (" + t + " threads)");
                            }
                        }
                    }
                }
            }
            assertArrayEquals(byThreads[0], byThreads[1], "1 thread against 2, [" + rows + "x" + cols + "]");
            assertArrayEquals(byThreads[0], byThreads[2], "1 thread against 3, [" + rows + "x" + cols + "]");
        }
    }

    @Test
    void transposedMatmulMatchesScalarOracle() {
        for (int rows : ROWS) {
            for (int cols : COLS) {
                Weight w = randomInt8(rows, cols, rows + cols * 7L);
                for (int batch : new int[]{1, 3, 4, 6}) {
                    float[] x = KernelDifferentialTest.randomVector(2 + batch * rows, rows);
                    float[] expected = new float[1 + batch * cols];
                    float[] actual = new float[1 + batch * cols];
                    actual[0] = 42f;
                    SCALAR.matmulTransposed(w, x, 2, rows, expected, 1, cols, batch);
                    VECTOR.matmulTransposed(w, x, 2, rows, actual, 1, cols, batch);
                    assertEquals(42f, actual[0]);
                    assertClose(expected, actual, 1, batch * cols, rows,
                            "int8 transposed [" + rows + "x" + cols + "] batch " + batch);
                }
            }
        }
    }

    /** The one-row form of the transposed product (decode's W_UK at batch 1) gives exactly the batched form's row. */
    @Test
    void oneRowTransposedMatmulIsExactlyTheBatchedFormsRow() {
        for (int rows : new int[]{1, 17, 128}) {
            for (int cols : new int[]{64, 96, 512}) {
                KernelDifferentialTest.assertOneRowTransposedExact(randomInt8(rows, cols, rows * 31L + cols));
            }
        }
    }

    @Test
    void rowSlicesCarryTheirScales() {
        Weight w = randomInt8(10, 96, 9);
        Weight slice = w.rowSlice(4, 3);
        for (int r = 0; r < 3; r++) {
            for (int c = 0; c < 96; c++) {
                assertEquals(w.get(4 + r, c), slice.get(r, c));
            }
        }
        float[] x = KernelDifferentialTest.randomVector(96, 1);
        float[] full = new float[10];
        float[] part = new float[3];
        VECTOR.matmul(w, x, 0, full, 0, 1);
        VECTOR.matmul(slice, x, 0, part, 0, 1);
        assertEquals(full[5], part[1]);
    }

    /** Three random int8 experts {gate, up, down} of hidden size d and intermediate size inter. */
    static Weight[][] threeExperts(int d, int inter) {
        Weight[][] experts = new Weight[3][];
        for (int e = 0; e < 3; e++) {
            experts[e] = new Weight[]{randomInt8(inter, d, 100 + e), randomInt8(inter, d, 200 + e),
                randomInt8(d, inter, 300 + e)};
        }
        return experts;
    }

    /** Expert e routed counts[e] of the rows (round robin over {@code rows}), with scale 0.5 + e. */
    static ExpertGroups groups(Weight[][] experts, int[] counts, int rows) {
        ExpertGroups g = new ExpertGroups();
        int next = 0;
        for (int e = 0; e < experts.length; e++) {
            if (counts[e] == 0) {
                continue;
            }
            g.addGroup(experts[e][0], experts[e][1], experts[e][2]);
            for (int j = 0; j < counts[e]; j++) {
                g.addRow((next++) % rows, 0.5f + e);
            }
        }
        return g;
    }

    /**
     * The grouped SwiGLU of {@code backend} against the scalar oracle, three routings of 24 rows over {@code experts}
     * (hidden size {@code d}; matrix-vector groups of 1-5 rows and a GEMM group of 15-20): every output within
     * {@code relative} of its row's largest magnitude.
     */
    static void assertSwiGluNearOracle(VectorBackend backend, Weight[][] experts, int d, float relative) {
        try (ScalarBackend scalar = new ScalarBackend()) {
            for (int[] counts : new int[][]{{1, 2, 1}, {3, 15, 5}, {20, 1, 0}}) {
                int rows = 24;
                float[] x = KernelDifferentialTest.randomVector(rows * d, 7);
                ExpertGroups g = groups(experts, counts, rows);
                float[] expected = new float[rows * d];
                float[] actual = new float[rows * d];
                scalar.swiGlu(g, x, 0, expected, 0);
                backend.swiGlu(g, x, 0, actual, 0);
                for (int r = 0; r < rows; r++) {
                    float max = 0f;
                    for (int c = 0; c < d; c++) {
                        max = Math.max(max, Math.abs(expected[r * d + c]));
                    }
                    for (int c = 0; c < d; c++) {
                        assertEquals(expected[r * d + c], actual[r * d + c], relative * max,
                                "SwiGLU " + Arrays.toString(counts) + " row " + r + " col " + c);
                    }
                }
            }
        }
    }

    @Test
    void expertSwiGluMatchesScalarOracleForDecodeAndGemmGroups() {
        int d = 160;
        int inter = 96;
        Weight[][] experts = threeExperts(d, inter);
        for (int[] counts : new int[][]{{1, 2, 1}, {3, 17, 5}, {20, 1, 0}}) {
            int rows = 24;
            float[] x = KernelDifferentialTest.randomVector(rows * d, 7);
            ExpertGroups g = groups(experts, counts, rows);
            float[] expected = new float[rows * d];
            float[] actual = new float[rows * d];
            SCALAR.swiGlu(g, x, 0, expected, 0);
            VECTOR.swiGlu(g, x, 0, actual, 0);
            assertClose(expected, actual, 0, rows * d, d, "int8 SwiGLU " + Arrays.toString(counts));
        }
    }

    /**
     * The vectorized, parallel quantizer writes the bytes of the scalar definition ({@code docs/int8.md}: the scale
     * rounded up to bf16, {@code clamp(rint(W / s), -127, 127)}), computed here value by value, on odd row counts that
     * split unevenly into tasks, one to 65 blocks per row, every float input dtype, and planted values: an all-zero
     * block with a -0.0, exact ties {@code (k + 1/2) · s} (round half to even), subnormals and large magnitudes.
     */
    @Test
    void quantizerWritesTheScalarDefinitionsBytes() {
        for (DType dtype : new DType[] {DType.BF16, DType.F16, DType.F32}) {
            for (int rows : new int[] {1, 3, 17, 33}) {
                for (int cols : new int[] {32, 96, 2080}) {
                    Weight w = KernelDifferentialTest.randomWeight(dtype, rows, cols, rows * 7L + cols);
                    if (dtype == DType.F32) {
                        plantSpecialValues(w);
                    }
                    Weight q = Int8Quantizer.quantize(w, Arena.ofAuto(), VECTOR);
                    int blocks = cols / 32;
                    for (int r = 0; r < rows; r++) {
                        for (int b = 0; b < blocks; b++) {
                            float amax = 0f;
                            for (int c = b * 32; c < b * 32 + 32; c++) {
                                amax = Math.max(amax, Math.abs(w.get(r, c)));
                            }
                            short sBits = Int8Quantizer.scaleBits(amax);
                            float s = Bf16.toFloat(sBits);
                            String at = dtype + " [" + rows + "x" + cols + "] row " + r + " block " + b;
                            assertEquals(sBits, q.scales().get(TensorView.LE_SHORT, 2L * (r * blocks + b)), at);
                            for (int c = b * 32; c < b * 32 + 32; c++) {
                                int code = s == 0f ? 0
                                        : Math.max(-127, Math.min(127, (int) Math.rint(w.get(r, c) / s)));
                                assertEquals(code, q.data().get(ValueLayout.JAVA_BYTE, (long) r * cols + c),
                                        at + " column " + c + " (" + w.get(r, c) + " / " + s + ")");
                            }
                        }
                    }
                }
            }
        }
    }

    /** Rewrites parts of an F32 weight with values where a quantizer could go wrong. */
    private static void plantSpecialValues(Weight w) {
        MemorySegment seg = w.data();
        int cols = w.cols();
        for (int r = 0; r < w.rows(); r++) {
            long row = (long) r * cols;
            int block = r % (cols / 32);
            long at = row + block * 32L;
            for (int i = 0; i < 32; i++) {
                float v = switch (r % 4) {
                    case 0 -> i == 5 ? -0f : 0f;
                    // amax 127 · 2^-7: the scale is exactly 2^-7 and every other value a tie (k + 1/2) · 2^-7
                    case 1 -> i == 0 ? 127f / 128 : ((i % 17) - 8 + 0.5f) / 128 * (i % 2 == 0 ? 1 : -1);
                    case 2 -> (i - 16) * 1e-40f;
                    default -> (i - 16) * 1.1e36f;
                };
                seg.set(LE_FLOAT, 4 * (at + i), v);
            }
        }
    }

    @Test
    void quantizationErrorIsWithinHalfAScalePerValue() {
        Weight w = KernelDifferentialTest.randomWeight(DType.BF16, 37, 128, 5);
        Weight q = Int8Quantizer.quantize(w, Arena.ofAuto(), VECTOR);
        for (int r = 0; r < 37; r++) {
            for (int b = 0; b < 4; b++) {
                float amax = 0f;
                for (int c = b * 32; c < b * 32 + 32; c++) {
                    amax = Math.max(amax, Math.abs(w.get(r, c)));
                }
                float s = q.scale(r, b);
                assertTrue(s >= amax / 127f && s <= amax / 127f * (1 + 1f / 128), "scale " + s + " for max " + amax);
                for (int c = b * 32; c < b * 32 + 32; c++) {
                    assertTrue(Math.abs(w.get(r, c) - q.get(r, c)) <= s / 2 * (1 + 1e-6f),
                            "[" + r + ", " + c + "] " + w.get(r, c) + " -> " + q.get(r, c) + " (scale " + s + ")");
                }
            }
        }
    }

    @Test
    void scalesRoundUpToBf16SoCodesStayInRange() {
        assertEquals(0, Int8Quantizer.scaleBits(0f));
        float amax = 1.2345f;
        float s = Bf16.toFloat(Int8Quantizer.scaleBits(amax));
        assertTrue(s >= amax / 127f && s < amax / 127f * 1.01f);
        assertEquals(1f, Bf16.toFloat(Int8Quantizer.scaleBits(127f)));
    }

    @Test
    void allZeroBlocksGetZeroScaleAndCodes() {
        MemorySegment seg = Arena.ofAuto().allocate(2 * 64);
        Weight zero = new Weight("z", DType.BF16, 2, 32, seg);
        Weight q = Int8Quantizer.quantize(zero, Arena.ofAuto(), SCALAR);
        assertEquals(0f, q.scale(1, 0));
        assertEquals(0f, q.get(1, 31));
    }

    @Test
    void badShapesAndValuesAreRefusedPrecisely() {
        Weight odd = KernelDifferentialTest.randomWeight(DType.BF16, 2, 33, 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Int8Quantizer.quantize(odd, Arena.ofAuto(), SCALAR));
        assertEquals("w: cannot quantize [2, 33] to int8: the column count must be a multiple of 32 (one scale per"
                + " block of 32 values of a row)", e.getMessage());
        MemorySegment seg = Arena.ofAuto().allocate(2 * 32);
        seg.set(dev.dsv2.engine.tensor.TensorView.LE_SHORT, 2 * 7, Bf16.fromFloat(Float.NaN));
        Weight nan = new Weight("n", DType.BF16, 1, 32, seg);
        e = assertThrows(IllegalArgumentException.class, () -> Int8Quantizer.quantize(nan, Arena.ofAuto(), SCALAR));
        assertEquals("n: value [0, 7] is NaN, cannot quantize to int8", e.getMessage());
        Weight inf = KernelDifferentialTest.randomWeight(DType.F32, 3, 96, 2);
        inf.data().set(LE_FLOAT, 4L * (2 * 96 + 70), Float.NEGATIVE_INFINITY);
        inf.data().set(LE_FLOAT, 4L * (2 * 96 + 75), Float.NaN);
        e = assertThrows(IllegalArgumentException.class, () -> Int8Quantizer.quantize(inf, Arena.ofAuto(), SCALAR));
        assertEquals("w: value [2, 70] is -Infinity, cannot quantize to int8", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Weight.int8("q", 2, 64, Arena.ofAuto().allocate(128),
                Arena.ofAuto().allocate(6)));
        assertEquals("q: int8 [2, 64] needs 8 bytes of BF16 scales [2, 2], got 6 bytes", e.getMessage());
    }
}
