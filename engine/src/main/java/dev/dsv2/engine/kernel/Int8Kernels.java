package dev.dsv2.engine.kernel;

import dev.dsv2.engine.tensor.TensorView;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;

import static dev.dsv2.engine.kernel.Lanes.F;
import static dev.dsv2.engine.kernel.Lanes.I;
import static dev.dsv2.engine.kernel.Lanes.L;
import static dev.dsv2.engine.kernel.Lanes.LE;
import static dev.dsv2.engine.kernel.Lanes.S;

/**
 * The kernels of int8 weights ({@link Weight#isInt8()}: codes {@code q[r, c]}, one BF16 scale {@code s[r, c / 32]}
 * per block of 32 values of a row). Activations stay float32; only the weight stream shrinks (1.0625 bytes per weight
 * against 2 for bf16), which is what a memory-bound decode step is paying for.
 *
 * <p><b>Pair-order widening.</b> As for bf16 ({@link MatVecKernels}), one load per pair block of {@code P = 2·L}
 * values: {@code P} codes read as {@code L} shorts and sign-extended to int lanes, lane i holds code {@code 2i} in its
 * low byte and {@code 2i + 1} in its high byte; {@code (v << 24) >> 24} is the even code and {@code v >> 8} the odd
 * one (arithmetic shifts), each converted to float. So the activations are taken in pair order, exactly as the bf16
 * kernels take them, and a pair block lies inside one scale block ({@code P} divides 32).
 *
 * <p>Per pair block and weight row: {@code t = q_even · x_even + q_odd · x_odd} (a vector), then
 * {@code acc += t · s} — the scale is applied once per block, not per value. On one Zen 5 core with the weight in
 * cache this runs at ~15-22 G weights/s against ~29 for the bf16 kernels: the widening is compute-bound, so int8 gains
 * where the bf16 stream is memory-bound (two threads sharing the memory bandwidth). The GEMM path widens rows with
 * {@link #widenRowPaired} to {@code q · s} in float32 (exactly {@link Weight#get}) and runs the float32 tiles.
 */
final class Int8Kernels {
    private static final int B = Weight.INT8_BLOCK;
    private static final int P = MatVecKernels.P;

    static {
        if (B % P != 0) {
            throw new ExceptionInInitializerError("int8 kernels need the pair block (" + P + " values) to divide the"
                    + " scale block (" + B + ")");
        }
    }

    private Int8Kernels() {
    }

    private static float scale(MemorySegment scales, long byteOff) {
        return Widen.bf16(scales.get(TensorView.LE_SHORT, byteOff));
    }

    /**
     * Rows {@code [r0, r1)} of int8 {@code w} times {@code m} pair-ordered activation rows, with the contract of
     * {@link MatVecKernels#rows}: pairs of activation rows one weight row at a time (each code vector feeds both),
     * then a last activation row four weight rows at a time, all four loads issued before any widening (written
     * load-then-widen per row, the four-row block measured 2x slower than two rows; loads first, it streams from
     * memory ~15% faster than two rows and computes as fast in cache).
     */
    static void rows(Weight w, int r0, int r1, float[] x, int xOff, int xStride, int m, float[] out, int outOff,
                     int outStride, boolean pairOut, float[] lanes) {
        int rows = w.rows();
        int b = 0;
        for (; b + 2 <= m; b += 2) {
            int oa = outOff + b * outStride;
            int ob = oa + outStride;
            for (int r = r0; r < r1; r++) {
                row1x2(w, r, x, xOff + b * xStride, xOff + (b + 1) * xStride, out,
                        oa + MatVecKernels.pos(r, rows, pairOut), ob + MatVecKernels.pos(r, rows, pairOut), lanes);
            }
        }
        if (b < m) {
            int xo = xOff + b * xStride;
            int o = outOff + b * outStride;
            int r = r0;
            for (; r + 4 <= r1; r += 4) {
                rows4x1(w, r, x, xo, out, o, rows, pairOut, lanes);
            }
            for (; r + 2 <= r1; r += 2) {
                rows2x1(w, r, x, xo, out, o + MatVecKernels.pos(r, rows, pairOut),
                        o + MatVecKernels.pos(r + 1, rows, pairOut), lanes);
            }
            if (r < r1) {
                out[o + MatVecKernels.pos(r, rows, pairOut)] = dotRow(w, r, x, xo, lanes);
            }
        }
    }

