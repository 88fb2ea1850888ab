package dev.dsv2.engine.kernel;

import dev.dsv2.engine.tensor.DType;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * CPU kernels on the Java Vector API, widest species of the machine, all cores through a {@link WorkerPool}.
 * Weights are read straight from the mapped checkpoint: bf16 is widened in registers (shift left by 16),
 * f32 loaded as is, f16 widened through a per-thread row buffer. Accumulation is float32.
 */
public final class VectorBackend implements Backend {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    static final int L = F.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Rows of a weight per parallel chunk: enough work to amortise a chunk hand-off. */
    private static final int ROW_GRAIN = 16;

    private final WorkerPool pool;
    private final ThreadLocal<float[]> rowScratch = ThreadLocal.withInitial(() -> new float[0]);

    public VectorBackend(int threads) {
        this.pool = new WorkerPool(threads);
    }

    @Override
    public String name() {
        return "vector(" + F.vectorBitSize() + "-bit, " + pool.threads() + " threads)";
    }

    public WorkerPool pool() {
        return pool;
    }

    static FloatVector loadBf16(MemorySegment seg, long byteOffset) {
        return ((IntVector) ShortVector.fromMemorySegment(S, seg, byteOffset, LE)
                .convertShape(VectorOperators.S2I, I, 0))
                .lanewise(VectorOperators.LSHL, 16)
                .reinterpretAsFloats();
    }

    @Override
    public void matmul(Weight w, float[] x, int xOff, float[] out, int outOff, int batch) {
        int rows = w.rows();
        int grain = Math.max(1, ROW_GRAIN / Math.max(1, batch / 4));
        pool.parallelFor(rows, grain, (from, to) -> matmulRows(w, x, xOff, out, outOff, batch, from, to));
    }

    private void matmulRows(Weight w, float[] x, int xOff, float[] out, int outOff, int batch, int from, int to) {
        int cols = w.cols();
        int rows = w.rows();
        if (w.dtype() == DType.BF16 && batch <= 2) {
            long rowBytes = (long) cols * 2;
            for (int r = from; r < to; r++) {
                long base = r * rowBytes;
                for (int b = 0; b < batch; b++) {
                    out[outOff + b * rows + r] = dotBf16(w.data(), base, x, xOff + b * cols, cols);
                }
            }
            return;
        }
        float[] row = scratch(cols);
        for (int r = from; r < to; r++) {
            widenRow(w, r, row);
            int b = 0;
            for (; b + 4 <= batch; b += 4) {
                dot4(row, x, xOff + b * cols, cols, out, outOff + b * rows + r, rows);
            }
            for (; b < batch; b++) {
                out[outOff + b * rows + r] = dot(row, 0, x, xOff + b * cols, cols);
            }
        }
    }

    private float[] scratch(int n) {
        float[] s = rowScratch.get();
        if (s.length < n) {
            s = new float[n];
            rowScratch.set(s);
        }
        return s;
    }

    /** Widens row {@code r} of {@code w} into {@code dst[0, cols)}. */
    static void widenRow(Weight w, int r, float[] dst) {
        int cols = w.cols();
        MemorySegment seg = w.data();
        switch (w.dtype()) {
            case BF16 -> {
                long base = (long) r * cols * 2;
                int c = 0;
                for (; c + L <= cols; c += L) {
                    loadBf16(seg, base + c * 2L).intoArray(dst, c);
                }
                for (; c < cols; c++) {
                    dst[c] = Widen.bf16(seg.get(Widen.SHORT_LE, base + c * 2L));
                }
            }
            case F32 -> {
                long base = (long) r * cols * 4;
                int c = 0;
                for (; c + L <= cols; c += L) {
                    FloatVector.fromMemorySegment(F, seg, base + c * 4L, LE).intoArray(dst, c);
                }
                for (; c < cols; c++) {
                    dst[c] = seg.get(Widen.FLOAT_LE, base + c * 4L);
                }
            }
            case F16 -> Widen.readRange(DType.F16, seg, (long) r * cols, dst, 0, cols);
        }
    }

