package dev.dsv2.engine.kernel;

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

/** Every Vector API kernel against the scalar oracle, on awkward shapes (odd sizes, tails shorter than a vector). */
class KernelDifferentialTest {
    private static final int[] ROWS = {1, 3, 17, 64, 129};
    private static final int[] COLS = {1, 7, 16, 33, 100, 513};
    private static final int[] BATCHES = {1, 2, 3, 4, 5, 9};
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
    @EnumSource(DType.class)
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
    @EnumSource(DType.class)
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
        for (DType dtype : DType.values()) {
            Weight w = randomWeight(dtype, 5, 37, 77);
            float[] expected = new float[40];
            float[] actual = new float[40];
            SCALAR.readRow(w, 3, expected, 2);
            VECTOR.readRow(w, 3, actual, 2);
            assertEquals(java.util.Arrays.toString(expected), java.util.Arrays.toString(actual), dtype.toString());
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