    /** One int8 row · one pair-ordered float32 vector. */
    private static float dotRow(Weight w, int r, float[] x, int xo, float[] lanes) {
        MemorySegment seg = w.data();
        MemorySegment sc = w.scales();
        int n = w.cols();
        long base = (long) r * n;
        long sBase = 2L * r * (n / B);
        FloatVector acc = FloatVector.zero(F);
        for (int c = 0; c < n; c += P) {
            IntVector v = (IntVector) ShortVector.fromMemorySegment(S, seg, base + c, LE)
                    .convertShape(VectorOperators.S2I, I, 0);
            FloatVector qe = (FloatVector) v.lanewise(VectorOperators.LSHL, 24)
                    .lanewise(VectorOperators.ASHR, 24).convert(VectorOperators.I2F, 0);
            FloatVector qo = (FloatVector) v.lanewise(VectorOperators.ASHR, 8).convert(VectorOperators.I2F, 0);
            FloatVector t = qo.fma(FloatVector.fromArray(F, x, xo + c + L), qe.mul(FloatVector.fromArray(F, x, xo + c)));
            acc = t.fma(FloatVector.broadcast(F, scale(sc, sBase + 2L * (c / B))), acc);
        }
        acc.intoArray(lanes, 0);
        return Lanes.sumStored(lanes);
    }

    /**
     * Four int8 rows from {@code r} times one activation row: the four code vectors and scales are loaded before any
     * is widened (four streams in flight, as the bf16 kernels keep).
     */
    private static void rows4x1(Weight w, int r, float[] x, int xo, float[] out, int o, int rows, boolean pairOut,
                                float[] lanes) {
        MemorySegment seg = w.data();
        MemorySegment sc = w.scales();
        int n = w.cols();
        long b0 = (long) r * n, b1 = b0 + n, b2 = b1 + n, b3 = b2 + n;
        long sRow = 2L * (n / B);
        long s0 = r * sRow, s1 = s0 + sRow, s2 = s1 + sRow, s3 = s2 + sRow;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (int c = 0; c < n; c += P) {
            FloatVector xe = FloatVector.fromArray(F, x, xo + c);
            FloatVector xd = FloatVector.fromArray(F, x, xo + c + L);
            long so = 2L * (c / B);
            IntVector v0 = (IntVector) ShortVector.fromMemorySegment(S, seg, b0 + c, LE)
                    .convertShape(VectorOperators.S2I, I, 0);
            IntVector v1 = (IntVector) ShortVector.fromMemorySegment(S, seg, b1 + c, LE)
                    .convertShape(VectorOperators.S2I, I, 0);
            IntVector v2 = (IntVector) ShortVector.fromMemorySegment(S, seg, b2 + c, LE)
                    .convertShape(VectorOperators.S2I, I, 0);
            IntVector v3 = (IntVector) ShortVector.fromMemorySegment(S, seg, b3 + c, LE)
                    .convertShape(VectorOperators.S2I, I, 0);
            float f0 = scale(sc, s0 + so);
            float f1 = scale(sc, s1 + so);
            float f2 = scale(sc, s2 + so);
            float f3 = scale(sc, s3 + so);
            a0 = ((FloatVector) v0.lanewise(VectorOperators.ASHR, 8).convert(VectorOperators.I2F, 0))
                    .fma(xd, ((FloatVector) v0.lanewise(VectorOperators.LSHL, 24).lanewise(VectorOperators.ASHR, 24)
                            .convert(VectorOperators.I2F, 0)).mul(xe)).fma(FloatVector.broadcast(F, f0), a0);
            a1 = ((FloatVector) v1.lanewise(VectorOperators.ASHR, 8).convert(VectorOperators.I2F, 0))
                    .fma(xd, ((FloatVector) v1.lanewise(VectorOperators.LSHL, 24).lanewise(VectorOperators.ASHR, 24)
                            .convert(VectorOperators.I2F, 0)).mul(xe)).fma(FloatVector.broadcast(F, f1), a1);
            a2 = ((FloatVector) v2.lanewise(VectorOperators.ASHR, 8).convert(VectorOperators.I2F, 0))
                    .fma(xd, ((FloatVector) v2.lanewise(VectorOperators.LSHL, 24).lanewise(VectorOperators.ASHR, 24)
                            .convert(VectorOperators.I2F, 0)).mul(xe)).fma(FloatVector.broadcast(F, f2), a2);
            a3 = ((FloatVector) v3.lanewise(VectorOperators.ASHR, 8).convert(VectorOperators.I2F, 0))
                    .fma(xd, ((FloatVector) v3.lanewise(VectorOperators.LSHL, 24).lanewise(VectorOperators.ASHR, 24)
                            .convert(VectorOperators.I2F, 0)).mul(xe)).fma(FloatVector.broadcast(F, f3), a3);
        }
        a0.intoArray(lanes, 0);
        out[o + MatVecKernels.pos(r, rows, pairOut)] = Lanes.sumStored(lanes);
        a1.intoArray(lanes, 0);
        out[o + MatVecKernels.pos(r + 1, rows, pairOut)] = Lanes.sumStored(lanes);
        a2.intoArray(lanes, 0);
        out[o + MatVecKernels.pos(r + 2, rows, pairOut)] = Lanes.sumStored(lanes);
        a3.intoArray(lanes, 0);
        out[o + MatVecKernels.pos(r + 3, rows, pairOut)] = Lanes.sumStored(lanes);
    }

