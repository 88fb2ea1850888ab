package dev.dsv2.engine.kernel;

import dev.dsv2.engine.tensor.DType;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;

import static dev.dsv2.engine.kernel.Lanes.F;
import static dev.dsv2.engine.kernel.Lanes.L;

/**
 * Weight rows times a few activation rows, in dot-product form: the weight streams from the mapped checkpoint once
 * (bf16 widened in registers), four weight rows against up to four activation rows per pass, so each loaded weight
 * vector feeds four FMAs. This is the memory-bound path (decode: batch 1 to a handful of rows per expert); many rows
 * go through {@link GemmKernels} instead.
 *
 * <p>Output layout for every method: the product of weight row r and activation row b goes to
 * {@code out[outOff + b·outStride + r]} (r absolute).
 */
final class MatVecKernels {
    private MatVecKernels() {
    }

    /**
     * Rows {@code [r0, r1)} of {@code w} times {@code m} activation rows {@code x[xOff + b·xStride, + cols)}.
     * {@code rowScratch} ({@code >= w.cols()} floats) is used for dtypes other than bf16.
     */
    static void rows(Weight w, int r0, int r1, float[] x, int xOff, int xStride, int m,
                     float[] out, int outOff, int outStride, float[] rowScratch) {
        int cols = w.cols();
        if (w.dtype() != DType.BF16) {
            for (int r = r0; r < r1; r++) {
                GemmKernels.widenRow(w, r, rowScratch, 0);
                for (int b = 0; b < m; b++) {
                    out[outOff + b * outStride + r] = dot(rowScratch, 0, x, xOff + b * xStride, cols);
                }
            }
            return;
        }
        MemorySegment seg = w.data();
        long rowBytes = 2L * cols;
        if (m == 1) {
            // One weight row after the other: a single sequential stream per thread is what DRAM serves fastest.
            for (int r = r0; r < r1; r++) {
                out[outOff + r] = dotBf16(seg, r * rowBytes, x, xOff, cols);
            }
            return;
        }
        int r = r0;
        for (; r + 4 <= r1; r += 4) {
            long base = r * rowBytes;
            for (int b = 0; b < m; b += 4) {
                rows4x4(seg, base, rowBytes, cols, x, xOff + b * xStride, xStride, Math.min(4, m - b), out,
                        outOff + b * outStride + r, outStride);
            }
        }
        for (; r < r1; r++) {
            for (int b = 0; b < m; b++) {
                out[outOff + b * outStride + r] = dotBf16(seg, r * rowBytes, x, xOff + b * xStride, cols);
            }
        }
    }