    /** bf16 weight row (at {@code base} bytes) · float32 vector. */
    static float dotBf16(MemorySegment seg, long base, float[] x, int xOff, int n) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        int c = 0;
        for (; c + 2 * L <= n; c += 2 * L) {
            a0 = loadBf16(seg, base + c * 2L).fma(FloatVector.fromArray(F, x, xOff + c), a0);
            a1 = loadBf16(seg, base + (c + L) * 2L).fma(FloatVector.fromArray(F, x, xOff + c + L), a1);
        }
        for (; c + L <= n; c += L) {
            a0 = loadBf16(seg, base + c * 2L).fma(FloatVector.fromArray(F, x, xOff + c), a0);
        }
        float acc = sum(a0.add(a1));
        for (; c < n; c++) {
            acc += Widen.bf16(seg.get(Widen.SHORT_LE, base + c * 2L)) * x[xOff + c];
        }
        return acc;
    }

    /** Four dot products of one widened row with four consecutive activation rows; results strided by {@code stride}. */
    private static void dot4(float[] row, float[] x, int xOff, int n, float[] out, int outOff, int stride) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        int c = 0;
        for (; c + L <= n; c += L) {
            FloatVector wv = FloatVector.fromArray(F, row, c);
            a0 = wv.fma(FloatVector.fromArray(F, x, xOff + c), a0);
            a1 = wv.fma(FloatVector.fromArray(F, x, xOff + n + c), a1);
            a2 = wv.fma(FloatVector.fromArray(F, x, xOff + 2 * n + c), a2);
            a3 = wv.fma(FloatVector.fromArray(F, x, xOff + 3 * n + c), a3);
        }
        float s0 = sum(a0);
        float s1 = sum(a1);
        float s2 = sum(a2);
        float s3 = sum(a3);
        for (; c < n; c++) {
            float wc = row[c];
            s0 += wc * x[xOff + c];
            s1 += wc * x[xOff + n + c];
            s2 += wc * x[xOff + 2 * n + c];
            s3 += wc * x[xOff + 3 * n + c];
        }
        out[outOff] = s0;
        out[outOff + stride] = s1;
        out[outOff + 2 * stride] = s2;
        out[outOff + 3 * stride] = s3;
    }

    /**
     * The sum of a vector's lanes in lane order. {@code reduceLanes(ADD)} leaves the order unspecified, and it differs
     * between the interpreter and C2, which made results change in the last bits once the JIT kicked in; a fixed
     * order keeps every run bit-reproducible.
     */
    static float sum(FloatVector v) {
        float s = 0f;
        for (int i = 0; i < L; i++) {
            s += v.lane(i);
        }
        return s;
    }

    @Override
    public void matmulTransposed(Weight w, float[] x, int xOff, float[] out, int outOff) {
        int cols = w.cols();
        java.util.Arrays.fill(out, outOff, outOff + cols, 0f);
        float[] row = scratch(cols);
        for (int r = 0; r < w.rows(); r++) {
            widenRow(w, r, row);
            axpy(x[xOff + r], row, 0, out, outOff, cols);
        }
    }

    @Override
    public float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (; i + L <= n; i += L) {
            acc = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc);
        }
        float s = sum(acc);
        for (; i < n; i++) {
            s += a[aOff + i] * b[bOff + i];
        }
        return s;
    }

    @Override
    public void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        FloatVector av = FloatVector.broadcast(F, alpha);
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector.fromArray(F, x, xOff + i).fma(av, FloatVector.fromArray(F, y, yOff + i)).intoArray(y, yOff + i);
        }
        for (; i < n; i++) {
            y[yOff + i] += alpha * x[xOff + i];
        }
    }

    @Override
    public void readRow(Weight w, int row, float[] out, int outOff) {
        if (outOff == 0) {
            widenRow(w, row, out);
        } else {
            float[] tmp = scratch(w.cols());
            widenRow(w, row, tmp);
            System.arraycopy(tmp, 0, out, outOff, w.cols());
        }
    }

    @Override
    public void parallelFor(int n, int grain, WorkerPool.RangeTask task) {
        pool.parallelFor(n, grain, task);
    }

    @Override
    public void close() {
        pool.close();
    }
}