    /** Two int8 rows from {@code r} times one activation row: two independent chains sharing the activation loads. */
    private static void rows2x1(Weight w, int r, float[] x, int xo, float[] out, int o0, int o1, float[] lanes) {
        MemorySegment seg = w.data();
        MemorySegment sc = w.scales();
        int n = w.cols();
        long b0 = (long) r * n;
        long b1 = b0 + n;
        long s0 = 2L * r * (n / B);
        long s1 = s0 + 2L * (n / B);
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0;
        for (int c = 0; c < n; c += P) {
            FloatVector xe = FloatVector.fromArray(F, x, xo + c);
            FloatVector xd = FloatVector.fromArray(F, x, xo + c + L);
            long so = 2L * (c / B);
            IntVector v = (IntVector) ShortVector.fromMemorySegment(S, seg, b0 + c, LE)
                    .convertShape(VectorOperators.S2I, I, 0);
            FloatVector t = ((FloatVector) v.lanewise(VectorOperators.ASHR, 8).convert(VectorOperators.I2F, 0))
                    .fma(xd, ((FloatVector) v.lanewise(VectorOperators.LSHL, 24).lanewise(VectorOperators.ASHR, 24)
                            .convert(VectorOperators.I2F, 0)).mul(xe));
            a0 = t.fma(FloatVector.broadcast(F, scale(sc, s0 + so)), a0);
            v = (IntVector) ShortVector.fromMemorySegment(S, seg, b1 + c, LE).convertShape(VectorOperators.S2I, I, 0);
            t = ((FloatVector) v.lanewise(VectorOperators.ASHR, 8).convert(VectorOperators.I2F, 0))
                    .fma(xd, ((FloatVector) v.lanewise(VectorOperators.LSHL, 24).lanewise(VectorOperators.ASHR, 24)
                            .convert(VectorOperators.I2F, 0)).mul(xe));
            a1 = t.fma(FloatVector.broadcast(F, scale(sc, s1 + so)), a1);
        }
        a0.intoArray(lanes, 0);
        out[o0] = Lanes.sumStored(lanes);
        a1.intoArray(lanes, 0);
        out[o1] = Lanes.sumStored(lanes);
    }

    /** One int8 row times two activation rows ({@code xa}, {@code xb}): each code vector feeds both. */
    private static void row1x2(Weight w, int r, float[] x, int xa, int xb, float[] out, int oa, int ob,
                               float[] lanes) {
        MemorySegment seg = w.data();
        MemorySegment sc = w.scales();
        int n = w.cols();
        long base = (long) r * n;
        long sBase = 2L * r * (n / B);
        FloatVector a = FloatVector.zero(F);
        FloatVector b = a;
        for (int c = 0; c < n; c += P) {
            IntVector v = (IntVector) ShortVector.fromMemorySegment(S, seg, base + c, LE)
                    .convertShape(VectorOperators.S2I, I, 0);
            FloatVector qe = (FloatVector) v.lanewise(VectorOperators.LSHL, 24)
                    .lanewise(VectorOperators.ASHR, 24).convert(VectorOperators.I2F, 0);
            FloatVector qo = (FloatVector) v.lanewise(VectorOperators.ASHR, 8).convert(VectorOperators.I2F, 0);
            FloatVector s = FloatVector.broadcast(F, scale(sc, sBase + 2L * (c / B)));
            a = qo.fma(FloatVector.fromArray(F, x, xa + c + L), qe.mul(FloatVector.fromArray(F, x, xa + c))).fma(s, a);
            b = qo.fma(FloatVector.fromArray(F, x, xb + c + L), qe.mul(FloatVector.fromArray(F, x, xb + c))).fma(s, b);
        }
        a.intoArray(lanes, 0);
        out[oa] = Lanes.sumStored(lanes);
        b.intoArray(lanes, 0);
        out[ob] = Lanes.sumStored(lanes);
    }

