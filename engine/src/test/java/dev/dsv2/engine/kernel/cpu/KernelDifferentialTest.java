package dev.dsv2.engine.kernel.cpu;

import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.kernel.ExpertGroups;
import dev.dsv2.engine.kernel.scalar.ScalarBackend;
import dev.dsv2.engine.tensor.Bf16;
import dev.dsv2.engine.tensor.DType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every Vector API kernel against the scalar oracle, on awkward shapes: odd sizes, tails shorter than a vector,
 * weight rows that fill no whole register panel, activation counts on both sides of the matrix-vector / GEMM switch
 * and of the 16/32-row packed blocks, strided operands.
 */
class KernelDifferentialTest {
    private static final int[] ROWS = {1, 3, 17, 64, 129};
    private static final int[] COLS = {1, 7, 16, 33, 100, 513};
    private static final int[] BATCHES = {1, 2, 3, 4, 5, 9, 16, 17, 33, 50, 97};
    private static final VectorBackend VECTOR = new VectorBackend(2);
    private static final ScalarBackend SCALAR = new ScalarBackend();

    @AfterAll
    static void close() {
        VECTOR.close();
    }

    static Weight randomWeight(DType dtype, int rows, int cols, long seed) {
        MemorySegment seg = Arena.ofAuto().allocate((long) rows * cols * dtype.bytes(), 8);
        SplittableRandom rnd = new SplittableRandom(seed);
        for (long i = 0; i < (long) rows * cols; i++) {
            float v = (float) (rnd.nextDouble() * 2 - 1);
            switch (dtype) {
                case BF16 -> seg.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i * 2, Bf16.fromFloat(v));
                case F16 -> seg.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i * 2, Float.floatToFloat16(v));
                case F32 -> seg.set(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i * 4, v);
            }
        }
        return new Weight("w", dtype, rows, cols, seg);
    }

    static float[] randomVector(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return v;
    }

    private static void assertClose(float[] expected, float[] actual, int from, int n, int cols, String what) {
        float tol = 1e-5f * (float) Math.sqrt(cols) * 4;
        for (int i = from; i < from + n; i++) {
            assertEquals(expected[i], actual[i], tol + Math.abs(expected[i]) * 1e-5f, what + " at " + i);
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = "I8", mode = EnumSource.Mode.EXCLUDE)
    void matmulMatchesScalarOracleOnAwkwardShapes(DType dtype) {
        for (int rows : ROWS) {
            for (int cols : COLS) {
                Weight w = randomWeight(dtype, rows, cols, rows * 31L + cols);
                for (int batch : BATCHES) {
                    int xOff = 3;
                    int outOff = 5;
                    float[] x = randomVector(xOff + batch * cols, batch);
                    float[] expected = new float[outOff + batch * rows];
                    float[] actual = new float[outOff + batch * rows];
                    SCALAR.matmul(w, x, xOff, expected, outOff, batch);
                    VECTOR.matmul(w, x, xOff, actual, outOff, batch);
                    assertClose(expected, actual, outOff, batch * rows, cols,
                            dtype + " [" + rows + "x" + cols + "] batch " + batch);
                    assertEquals(0f, actual[0], "matmul must not write before outOff");
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = "I8", mode = EnumSource.Mode.EXCLUDE)
    void transposedMatmulMatchesScalarOracle(DType dtype) {
        for (int rows : ROWS) {
            for (int cols : COLS) {
                Weight w = randomWeight(dtype, rows, cols, rows + cols * 7L);
                float[] x = randomVector(2 + rows, rows);
                float[] expected = new float[1 + cols];
                float[] actual = new float[1 + cols];
                java.util.Arrays.fill(actual, 42f);
                SCALAR.matmulTransposed(w, x, 2, expected, 1);
                VECTOR.matmulTransposed(w, x, 2, actual, 1);
                assertEquals(42f, actual[0]);
                assertClose(expected, actual, 1, cols, rows, dtype + " transposed [" + rows + "x" + cols + "]");
            }
        }
    }

    @Test
    void rowSliceSeesExactlyItsRows() {
        Weight w = randomWeight(DType.BF16, 10, 33, 9);
        Weight slice = w.rowSlice(4, 3);
        for (int r = 0; r < 3; r++) {
            for (int c = 0; c < 33; c++) {
                assertEquals(w.get(4 + r, c), slice.get(r, c));
            }
        }
    }

    @Test
    void dotAxpyAndReadRowMatchOracle() {
        for (int n : new int[]{0, 1, 15, 16, 17, 250}) {
            float[] a = randomVector(n + 2, n);
            float[] b = randomVector(n + 3, n + 1);
            assertEquals(SCALAR.dot(a, 2, b, 3, n), VECTOR.dot(a, 2, b, 3, n), 1e-4f);
            float[] y1 = randomVector(n + 1, 5);
            float[] y2 = y1.clone();
            SCALAR.axpy(0.37f, a, 2, y1, 1, n);
            VECTOR.axpy(0.37f, a, 2, y2, 1, n);
            assertClose(y1, y2, 0, n + 1, 1, "axpy n=" + n);
        }
        for (DType dtype : new DType[]{DType.BF16, DType.F16, DType.F32}) {
            Weight w = randomWeight(dtype, 5, 37, 77);
            float[] expected = new float[40];
            float[] actual = new float[40];
            SCALAR.readRow(w, 3, expected, 2);
            VECTOR.readRow(w, 3, actual, 2);
            assertEquals(java.util.Arrays.toString(expected), java.util.Arrays.toString(actual), dtype.toString());
        }
    }

    @Test
    void stridedMatmulReadsAndWritesOnlyItsRows() {
        for (int batch : new int[]{1, 3, 7, 8, 20, 40}) {
            Weight w = randomWeight(DType.BF16, 53, 70, batch);
            int xStride = 75;
            int outStride = 61;
            float[] x = randomVector(2 + batch * xStride, batch + 1);
            float[] expected = new float[4 + batch * outStride];
            float[] actual = new float[4 + batch * outStride];
            java.util.Arrays.fill(expected, 9f);
            java.util.Arrays.fill(actual, 9f);
            SCALAR.matmul(w, x, 2, xStride, expected, 4, outStride, batch);
            VECTOR.matmul(w, x, 2, xStride, actual, 4, outStride, batch);
            assertClose(expected, actual, 0, expected.length, 70, "strided matmul batch " + batch);
            assertEquals(9f, actual[4 + 53], "the gap between output rows stays untouched");
        }
    }

    /**
     * Decode's absorbed W_UK at batch 1 takes a one-row form (four column vectors per pass); its results must be
     * exactly the batched form's for the same row, which the bit-exact bf16 path (GoldenLogitsTest) relies on.
     */
    @Test
    void oneRowTransposedMatmulIsExactlyTheBatchedFormsRow() {
        for (int rows : new int[]{1, 19, 128}) {
            for (int cols : new int[]{64, 100, 512}) {
                assertOneRowTransposedExact(randomWeight(DType.BF16, rows, cols, rows * 31L + cols));
            }
        }
    }

    /** {@code w}'s transposed product of one activation row equals, bit for bit, row 0 of a two-row call. */
    static void assertOneRowTransposedExact(Weight w) {
        int rows = w.rows();
        int cols = w.cols();
        float[] x = randomVector(2 * rows, rows + cols);
        float[] one = new float[cols];
        float[] two = new float[2 * cols];
        VECTOR.matmulTransposed(w, x, 0, rows, one, 0, cols, 1);
        VECTOR.matmulTransposed(w, x, 0, rows, two, 0, cols, 2);
        org.junit.jupiter.api.Assertions.assertArrayEquals(java.util.Arrays.copyOf(two, cols), one,
                w.dtype() + " [" + rows + "x" + cols + "]");
    }

    @Test
    void batchedTransposedMatmulMatchesOracle() {
        for (int batch : new int[]{1, 2, 5, 9}) {
            for (int cols : new int[]{7, 16, 45, 512}) {
                Weight w = randomWeight(DType.BF16, 19, cols, cols + batch);
                int xStride = 23;
                int outStride = cols + 3;
                float[] x = randomVector(1 + batch * xStride, batch);
                float[] expected = new float[batch * outStride];
                float[] actual = new float[batch * outStride];
                SCALAR.matmulTransposed(w, x, 1, xStride, expected, 0, outStride, batch);
                VECTOR.matmulTransposed(w, x, 1, xStride, actual, 0, outStride, batch);
                assertClose(expected, actual, 0, expected.length, 19, "transposed batch " + batch + " cols " + cols);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = "I8", mode = EnumSource.Mode.EXCLUDE)
    void groupedSwiGluMatchesOracleOnEveryPath(DType dtype) {
        assertSwiGluMatchesOracle(dtype, 37, 45, new int[]{1, 3, 8, 17, 40, 2}, new int[]{50, 13, 61, 100, 29, 7},
                11, "grouped SwiGLU");
    }

    /**
     * Decode-sized groups (a few rows each) whose intermediate size spans several gate/up work units and ends in a
     * partial pair block, and whose hidden size does too: the hidden activations travel between the units and the
     * down projection in pair order, which only a multi-unit group exercises.
     */
    @ParameterizedTest
    @EnumSource(value = DType.class, names = "I8", mode = EnumSource.Mode.EXCLUDE)
    void decodeSwiGluOverSeveralWorkUnitsMatchesOracle(DType dtype) {
        assertSwiGluMatchesOracle(dtype, 101, 9, new int[]{1, 2, 5, 4, 3}, new int[]{420, 64, 200, 33, 390}, 13,
                "decode SwiGLU");
    }

    /**
     * Random SwiGLU groups (group g: {@code groupRows[g]} random rows of {@code rows}, intermediate size
     * {@code inter[g]}, hidden size {@code d}) through both backends, at offsets into x and out.
     */
    private static void assertSwiGluMatchesOracle(DType dtype, int d, int rows, int[] groupRows, int[] inter,
                                                  long seed, String what) {
        ExpertGroups groups = new ExpertGroups();
        SplittableRandom rnd = new SplittableRandom(seed);
        int maxInter = 0;
        for (int g = 0; g < groupRows.length; g++) {
            long s = seed * 1000 + g;
            groups.addGroup(randomWeight(dtype, inter[g], d, s), randomWeight(dtype, inter[g], d, s + 100),
                    randomWeight(dtype, d, inter[g], s + 200));
            for (int j = 0; j < groupRows[g]; j++) {
                groups.addRow(rnd.nextInt(rows), (float) rnd.nextDouble());
            }
            maxInter = Math.max(maxInter, inter[g]);
        }
        float[] x = randomVector(3 + rows * d, seed + 1);
        float[] expected = randomVector(1 + rows * d, seed + 2);
        float[] actual = expected.clone();
        SCALAR.swiGlu(groups, x, 3, expected, 1);
        VECTOR.swiGlu(groups, x, 3, actual, 1);
        assertClose(expected, actual, 0, expected.length, maxInter, dtype + " " + what);
    }

    @Test
    void expertGroupsRejectMismatchedShapesNamingTheTensors() {
        ExpertGroups groups = new ExpertGroups();
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> groups.addGroup(randomWeight(DType.BF16, 8, 4, 1), randomWeight(DType.BF16, 8, 4, 2),
                        randomWeight(DType.BF16, 8, 4, 3)));
        assertEquals("SwiGLU expert shapes disagree: w [8, 4], w [8, 4], w [8, 4] (expected gate, up [I, D] and "
                + "down [D, I])", e.getMessage());
        org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> groups.addRow(0, 1f));
    }

    @Test
    void causalAttentionMatchesOracle() {
        int[][] shapes = { // nq, nk, causalOffset, dk, dv
                {1, 1, 0, 48, 32}, {5, 5, 0, 19, 7}, {9, 40, 31, 48, 32}, {33, 33, 0, 192, 128},
                {17, 100, 60, 192, 70}, {40, 70, 0, 20, 64}};
        for (int[] sh : shapes) {
            int nq = sh[0], nk = sh[1], off = sh[2], dk = sh[3], dv = sh[4];
            int qStride = dk + 5;
            int kStride = nk + 3;
            int vStride = dv + 2;
            int outStride = dv + 1;
            float[] q = randomVector(nq * qStride, nq);
            float[] kT = randomVector(dk * kStride, nk);
            float[] v = randomVector(nk * vStride, dv);
            float[] expected = new float[nq * outStride];
            float[] actual = new float[nq * outStride];
            SCALAR.causalAttention(q, 0, qStride, nq, dk, kT, 0, kStride, nk, v, 1, vStride, dv, off, 0.3f,
                    expected, 0, outStride);
            VECTOR.causalAttention(q, 0, qStride, nq, dk, kT, 0, kStride, nk, v, 1, vStride, dv, off, 0.3f,
                    actual, 0, outStride);
            assertClose(expected, actual, 0, expected.length, dk, "causal attention " + java.util.Arrays.toString(sh));
        }
    }

    @Test
    void pagedAttentionMatchesOracle() {
        int[][] shapes = {{1, 1, 576, 512}, {3, 5, 37, 30}, {8, 70, 576, 512}, {16, 33, 100, 64}}; // nq, n, dk, dv
        for (int[] sh : shapes) {
            int nq = sh[0], n = sh[1], dk = sh[2], dv = sh[3];
            int entry = dk + 3;
            float[] cache = randomVector((n + 4) * entry, n);
            int[] offs = new int[n + 2];
            for (int t = 0; t < n; t++) {
                offs[2 + t] = ((t * 7 + 3) % (n + 4)) * entry; // scattered, like blocks of a paged cache
            }
            int qStride = dk + 1;
            float[] q = randomVector(nq * qStride, dk);
            float[] expected = new float[nq * dv + 2];
            float[] actual = new float[nq * dv + 2];
            SCALAR.pagedAttention(q, 0, qStride, nq, dk, cache, offs, 2, n, dv, 0.05f, expected, 2, dv);
            VECTOR.pagedAttention(q, 0, qStride, nq, dk, cache, offs, 2, n, dv, 0.05f, actual, 2, dv);
            assertClose(expected, actual, 0, expected.length, dk, "paged attention " + java.util.Arrays.toString(sh));
        }
    }

    @Test
    void softmaxAndRmsNormMatchOracle() {
        for (int n : new int[]{1, 15, 16, 17, 64, 1000}) {
            float[] a = randomVector(n + 2, n);
            for (int i = 0; i < a.length; i++) {
                a[i] *= 20;
            }
            float[] b = a.clone();
            SCALAR.softmax(a, 1, n);
            VECTOR.softmax(b, 1, n);
            assertClose(a, b, 0, a.length, 1, "softmax n=" + n);
            float[] w = randomVector(n, n + 7);
            float[] x = randomVector(n + 3, n + 9);
            float[] e = new float[n + 1];
            float[] g = new float[n + 1];
            SCALAR.rmsNorm(x, 3, w, 1e-6f, e, 1);
            VECTOR.rmsNorm(x, 3, w, 1e-6f, g, 1);
            assertClose(e, g, 0, e.length, 1, "rmsNorm n=" + n);
        }
    }

    @Test
    void vectorExpAndSiluAreWithinAFewUlpsOfTheScalarFunctions() {
        int n = 1000;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = -87f + 175.5f * i / n;
        }
        float[] e = x.clone();
        Lanes.expShifted(e, 0, n, 0f);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double ref = Math.exp(x[i]);
            worst = Math.max(worst, Math.abs(e[i] - ref) / ref);
        }
        assertTrue(worst < 2.5e-7, "exp: max relative error " + worst);
        float[] scores = randomVector(77, 3);
        double expectedSum = 0;
        for (float v : scores) {
            expectedSum += Math.exp(v - 0.5);
        }
        assertEquals(expectedSum, Lanes.expShifted(scores, 0, 77, 0.5f), expectedSum * 1e-6, "the returned sum");
        float[] far = {-1000f, -1000f};
        Lanes.expShifted(far, 0, 2, 0f);
        assertTrue(far[0] >= 0 && far[0] < 1e-37, "far below the range exp is ~0, got " + far[0]);

        float[] g = new float[n];
        float[] u = new float[n];
        for (int i = 0; i < n; i++) {
            g[i] = -100f + 200f * i / n;
            u[i] = 1f + i % 7;
        }
        float[] out = new float[n];
        Lanes.siluMul(g, 0, u, 0, out, 0, n);
        for (int i = 0; i < n; i++) {
            float ref = ScalarBackend.silu(g[i]) * u[i];
            assertEquals(ref, out[i], Math.abs(ref) * 3e-7 + 1e-30, "silu(" + g[i] + ") * " + u[i]);
        }
    }

    @Test
    void nestedParallelForRunsInlineOnTheCallingThread() {
        int[] hits = new int[64];
        VECTOR.parallelFor(8, 1, (a, b) -> {
            for (int i = a; i < b; i++) {
                int outer = i;
                Thread t = Thread.currentThread();
                VECTOR.parallelFor(8, 1, (c, d) -> {
                    assertEquals(t, Thread.currentThread(), "inner tasks run inline");
                    for (int j = c; j < d; j++) {
                        hits[outer * 8 + j]++;
                    }
                });
            }
        });
        for (int i = 0; i < hits.length; i++) {
            assertEquals(1, hits[i], "index " + i);
        }
    }

    @Test
    void anIdleWorkerPoolParksWithoutTimedWakeUpsAndUsesNoCpu() throws InterruptedException {
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        try (WorkerPool pool = new WorkerPool(3)) {
            float[] sink = new float[1000];
            pool.parallelFor(1000, 1, (from, to) -> {
                for (int i = from; i < to; i++) {
                    sink[i] += i;
                }
            });
            Thread.sleep(100); // well past the 50 µs spin
            long[] before = pool.workerThreads().stream().mapToLong(t -> mx.getThreadCpuTime(t.threadId())).toArray();
            Thread.sleep(300);
            for (int i = 0; i < before.length; i++) {
                Thread t = pool.workerThreads().get(i);
                assertEquals(Thread.State.WAITING, t.getState(), t.getName() + " parks untimed while idle");
                long used = mx.getThreadCpuTime(t.threadId()) - before[i];
                assertTrue(used < 5_000_000, t.getName() + " used " + used + " ns of CPU in 300 ms idle");
            }
            // ...and wakes for the next call.
            int[] hits = new int[64];
            pool.parallelFor(64, 1, (from, to) -> {
                for (int i = from; i < to; i++) {
                    hits[i]++;
                }
            });
            for (int h : hits) {
                assertEquals(1, h);
            }
        }
    }

    @Test
    void workerPoolCoversEveryIndexOnceAndPropagatesFailures() {
        try (WorkerPool pool = new WorkerPool(3)) {
            for (int n : new int[]{1, 5, 64, 1000}) {
                int[] hits = new int[n];
                pool.parallelFor(n, 4, (from, to) -> {
                    for (int i = from; i < to; i++) {
                        hits[i]++;
                    }
                });
                for (int i = 0; i < n; i++) {
                    assertEquals(1, hits[i], "index " + i + " of " + n);
                }
            }
            IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                    () -> pool.parallelFor(100, 1, (from, to) -> {
                        if (from <= 50 && 50 < to) {
                            throw new IllegalStateException("boom at 50");
                        }
                    }));
            assertEquals("boom at 50", e.getMessage());
        }
    }
}
