package dev.dsv2.engine.kernel.cpu;

import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.kernel.Widen;
import dev.dsv2.engine.tensor.DType;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;

import static dev.dsv2.engine.kernel.cpu.Lanes.F;
import static dev.dsv2.engine.kernel.cpu.Lanes.L;

/**
 * {@link VectorBackend#matmulTransposed} for bf16 (and, element by element, other non-int8) weights:
 * {@code out[b, c] = Σ_r x[b, r] · W[r, c]}, the absorbed attention's {@code W_UKᵀ q} (int8 weights:
 * {@link Int8Kernels#transposedColumns}).
 */
final class TransposedKernels {
    private TransposedKernels() {
    }

    /** L bf16 weights at byte offset {@code off} of {@code seg}, widened to floats. */
    private static FloatVector bf16Vector(MemorySegment seg, long off) {
        return ((IntVector) ShortVector.fromMemorySegment(Lanes.S, seg, off, Lanes.LE)
                .convertShape(VectorOperators.S2I, Lanes.I, 0))
                .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /**
     * {@link #columns} for one activation row (decode's absorbed W_UK at batch 1): the weight rows in
     * order, each row's column vectors multiplied into the running sums in {@code out}, so that the matrix streams
     * sequentially (the four-row form reads a column strip of every row per pass, 1-2 cache lines per row, and repeats
     * the one row in all its chains). Each column still sums its rows in order from zero with the same operations: the
     * results are the four-row form's. Returns the first column not done (whole vectors of L only).
     */
    private static int singleRowColumns(MemorySegment seg, long rowBytes, int rows, float[] x, int xOff, int c0,
                                        int c1, float[] out, int outOff) {
        int end = c0 + (c1 - c0) / L * L;
        java.util.Arrays.fill(out, outOff + c0, outOff + end, 0f);
        long off = 2L * c0;
        for (int r = 0; r < rows; r++, off += rowBytes) {
            FloatVector xv = FloatVector.broadcast(F, x[xOff + r]);
            for (int c = c0; c < end; c += L) {
                int o = outOff + c;
                bf16Vector(seg, off + 2L * (c - c0)).fma(xv, FloatVector.fromArray(F, out, o)).intoArray(out, o);
            }
        }
        return end;
    }

    /** Columns {@code [c0, c1)} of the transposed product, four activation rows at a time. */
    static void columns(Weight w, int c0, int c1, float[] x, int xOff, int xStride, float[] out, int outOff,
                        int outStride, int batch) {
        int rows = w.rows();
        int cols = w.cols();
        if (w.dtype() != DType.BF16) {
            for (int b = 0; b < batch; b++) {
                for (int c = c0; c < c1; c++) {
                    float acc = 0f;
                    for (int r = 0; r < rows; r++) {
                        acc += x[xOff + b * xStride + r] * w.get(r, c);
                    }
                    out[outOff + b * outStride + c] = acc;
                }
            }
            return;
        }
        MemorySegment seg = w.data();
        long rowBytes = 2L * cols;
        for (int b0 = 0; b0 < batch; b0 += 4) {
            int nb = Math.min(4, batch - b0);
            int x0 = xOff + b0 * xStride;
            int x1 = xOff + (b0 + Math.min(1, nb - 1)) * xStride;
            int x2 = xOff + (b0 + Math.min(2, nb - 1)) * xStride;
            int x3 = xOff + (b0 + Math.min(3, nb - 1)) * xStride;
            int c = nb == 1 ? singleRowColumns(seg, rowBytes, rows, x, x0, c0, c1, out, outOff + b0 * outStride)
                    : c0;
            for (; c + L <= c1; c += L) {
                FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
                long off = 2L * c;
                for (int r = 0; r < rows; r++, off += rowBytes) {
                    FloatVector wv = bf16Vector(seg, off);
                    a0 = wv.fma(FloatVector.broadcast(F, x[x0 + r]), a0);
                    a1 = wv.fma(FloatVector.broadcast(F, x[x1 + r]), a1);
                    a2 = wv.fma(FloatVector.broadcast(F, x[x2 + r]), a2);
                    a3 = wv.fma(FloatVector.broadcast(F, x[x3 + r]), a3);
                }
                int o = outOff + b0 * outStride + c;
                a0.intoArray(out, o);
                if (nb > 1) {
                    a1.intoArray(out, o + outStride);
                }
                if (nb > 2) {
                    a2.intoArray(out, o + 2 * outStride);
                }
                if (nb > 3) {
                    a3.intoArray(out, o + 3 * outStride);
                }
            }
            for (; c < c1; c++) {
                for (int b = 0; b < nb; b++) {
                    float acc = 0f;
                    int xb = xOff + (b0 + b) * xStride;
                    for (int r = 0; r < rows; r++) {
                        acc += x[xb + r] * Widen.bf16(seg.get(Widen.SHORT_LE, r * rowBytes + 2L * c));
                    }
                    out[outOff + (b0 + b) * outStride + c] = acc;
                }
            }
        }
    }
}
