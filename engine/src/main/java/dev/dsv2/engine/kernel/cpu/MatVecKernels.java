package dev.dsv2.engine.kernel.cpu;

import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.kernel.Widen;
import dev.dsv2.engine.tensor.DType;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;

import static dev.dsv2.engine.kernel.cpu.Lanes.F;
import static dev.dsv2.engine.kernel.cpu.Lanes.L;
import static dev.dsv2.engine.kernel.cpu.Lanes.LE;

/**
 * Weight rows times a few activation rows, in dot-product form: the weight streams from the mapped checkpoint once,
 * and each loaded weight vector feeds an FMA per activation row. This is the memory-bound path (decode: batch 1 to a
 * handful of rows per expert); many rows go through {@link GemmKernels} instead.
 *
 * <p><b>Pair order.</b> A 512-bit load of bf16 weights holds {@code P = 2·L} values; read as {@code L} int lanes, lane
 * i holds element {@code 2i} in its low half and {@code 2i + 1} in its high half, so a shift left by 16 gives the even
 * elements as float32 and a mask of the high half the odd ones — one cheap in-lane op each, no cross-lane widening.
 * The activation rows are therefore kept in pair order ({@link #toPairOrder}): in every full block of {@code P}
 * values, the even ones first, then the odd ones; a last partial block stays in natural order. Every method here
 * takes its activation rows in pair order, whatever the weight's dtype.
 *
 * <p>Output layout for every method: the product of weight row r and activation row b goes to
 * {@code out[outOff + b·outStride + r]} (r absolute), or to {@code out[outOff + b·outStride + pairPos(r, rows)]} when
 * the output is to be pair-ordered itself (it then feeds the next matrix-vector product directly).
 */
final class MatVecKernels {
    /** Values per pair-ordered block: one 512-bit (for L = 16) load of bf16. */
    static final int P = 2 * L;
    private static final VectorSpecies<Integer> I = Lanes.I;
    private static final int HIGH_HALF = 0xFFFF0000;

    private MatVecKernels() {
    }

    /**
     * Floats of the {@code rowScratch} that {@link #rows} needs for rows of {@code cols} values: a row widened in pair
     * order and the pair block it is reordered through (dtypes other than bf16), and room for one vector's lanes (the
     * bf16 kernels store each accumulator there and add its lanes with {@link Lanes#sumStored}, so no vector is passed
     * to a method that C2 might not inline — such a call boxes the vector and allocates); int8 weights need
     * {@link Int8Kernels#scratchFloats}.
     */
    static int scratchFloats(int cols) {
        return Math.max(Math.max(2 * cols, L), Int8Kernels.scratchFloats(cols));
    }

    /** Where value {@code c} of a row of {@code n} values sits in pair order. */
    static int pairPos(int c, int n) {
        int full = n / P * P;
        if (c >= full) {
            return c;
        }
        int i = c % P;
        return c - i + (i >> 1) + (i & 1) * L;
    }

    /** Copies {@code x[xOff, + n)} into {@code dst[dstOff, + n)} in pair order. */
    static void toPairOrder(float[] x, int xOff, int n, float[] dst, int dstOff) {
        int full = n / P * P;
        for (int c = 0; c < full; c += P) {
            int s = xOff + c;
            int d = dstOff + c;
            for (int i = 0; i < L; i++) {
                dst[d + i] = x[s + 2 * i];
                dst[d + L + i] = x[s + 2 * i + 1];
            }
        }
        System.arraycopy(x, xOff + full, dst, dstOff + full, n - full);
    }