    /**
     * Four bf16 rows (at {@code base}, {@code rowBytes} apart) times {@code nb} (1 to 4) activation rows: each loaded
     * weight vector feeds four FMAs (missing activation rows repeat the last one and are not stored).
     */
    private static void rows4x4(MemorySegment seg, long base, long rowBytes, int n, float[] x, int xOff, int xStride,
                                int nb, float[] out, int o, int outStride) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        int x0 = xOff;
        int x1 = xOff + Math.min(1, nb - 1) * xStride;
        int x2 = xOff + Math.min(2, nb - 1) * xStride;
        int x3 = xOff + Math.min(3, nb - 1) * xStride;
        int c = 0;
        for (; c + L <= n; c += L) {
            long off = base + 2L * c;
            FloatVector w0 = Lanes.bf16(seg, off);
            FloatVector w1 = Lanes.bf16(seg, off + rowBytes);
            FloatVector w2 = Lanes.bf16(seg, off + 2 * rowBytes);
            FloatVector w3 = Lanes.bf16(seg, off + 3 * rowBytes);
            FloatVector v = FloatVector.fromArray(F, x, x0 + c);
            a00 = w0.fma(v, a00);
            a10 = w1.fma(v, a10);
            a20 = w2.fma(v, a20);
            a30 = w3.fma(v, a30);
            v = FloatVector.fromArray(F, x, x1 + c);
            a01 = w0.fma(v, a01);
            a11 = w1.fma(v, a11);
            a21 = w2.fma(v, a21);
            a31 = w3.fma(v, a31);
            v = FloatVector.fromArray(F, x, x2 + c);
            a02 = w0.fma(v, a02);
            a12 = w1.fma(v, a12);
            a22 = w2.fma(v, a22);
            a32 = w3.fma(v, a32);
            v = FloatVector.fromArray(F, x, x3 + c);
            a03 = w0.fma(v, a03);
            a13 = w1.fma(v, a13);
            a23 = w2.fma(v, a23);
            a33 = w3.fma(v, a33);
        }
        long r1 = base + rowBytes, r2 = base + 2 * rowBytes, r3 = base + 3 * rowBytes;
        int ob = o;
        out[ob] = Lanes.sum(a00) + tail(seg, base, x, x0, c, n);
        out[ob + 1] = Lanes.sum(a10) + tail(seg, r1, x, x0, c, n);
        out[ob + 2] = Lanes.sum(a20) + tail(seg, r2, x, x0, c, n);
        out[ob + 3] = Lanes.sum(a30) + tail(seg, r3, x, x0, c, n);
        if (nb < 2) {
            return;
        }
        ob += outStride;
        out[ob] = Lanes.sum(a01) + tail(seg, base, x, x1, c, n);
        out[ob + 1] = Lanes.sum(a11) + tail(seg, r1, x, x1, c, n);
        out[ob + 2] = Lanes.sum(a21) + tail(seg, r2, x, x1, c, n);
        out[ob + 3] = Lanes.sum(a31) + tail(seg, r3, x, x1, c, n);
        if (nb < 3) {
            return;
        }
        ob += outStride;
        out[ob] = Lanes.sum(a02) + tail(seg, base, x, x2, c, n);
        out[ob + 1] = Lanes.sum(a12) + tail(seg, r1, x, x2, c, n);
        out[ob + 2] = Lanes.sum(a22) + tail(seg, r2, x, x2, c, n);
        out[ob + 3] = Lanes.sum(a32) + tail(seg, r3, x, x2, c, n);
        if (nb < 4) {
            return;
        }
        ob += outStride;
        out[ob] = Lanes.sum(a03) + tail(seg, base, x, x3, c, n);
        out[ob + 1] = Lanes.sum(a13) + tail(seg, r1, x, x3, c, n);
        out[ob + 2] = Lanes.sum(a23) + tail(seg, r2, x, x3, c, n);
        out[ob + 3] = Lanes.sum(a33) + tail(seg, r3, x, x3, c, n);
    }

    /** The scalar remainder {@code Σ_{c in [from, n)} W[row at rowBase, c] · x[xOff + c]} (0 when none). */
    private static float tail(MemorySegment seg, long rowBase, float[] x, int xOff, int from, int n) {
        float s = 0f;
        for (int c = from; c < n; c++) {
            s += Widen.bf16(seg.get(Widen.SHORT_LE, rowBase + 2L * c)) * x[xOff + c];
        }
        return s;
    }

    /** One bf16 row (at {@code base} bytes) · one float32 vector. */
    static float dotBf16(MemorySegment seg, long base, float[] x, int xOff, int n) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        int c = 0;
        for (; c + 2 * L <= n; c += 2 * L) {
            a0 = Lanes.bf16(seg, base + c * 2L).fma(FloatVector.fromArray(F, x, xOff + c), a0);
            a1 = Lanes.bf16(seg, base + (c + L) * 2L).fma(FloatVector.fromArray(F, x, xOff + c + L), a1);
        }
        for (; c + L <= n; c += L) {
            a0 = Lanes.bf16(seg, base + c * 2L).fma(FloatVector.fromArray(F, x, xOff + c), a0);
        }
        float acc = Lanes.sum(a0.add(a1));
        for (; c < n; c++) {
            acc += Widen.bf16(seg.get(Widen.SHORT_LE, base + c * 2L)) * x[xOff + c];
        }
        return acc;
    }

    static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        int i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
            acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
            acc1 = FloatVector.fromArray(F, a, aOff + i + L).fma(FloatVector.fromArray(F, b, bOff + i + L), acc1);
        }
        for (; i + L <= n; i += L) {
            acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
        }
        float s = Lanes.sum(acc0.add(acc1));
        for (; i < n; i++) {
            s += a[aOff + i] * b[bOff + i];
        }
        return s;
    }

    static void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        FloatVector av = FloatVector.broadcast(F, alpha);
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector.fromArray(F, x, xOff + i).fma(av, FloatVector.fromArray(F, y, yOff + i)).intoArray(y, yOff + i);
        }
        for (; i < n; i++) {
            y[yOff + i] += alpha * x[xOff + i];
        }
    }
}