    /**
     * Dequantizes row {@code r} into {@code dst[dstOff, dstOff + cols)} in pair order, each value {@code q · s}
     * rounded once, as {@link Weight#get} computes it (the GEMM kernels' widened panel).
     */
    static void widenRowPaired(Weight w, int r, float[] dst, int dstOff) {
        MemorySegment seg = w.data();
        MemorySegment sc = w.scales();
        int n = w.cols();
        long base = (long) r * n;
        long sBase = 2L * r * (n / B);
        for (int c = 0; c < n; c += P) {
            IntVector v = (IntVector) ShortVector.fromMemorySegment(S, seg, base + c, LE)
                    .convertShape(VectorOperators.S2I, I, 0);
            float s = scale(sc, sBase + 2L * (c / B));
            ((FloatVector) v.lanewise(VectorOperators.LSHL, 24).lanewise(VectorOperators.ASHR, 24)
                    .convert(VectorOperators.I2F, 0)).mul(s).intoArray(dst, dstOff + c);
            ((FloatVector) v.lanewise(VectorOperators.ASHR, 8).convert(VectorOperators.I2F, 0)).mul(s)
                    .intoArray(dst, dstOff + c + L);
        }
    }

    /** Floats of scratch {@link #transposedColumns} needs. */
    static final int TRANSPOSED_SCRATCH = 4 * P;

    /**
     * Columns {@code [c0, c1)} (multiples of {@code P}) of the transposed product {@code out[b, c] = Σ_r x[b, r] ·
     * W[r, c]}, four activation rows at a time: per weight row, the code vector's even and odd columns are scaled
     * through the activation ({@code x[b, r] · s[r, block]}) and accumulated in pair order, then written back
     * interleaved through {@code scratch} ({@link #TRANSPOSED_SCRATCH} floats).
     */
    static void transposedColumns(Weight w, int c0, int c1, float[] x, int xOff, int xStride, float[] out,
                                  int outOff, int outStride, int batch, float[] scratch) {
        MemorySegment seg = w.data();
        MemorySegment sc = w.scales();
        int rows = w.rows();
        int n = w.cols();
        long sRow = 2L * (n / B);
        for (int b0 = 0; b0 < batch; b0 += 4) {
            int nb = Math.min(4, batch - b0);
            int x0 = xOff + b0 * xStride;
            int x1 = xOff + (b0 + Math.min(1, nb - 1)) * xStride;
            int x2 = xOff + (b0 + Math.min(2, nb - 1)) * xStride;
            int x3 = xOff + (b0 + Math.min(3, nb - 1)) * xStride;
            for (int c = c0; c < c1; c += P) {
                FloatVector e0 = FloatVector.zero(F), e1 = e0, e2 = e0, e3 = e0;
                FloatVector d0 = e0, d1 = e0, d2 = e0, d3 = e0;
                long so = 2L * (c / B);
                for (int r = 0; r < rows; r++) {
                    IntVector v = (IntVector) ShortVector.fromMemorySegment(S, seg, (long) r * n + c, LE)
                            .convertShape(VectorOperators.S2I, I, 0);
                    FloatVector qe = (FloatVector) v.lanewise(VectorOperators.LSHL, 24)
                            .lanewise(VectorOperators.ASHR, 24).convert(VectorOperators.I2F, 0);
                    FloatVector qo = (FloatVector) v.lanewise(VectorOperators.ASHR, 8)
                            .convert(VectorOperators.I2F, 0);
                    float s = scale(sc, r * sRow + so);
                    FloatVector xs = FloatVector.broadcast(F, x[x0 + r] * s);
                    e0 = qe.fma(xs, e0);
                    d0 = qo.fma(xs, d0);
                    xs = FloatVector.broadcast(F, x[x1 + r] * s);
                    e1 = qe.fma(xs, e1);
                    d1 = qo.fma(xs, d1);
                    xs = FloatVector.broadcast(F, x[x2 + r] * s);
                    e2 = qe.fma(xs, e2);
                    d2 = qo.fma(xs, d2);
                    xs = FloatVector.broadcast(F, x[x3 + r] * s);
                    e3 = qe.fma(xs, e3);
                    d3 = qo.fma(xs, d3);
                }
                e0.intoArray(scratch, 0);
                d0.intoArray(scratch, L);
                e1.intoArray(scratch, P);
                d1.intoArray(scratch, P + L);
                e2.intoArray(scratch, 2 * P);
                d2.intoArray(scratch, 2 * P + L);
                e3.intoArray(scratch, 3 * P);
                d3.intoArray(scratch, 3 * P + L);
                for (int j = 0; j < nb; j++) {
                    int o = outOff + (b0 + j) * outStride + c;
                    for (int i = 0; i < L; i++) {
                        out[o + 2 * i] = scratch[j * P + i];
                        out[o + 2 * i + 1] = scratch[j * P + L + i];
                    }
                }
            }
        }
    }
}