    /**
     * Rows {@code [r0, r1)} of {@code w} times {@code m} activation rows {@code x[xOff + b·xStride, + cols)} (pair
     * order). {@code rowScratch} holds at least {@link #scratchFloats}{@code (w.cols())} floats. With
     * {@code pairOut} the results are stored pair-ordered over the {@code w.rows()} outputs.
     */
    static void rows(Weight w, int r0, int r1, float[] x, int xOff, int xStride, int m,
                     float[] out, int outOff, int outStride, boolean pairOut, float[] rowScratch) {
        int rows = w.rows();
        int n = w.cols();
        if (w.dtype() != DType.BF16) {
            if (w.isInt8()) {
                Int8Kernels.rows(w, r0, r1, x, xOff, xStride, m, out, outOff, outStride, pairOut, rowScratch);
                return;
            }
            for (int r = r0; r < r1; r++) {
                GemmKernels.widenRowPaired(w, r, rowScratch, 0, rowScratch, n);
                int pos = pos(r, rows, pairOut);
                for (int b = 0; b < m; b++) {
                    out[outOff + b * outStride + pos] = dot(rowScratch, 0, x, xOff + b * xStride, n);
                }
            }
            return;
        }
        MemorySegment seg = w.data();
        long rowBytes = 2L * n;
        int r = r0;
        for (; r + 4 <= r1; r += 4) {
            long base = r * rowBytes;
            int b = 0;
            for (; b + 3 <= m; b += 4) {
                int nb = Math.min(4, m - b);
                int xo = xOff + b * xStride;
                int o = outOff + b * outStride;
                rows4x4(seg, base, rowBytes, n, x, xo, xStride, nb, out, o, outStride, r, rows, pairOut,
                        rowScratch);
            }
            if (m - b == 2) {
                rows4x2(seg, base, rowBytes, n, x, xOff + b * xStride, xOff + (b + 1) * xStride, out,
                        outOff + b * outStride, outOff + (b + 1) * outStride, r, rows, pairOut, rowScratch);
            } else if (m - b == 1) {
                rows4x1(seg, base, rowBytes, n, x, xOff + b * xStride, out, outOff + b * outStride, r, rows,
                        pairOut, rowScratch);
            }
        }
        for (; r < r1; r++) {
            int pos = pos(r, rows, pairOut);
            for (int b = 0; b < m; b++) {
                out[outOff + b * outStride + pos] = dotBf16(seg, r * rowBytes, x, xOff + b * xStride, n, rowScratch);
            }
        }
    }

    static int pos(int r, int n, boolean pairOut) {
        return pairOut ? pairPos(r, n) : r;
    }

    /** Four bf16 rows (at {@code base}, {@code rowBytes} apart) times one activation row: 8 independent chains. */
    private static void rows4x1(MemorySegment seg, long base, long rowBytes, int n, float[] x, int xo, float[] out,
                                int o, int r, int rows, boolean pairOut, float[] lanes) {
        FloatVector e0 = FloatVector.zero(F), e1 = e0, e2 = e0, e3 = e0;
        FloatVector d0 = e0, d1 = e0, d2 = e0, d3 = e0;
        long b1 = base + rowBytes, b2 = base + 2 * rowBytes, b3 = base + 3 * rowBytes;
        int full = n / P * P;
        for (int c = 0; c < full; c += P) {
            FloatVector xe = FloatVector.fromArray(F, x, xo + c);
            FloatVector xd = FloatVector.fromArray(F, x, xo + c + L);
            long off = 2L * c;
            IntVector w = IntVector.fromMemorySegment(I, seg, base + off, LE);
            e0 = w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, e0);
            d0 = w.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().fma(xd, d0);
            w = IntVector.fromMemorySegment(I, seg, b1 + off, LE);
            e1 = w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, e1);
            d1 = w.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().fma(xd, d1);
            w = IntVector.fromMemorySegment(I, seg, b2 + off, LE);
            e2 = w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, e2);
            d2 = w.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().fma(xd, d2);
            w = IntVector.fromMemorySegment(I, seg, b3 + off, LE);
            e3 = w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, e3);
            d3 = w.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().fma(xd, d3);
        }
        e0.add(d0).intoArray(lanes, 0);
        out[o + pos(r, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, base, x, xo, full, n);
        e1.add(d1).intoArray(lanes, 0);
        out[o + pos(r + 1, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b1, x, xo, full, n);
        e2.add(d2).intoArray(lanes, 0);
        out[o + pos(r + 2, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b2, x, xo, full, n);
        e3.add(d3).intoArray(lanes, 0);
        out[o + pos(r + 3, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b3, x, xo, full, n);
    }

    /** Four bf16 rows times two activation rows ({@code xa}, {@code xb}): each widened weight vector feeds two FMAs. */
    private static void rows4x2(MemorySegment seg, long base, long rowBytes, int n, float[] x, int xa, int xb,
                                float[] out, int oa, int ob, int r, int rows, boolean pairOut, float[] lanes) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        FloatVector c0 = a0, c1 = a0, c2 = a0, c3 = a0;
        long b1 = base + rowBytes, b2 = base + 2 * rowBytes, b3 = base + 3 * rowBytes;
        int full = n / P * P;
        for (int c = 0; c < full; c += P) {
            FloatVector ae = FloatVector.fromArray(F, x, xa + c);
            FloatVector ad = FloatVector.fromArray(F, x, xa + c + L);
            FloatVector be = FloatVector.fromArray(F, x, xb + c);
            FloatVector bd = FloatVector.fromArray(F, x, xb + c + L);
            long off = 2L * c;
            IntVector w = IntVector.fromMemorySegment(I, seg, base + off, LE);
            FloatVector we = w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector wd = w.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats();
            a0 = wd.fma(ad, we.fma(ae, a0));
            c0 = wd.fma(bd, we.fma(be, c0));
            w = IntVector.fromMemorySegment(I, seg, b1 + off, LE);
            we = w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            wd = w.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats();
            a1 = wd.fma(ad, we.fma(ae, a1));
            c1 = wd.fma(bd, we.fma(be, c1));
            w = IntVector.fromMemorySegment(I, seg, b2 + off, LE);
            we = w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            wd = w.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats();
            a2 = wd.fma(ad, we.fma(ae, a2));
            c2 = wd.fma(bd, we.fma(be, c2));
            w = IntVector.fromMemorySegment(I, seg, b3 + off, LE);
            we = w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            wd = w.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats();
            a3 = wd.fma(ad, we.fma(ae, a3));
            c3 = wd.fma(bd, we.fma(be, c3));
        }
        a0.intoArray(lanes, 0);
        out[oa + pos(r, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, base, x, xa, full, n);
        a1.intoArray(lanes, 0);
        out[oa + pos(r + 1, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b1, x, xa, full, n);
        a2.intoArray(lanes, 0);
        out[oa + pos(r + 2, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b2, x, xa, full, n);
        a3.intoArray(lanes, 0);
        out[oa + pos(r + 3, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b3, x, xa, full, n);
        c0.intoArray(lanes, 0);
        out[ob + pos(r, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, base, x, xb, full, n);
        c1.intoArray(lanes, 0);
        out[ob + pos(r + 1, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b1, x, xb, full, n);
        c2.intoArray(lanes, 0);
        out[ob + pos(r + 2, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b2, x, xb, full, n);
        c3.intoArray(lanes, 0);
        out[ob + pos(r + 3, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b3, x, xb, full, n);
    }

    /**
     * Four bf16 rows (at {@code b0}, {@code rowBytes} apart) times {@code nb} (3 or 4) activation rows
     * {@code xStride} apart: each widened weight vector feeds four FMAs, each activation vector four (a missing
     * fourth row repeats the third and is not stored). Results go to {@code out[o + j·outStride + pos(r + i)]}.
     */
    private static void rows4x4(MemorySegment seg, long b0, long rowBytes, int n, float[] x, int x0, int xStride,
                                int nb, float[] out, int o, int outStride, int r, int rows, boolean pairOut,
                                float[] lanes) {
        FloatVector a00 = FloatVector.zero(F);
        FloatVector a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00, a20 = a00;
        FloatVector a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        int x1 = x0 + xStride;
        int x2 = x0 + 2 * xStride;
        int x3 = x0 + Math.min(3, nb - 1) * xStride;
        long b1 = b0 + rowBytes, b2 = b0 + 2 * rowBytes, b3 = b0 + 3 * rowBytes;
        int full = n / P * P;
        for (int c = 0; c < full; c += P) {
            long off = 2L * c;
            FloatVector xe0 = FloatVector.fromArray(F, x, x0 + c);
            FloatVector xd0 = FloatVector.fromArray(F, x, x0 + c + L);
            FloatVector xe1 = FloatVector.fromArray(F, x, x1 + c);
            FloatVector xd1 = FloatVector.fromArray(F, x, x1 + c + L);
            FloatVector xe2 = FloatVector.fromArray(F, x, x2 + c);
            FloatVector xd2 = FloatVector.fromArray(F, x, x2 + c + L);
            FloatVector xe3 = FloatVector.fromArray(F, x, x3 + c);
            FloatVector xd3 = FloatVector.fromArray(F, x, x3 + c + L);
            IntVector w0 = IntVector.fromMemorySegment(I, seg, b0 + off, LE);
            FloatVector we0 = w0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector wd0 = w0.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats();
            IntVector w1 = IntVector.fromMemorySegment(I, seg, b1 + off, LE);
            FloatVector we1 = w1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector wd1 = w1.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats();
            IntVector w2 = IntVector.fromMemorySegment(I, seg, b2 + off, LE);
            FloatVector we2 = w2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector wd2 = w2.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats();
            IntVector w3 = IntVector.fromMemorySegment(I, seg, b3 + off, LE);
            FloatVector we3 = w3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector wd3 = w3.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats();
            a00 = wd0.fma(xd0, we0.fma(xe0, a00));
            a01 = wd0.fma(xd1, we0.fma(xe1, a01));
            a02 = wd0.fma(xd2, we0.fma(xe2, a02));
            a03 = wd0.fma(xd3, we0.fma(xe3, a03));
            a10 = wd1.fma(xd0, we1.fma(xe0, a10));
            a11 = wd1.fma(xd1, we1.fma(xe1, a11));
            a12 = wd1.fma(xd2, we1.fma(xe2, a12));
            a13 = wd1.fma(xd3, we1.fma(xe3, a13));
            a20 = wd2.fma(xd0, we2.fma(xe0, a20));
            a21 = wd2.fma(xd1, we2.fma(xe1, a21));
            a22 = wd2.fma(xd2, we2.fma(xe2, a22));
            a23 = wd2.fma(xd3, we2.fma(xe3, a23));
            a30 = wd3.fma(xd0, we3.fma(xe0, a30));
            a31 = wd3.fma(xd1, we3.fma(xe1, a31));
            a32 = wd3.fma(xd2, we3.fma(xe2, a32));
            a33 = wd3.fma(xd3, we3.fma(xe3, a33));
        }
        a00.intoArray(lanes, 0);
        out[o + pos(r + 0, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b0, x, x0, full, n);
        a10.intoArray(lanes, 0);
        out[o + pos(r + 1, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b1, x, x0, full, n);
        a20.intoArray(lanes, 0);
        out[o + pos(r + 2, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b2, x, x0, full, n);
        a30.intoArray(lanes, 0);
        out[o + pos(r + 3, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b3, x, x0, full, n);
        a01.intoArray(lanes, 0);
        out[o + 1 * outStride + pos(r + 0, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b0, x, x1, full, n);
        a11.intoArray(lanes, 0);
        out[o + 1 * outStride + pos(r + 1, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b1, x, x1, full, n);
        a21.intoArray(lanes, 0);
        out[o + 1 * outStride + pos(r + 2, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b2, x, x1, full, n);
        a31.intoArray(lanes, 0);
        out[o + 1 * outStride + pos(r + 3, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b3, x, x1, full, n);
        a02.intoArray(lanes, 0);
        out[o + 2 * outStride + pos(r + 0, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b0, x, x2, full, n);
        a12.intoArray(lanes, 0);
        out[o + 2 * outStride + pos(r + 1, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b1, x, x2, full, n);
        a22.intoArray(lanes, 0);
        out[o + 2 * outStride + pos(r + 2, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b2, x, x2, full, n);
        a32.intoArray(lanes, 0);
        out[o + 2 * outStride + pos(r + 3, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b3, x, x2, full, n);
        if (nb < 4) {
            return;
        }
        a03.intoArray(lanes, 0);
        out[o + 3 * outStride + pos(r + 0, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b0, x, x3, full, n);
        a13.intoArray(lanes, 0);
        out[o + 3 * outStride + pos(r + 1, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b1, x, x3, full, n);
        a23.intoArray(lanes, 0);
        out[o + 3 * outStride + pos(r + 2, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b2, x, x3, full, n);
        a33.intoArray(lanes, 0);
        out[o + 3 * outStride + pos(r + 3, rows, pairOut)] = Lanes.sumStored(lanes) + tail(seg, b3, x, x3, full, n);
    }

    /** The scalar remainder {@code Σ_{c in [from, n)} W[row at rowBase, c] · x[xOff + c]} (0 when none). */
    private static float tail(MemorySegment seg, long rowBase, float[] x, int xOff, int from, int n) {
        float s = 0f;
        for (int c = from; c < n; c++) {
            s += Widen.bf16(seg.get(Widen.SHORT_LE, rowBase + 2L * c)) * x[xOff + c];
        }
        return s;
    }

    /** One bf16 row (at {@code base} bytes) · one pair-ordered float32 vector. */
    static float dotBf16(MemorySegment seg, long base, float[] x, int xOff, int n, float[] lanes) {
        FloatVector e = FloatVector.zero(F);
        FloatVector d = e;
        int full = n / P * P;
        for (int c = 0; c < full; c += P) {
            IntVector w = IntVector.fromMemorySegment(I, seg, base + 2L * c, LE);
            e = w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats()
                    .fma(FloatVector.fromArray(F, x, xOff + c), e);
            d = w.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats()
                    .fma(FloatVector.fromArray(F, x, xOff + c + L), d);
        }
        e.add(d).intoArray(lanes, 0);
        return Lanes.sumStored(lanes) + tail(seg, base, x, xOff, full, n);
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
