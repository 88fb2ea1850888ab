package dev.dsv2.engine.kernel.cpu;

import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.kernel.Widen;
import dev.dsv2.engine.tensor.TensorView;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;

import static dev.dsv2.engine.kernel.cpu.Lanes.F;
import static dev.dsv2.engine.kernel.cpu.Lanes.I;
import static dev.dsv2.engine.kernel.cpu.Lanes.L;
import static dev.dsv2.engine.kernel.cpu.Lanes.LE;
import static dev.dsv2.engine.kernel.cpu.Lanes.S;

/**
 * The kernels of int8 weights ({@link Weight#isInt8()}: codes {@code q[r, c]}, one BF16 scale {@code s[r, c / 32]}
 * per block of 32 values of a row). Activations stay float32; only the weight stream shrinks (1.0625 bytes per weight
 * against 2 for bf16), which is what a memory-bound decode step is paying for.
 *
 * <p><b>Matrix-vector (decode).</b> One load of {@code L} codes (128 bits for 512-bit vectors) widens straight to
 * {@code L} float lanes ({@code convertShape(B2F)}: a sign-extension and an int-to-float conversion), so the
 * activations are taken in natural order: {@link #rows} copies each pair-ordered activation row into natural order
 * once per call (two permutes per 32 values). Per block of 32 and weight row: {@code t = q[0, 16) · x[0, 16) + 0},
 * {@code t = q[16, 32) · x[16, 32) + t}, then {@code acc = t · s + acc} — the scale once per block. Against the
 * former pair-order widening (32 codes read as shorts, three shifts to split even and odd codes) this is two vector
 * operations fewer per block and row. In cache the kernel computes ~0.63x the bf16 kernel's weights per second (at
 * 0.53x its bytes per weight); {@code docs/int8.md} has the measured ratios.
 *
 * <p><b>Pair-order widening</b> (GEMM panel, transposed product). As for bf16 ({@link MatVecKernels}), one load per
 * pair block of {@code P = 2·L} values: {@code P} codes read as {@code L} shorts and sign-extended to int lanes, lane
 * i holds code {@code 2i} in its low byte and {@code 2i + 1} in its high byte; {@code (v << 24) >> 24} is the even
 * code and {@code v >> 8} the odd one (arithmetic shifts), each converted to float. The GEMM path widens rows with
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

    /** Bytes of codes per load: {@code L} codes, widened straight to {@code L} float lanes. */
    private static final VectorSpecies<Byte> CODES =
            VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, F.vectorBitSize() / 4)));
    /**
     * Whether one load of {@code L} codes widens to one float vector ({@code vpmovsxbd} + {@code vcvtdq2ps} for 512-bit
     * vectors): true for 256- and 512-bit vectors. 128-bit vectors (L = 4) have no 32-bit byte species and take the
     * widened-row path.
     */
    static final boolean NATURAL = CODES.length() == L;
    /** Lane sources (in the two halves of a pair block) of the first and second natural-order vectors. */
    private static final FloatVector LOW_HALF = naturalIndex(0);
    private static final FloatVector HIGH_HALF = naturalIndex(L / 2);

    private static FloatVector naturalIndex(int first) {
        float[] idx = new float[L];
        for (int j = 0; j < L; j++) {
            idx[j] = first + j / 2 + (j % 2) * L;
        }
        return FloatVector.fromArray(F, idx, 0);
    }

    /** Floats of scratch {@link #rows} needs for rows of {@code cols} values: a vector's lanes, four activations. */
    static int scratchFloats(int cols) {
        return L + 4 * cols;
    }

    /** Scale number {@code i} of {@code scales} (row-major {@code [rows, cols / 32]}) as a float. */
    private static float scale(MemorySegment scales, long i) {
        return Widen.bf16(scales.get(TensorView.LE_SHORT, 2 * i));
    }

    /**
     * Copies pair-ordered {@code x[xo, + n)} ({@code n} a multiple of {@code P}) into {@code dst[d, + n)} in natural
     * order: two two-source permutes per pair block.
     */
    static void toNatural(float[] x, int xo, int n, float[] dst, int d) {
        for (int c = 0; c < n; c += P) {
            FloatVector e = FloatVector.fromArray(F, x, xo + c);
            FloatVector o = FloatVector.fromArray(F, x, xo + c + L);
            LOW_HALF.selectFrom(e, o).intoArray(dst, d + c);
            HIGH_HALF.selectFrom(e, o).intoArray(dst, d + c + L);
        }
    }

    /**
     * Rows {@code [r0, r1)} of int8 {@code w} times {@code m} pair-ordered activation rows, with the contract of
     * {@link MatVecKernels#rows}; {@code scratch} holds {@link #scratchFloats}{@code (w.cols())} floats. The activation
     * rows are copied into natural order first (up to four at a time), so that each load of {@code L} codes widens
     * straight to one float vector. Every (weight row, activation row) product is the same chain of operations
     * whichever block computes it — per block {@code k} of 32: {@code t = 0}, {@code t = q[j, j + L) · x[j, j + L)
     * + t} for each sub-vector in order (fused multiply-adds), {@code acc = t · s[k] + acc}; then the lanes summed in
     * {@link Lanes#sumStored}'s order — so a result does not depend on the thread count, the row range split or the
     * batch it is part of. Blocks: groups of four activation rows two weight rows at a time (2 x 4), then a pair four
     * weight rows at a time (4 x 2), then a last activation row four weight rows at a time (4 x 1); weight rows left
     * over one at a time.
     */
    static void rows(Weight w, int r0, int r1, float[] x, int xOff, int xStride, int m, float[] out, int outOff,
                     int outStride, boolean pairOut, float[] scratch) {
        int rows = w.rows();
        int n = w.cols();
        if (!NATURAL) {
            widenedRows(w, r0, r1, x, xOff, xStride, m, out, outOff, outStride, pairOut, scratch);
            return;
        }
        int xa = L;
        int xb = L + n;
        int b = 0;
        for (; b + 4 <= m; b += 4) {
            for (int i = 0; i < 4; i++) {
                toNatural(x, xOff + (b + i) * xStride, n, scratch, xa + i * n);
            }
            int o = outOff + b * outStride;
            int r = r0;
            for (; r + 2 <= r1; r += 2) {
                rows2x4(w, r, scratch, xa, out, o, outStride, rows, pairOut);
            }
            if (r < r1) {
                int p = MatVecKernels.pos(r, rows, pairOut);
                row1x2(w, r, scratch, xa, xa + n, out, o + p, o + outStride + p);
                row1x2(w, r, scratch, xa + 2 * n, xa + 3 * n, out, o + 2 * outStride + p, o + 3 * outStride + p);
            }
        }
        for (; b + 2 <= m; b += 2) {
            toNatural(x, xOff + b * xStride, n, scratch, xa);
            toNatural(x, xOff + (b + 1) * xStride, n, scratch, xb);
            int oa = outOff + b * outStride;
            int ob = oa + outStride;
            int r = r0;
            for (; r + 4 <= r1; r += 4) {
                rows4x2(w, r, scratch, xa, xb, out, oa, ob, rows, pairOut);
            }
            for (; r < r1; r++) {
                row1x2(w, r, scratch, xa, xb, out, oa + MatVecKernels.pos(r, rows, pairOut),
                        ob + MatVecKernels.pos(r, rows, pairOut));
            }
        }
        if (b < m) {
            toNatural(x, xOff + b * xStride, n, scratch, xa);
            int o = outOff + b * outStride;
            int r = r0;
            for (; r + 4 <= r1; r += 4) {
                rows4x1(w, r, scratch, xa, out, o, rows, pairOut);
            }
            for (; r < r1; r++) {
                out[o + MatVecKernels.pos(r, rows, pairOut)] = dotRow(w, r, scratch, xa);
            }
        }
    }

    /** The path of 128-bit vectors: each row widened to {@code q · s} in pair order, dotted with each activation. */
    private static void widenedRows(Weight w, int r0, int r1, float[] x, int xOff, int xStride, int m, float[] out,
                                    int outOff, int outStride, boolean pairOut, float[] scratch) {
        int n = w.cols();
        for (int r = r0; r < r1; r++) {
            widenRowPaired(w, r, scratch, 0);
            int pos = MatVecKernels.pos(r, w.rows(), pairOut);
            for (int b = 0; b < m; b++) {
                out[outOff + b * outStride + pos] = MatVecKernels.dot(scratch, 0, x, xOff + b * xStride, n);
            }
        }
    }

    /** One int8 row times one natural-order activation row at {@code s[xo]} (lanes summed in {@code s[0, L)}). */
    private static float dotRow(Weight w, int r, float[] s, int xo) {
        MemorySegment seg = w.data();
        MemorySegment sc = w.scales();
        int n = w.cols();
        int nb = n / B;
        long q0 = (long) r * n;
        long f0 = (long) r * nb;
        FloatVector a0 = FloatVector.zero(F);
        for (int k = 0; k < nb; k++) {
            int c = k * B;
            FloatVector t0 = FloatVector.zero(F);
            for (int j = 0; j < B; j += L) {
                FloatVector x = FloatVector.fromArray(F, s, xo + c + j);
                FloatVector w0 = (FloatVector) ByteVector.fromMemorySegment(CODES, seg, q0 + c + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0);
                t0 = w0.fma(x, t0);
            }
            a0 = t0.fma(FloatVector.broadcast(F, scale(sc, f0 + k)), a0);
        }
        a0.intoArray(s, 0);
        return Lanes.sumStored(s);
    }

    /**
     * Four int8 rows from {@code r} times one natural-order activation row: four chains sharing the activation loads.
     * Each block's sub-vectors are one loop from a zero {@code t}, so the method holds four code-load sites, not eight
     * (fewer nodes for C2, which stops inlining Vector API calls past NodeCountInliningCutoff and then boxes). Eight
     * rows at a time streamed ~10-20% faster in a standalone test but compiled 2x slower here.
     */
    private static void rows4x1(Weight w, int r, float[] s, int xo, float[] out, int o, int rows, boolean pairOut) {
        MemorySegment seg = w.data();
        MemorySegment sc = w.scales();
        int n = w.cols();
        int nb = n / B;
        long q0 = (long) r * n, q1 = q0 + n, q2 = q1 + n, q3 = q2 + n;
        long f0 = (long) r * nb, f1 = f0 + nb, f2 = f1 + nb, f3 = f2 + nb;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (int k = 0; k < nb; k++) {
            int c = k * B;
            FloatVector t0 = FloatVector.zero(F), t1 = t0, t2 = t0, t3 = t0;
            for (int j = 0; j < B; j += L) {
                FloatVector x = FloatVector.fromArray(F, s, xo + c + j);
                FloatVector w0 = (FloatVector) ByteVector.fromMemorySegment(CODES, seg, q0 + c + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0);
                FloatVector w1 = (FloatVector) ByteVector.fromMemorySegment(CODES, seg, q1 + c + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0);
                FloatVector w2 = (FloatVector) ByteVector.fromMemorySegment(CODES, seg, q2 + c + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0);
                FloatVector w3 = (FloatVector) ByteVector.fromMemorySegment(CODES, seg, q3 + c + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0);
                t0 = w0.fma(x, t0);
                t1 = w1.fma(x, t1);
                t2 = w2.fma(x, t2);
                t3 = w3.fma(x, t3);
            }
            a0 = t0.fma(FloatVector.broadcast(F, scale(sc, f0 + k)), a0);
            a1 = t1.fma(FloatVector.broadcast(F, scale(sc, f1 + k)), a1);
            a2 = t2.fma(FloatVector.broadcast(F, scale(sc, f2 + k)), a2);
            a3 = t3.fma(FloatVector.broadcast(F, scale(sc, f3 + k)), a3);
        }
        a0.intoArray(s, 0);
        out[o + MatVecKernels.pos(r, rows, pairOut)] = Lanes.sumStored(s);
        a1.intoArray(s, 0);
        out[o + MatVecKernels.pos(r + 1, rows, pairOut)] = Lanes.sumStored(s);
        a2.intoArray(s, 0);
        out[o + MatVecKernels.pos(r + 2, rows, pairOut)] = Lanes.sumStored(s);
        a3.intoArray(s, 0);
        out[o + MatVecKernels.pos(r + 3, rows, pairOut)] = Lanes.sumStored(s);
    }

    /**
     * Two int8 rows from {@code r} times four natural-order activation rows (at {@code x0}, {@code x0 + n}, ...): eight
     * chains, each code vector feeding four, so four activation rows stream the weight once.
     */
    private static void rows2x4(Weight w, int r, float[] s, int x0, float[] out, int o, int outStride, int rows,
                                boolean pairOut) {
        MemorySegment seg = w.data();
        MemorySegment sc = w.scales();
        int n = w.cols();
        int nb = n / B;
        long q0 = (long) r * n, q1 = q0 + n;
        long f0 = (long) r * nb, f1 = f0 + nb;
        int x1 = x0 + n, x2 = x1 + n, x3 = x2 + n;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
        for (int k = 0; k < nb; k++) {
            int c = k * B;
            FloatVector ta0 = FloatVector.zero(F), ta1 = ta0, tb0 = ta0, tb1 = ta0, tc0 = ta0, tc1 = ta0, td0 = ta0,
                    td1 = ta0;
            for (int j = 0; j < B; j += L) {
                FloatVector w0 = (FloatVector) ByteVector.fromMemorySegment(CODES, seg, q0 + c + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0);
                FloatVector w1 = (FloatVector) ByteVector.fromMemorySegment(CODES, seg, q1 + c + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0);
                FloatVector xa = FloatVector.fromArray(F, s, x0 + c + j);
                ta0 = w0.fma(xa, ta0);
                ta1 = w1.fma(xa, ta1);
                FloatVector xb = FloatVector.fromArray(F, s, x1 + c + j);
                tb0 = w0.fma(xb, tb0);
                tb1 = w1.fma(xb, tb1);
                FloatVector xc = FloatVector.fromArray(F, s, x2 + c + j);
                tc0 = w0.fma(xc, tc0);
                tc1 = w1.fma(xc, tc1);
                FloatVector xd = FloatVector.fromArray(F, s, x3 + c + j);
                td0 = w0.fma(xd, td0);
                td1 = w1.fma(xd, td1);
            }
            FloatVector g0 = FloatVector.broadcast(F, scale(sc, f0 + k));
            FloatVector g1 = FloatVector.broadcast(F, scale(sc, f1 + k));
            a0 = ta0.fma(g0, a0);
            a1 = ta1.fma(g1, a1);
            b0 = tb0.fma(g0, b0);
            b1 = tb1.fma(g1, b1);
            c0 = tc0.fma(g0, c0);
            c1 = tc1.fma(g1, c1);
            d0 = td0.fma(g0, d0);
            d1 = td1.fma(g1, d1);
        }
        int p0 = MatVecKernels.pos(r, rows, pairOut);
        int p1 = MatVecKernels.pos(r + 1, rows, pairOut);
        a0.intoArray(s, 0);
        out[o + p0] = Lanes.sumStored(s);
        a1.intoArray(s, 0);
        out[o + p1] = Lanes.sumStored(s);
        b0.intoArray(s, 0);
        out[o + 1 * outStride + p0] = Lanes.sumStored(s);
        b1.intoArray(s, 0);
        out[o + 1 * outStride + p1] = Lanes.sumStored(s);
        c0.intoArray(s, 0);
        out[o + 2 * outStride + p0] = Lanes.sumStored(s);
        c1.intoArray(s, 0);
        out[o + 2 * outStride + p1] = Lanes.sumStored(s);
        d0.intoArray(s, 0);
        out[o + 3 * outStride + p0] = Lanes.sumStored(s);
        d1.intoArray(s, 0);
        out[o + 3 * outStride + p1] = Lanes.sumStored(s);
    }

    /**
     * Four int8 rows from {@code r} times two natural-order activation rows ({@code xa}, {@code xb}): eight chains,
     * each code vector feeding two.
     */
    private static void rows4x2(Weight w, int r, float[] s, int xa, int xb, float[] out, int oa, int ob, int rows,
                                boolean pairOut) {
        MemorySegment seg = w.data();
        MemorySegment sc = w.scales();
        int n = w.cols();
        int nb = n / B;
        long q0 = (long) r * n, q1 = q0 + n, q2 = q1 + n, q3 = q2 + n;
        long f0 = (long) r * nb, f1 = f0 + nb, f2 = f1 + nb, f3 = f2 + nb;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int k = 0; k < nb; k++) {
            int c = k * B;
            FloatVector ta0 = FloatVector.zero(F), ta1 = ta0, ta2 = ta0, ta3 = ta0, tb0 = ta0, tb1 = ta0, tb2 = ta0,
                tb3 = ta0;
            for (int j = 0; j < B; j += L) {
                FloatVector x = FloatVector.fromArray(F, s, xa + c + j);
                FloatVector y = FloatVector.fromArray(F, s, xb + c + j);
                FloatVector w0 = (FloatVector) ByteVector.fromMemorySegment(CODES, seg, q0 + c + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0);
                FloatVector w1 = (FloatVector) ByteVector.fromMemorySegment(CODES, seg, q1 + c + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0);
                FloatVector w2 = (FloatVector) ByteVector.fromMemorySegment(CODES, seg, q2 + c + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0);
                FloatVector w3 = (FloatVector) ByteVector.fromMemorySegment(CODES, seg, q3 + c + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0);
                ta0 = w0.fma(x, ta0);
                tb0 = w0.fma(y, tb0);
                ta1 = w1.fma(x, ta1);
                tb1 = w1.fma(y, tb1);
                ta2 = w2.fma(x, ta2);
                tb2 = w2.fma(y, tb2);
                ta3 = w3.fma(x, ta3);
                tb3 = w3.fma(y, tb3);
            }
            FloatVector g0 = FloatVector.broadcast(F, scale(sc, f0 + k));
            a0 = ta0.fma(g0, a0);
            b0 = tb0.fma(g0, b0);
            FloatVector g1 = FloatVector.broadcast(F, scale(sc, f1 + k));
            a1 = ta1.fma(g1, a1);
            b1 = tb1.fma(g1, b1);
            FloatVector g2 = FloatVector.broadcast(F, scale(sc, f2 + k));
            a2 = ta2.fma(g2, a2);
            b2 = tb2.fma(g2, b2);
            FloatVector g3 = FloatVector.broadcast(F, scale(sc, f3 + k));
            a3 = ta3.fma(g3, a3);
            b3 = tb3.fma(g3, b3);
        }
        a0.intoArray(s, 0);
        out[oa + MatVecKernels.pos(r, rows, pairOut)] = Lanes.sumStored(s);
        a1.intoArray(s, 0);
        out[oa + MatVecKernels.pos(r + 1, rows, pairOut)] = Lanes.sumStored(s);
        a2.intoArray(s, 0);
        out[oa + MatVecKernels.pos(r + 2, rows, pairOut)] = Lanes.sumStored(s);
        a3.intoArray(s, 0);
        out[oa + MatVecKernels.pos(r + 3, rows, pairOut)] = Lanes.sumStored(s);
        b0.intoArray(s, 0);
        out[ob + MatVecKernels.pos(r, rows, pairOut)] = Lanes.sumStored(s);
        b1.intoArray(s, 0);
        out[ob + MatVecKernels.pos(r + 1, rows, pairOut)] = Lanes.sumStored(s);
        b2.intoArray(s, 0);
        out[ob + MatVecKernels.pos(r + 2, rows, pairOut)] = Lanes.sumStored(s);
        b3.intoArray(s, 0);
        out[ob + MatVecKernels.pos(r + 3, rows, pairOut)] = Lanes.sumStored(s);
    }

    /** One int8 row times two natural-order activation rows ({@code xa}, {@code xb}): each code vector feeds both. */
    private static void row1x2(Weight w, int r, float[] s, int xa, int xb, float[] out, int oa, int ob) {
        MemorySegment seg = w.data();
        MemorySegment sc = w.scales();
        int n = w.cols();
        int nb = n / B;
        long q0 = (long) r * n;
        long f0 = (long) r * nb;
        FloatVector a0 = FloatVector.zero(F), b0 = a0;
        for (int k = 0; k < nb; k++) {
            int c = k * B;
            FloatVector ta0 = FloatVector.zero(F), tb0 = ta0;
            for (int j = 0; j < B; j += L) {
                FloatVector x = FloatVector.fromArray(F, s, xa + c + j);
                FloatVector y = FloatVector.fromArray(F, s, xb + c + j);
                FloatVector w0 = (FloatVector) ByteVector.fromMemorySegment(CODES, seg, q0 + c + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0);
                ta0 = w0.fma(x, ta0);
                tb0 = w0.fma(y, tb0);
            }
            FloatVector g0 = FloatVector.broadcast(F, scale(sc, f0 + k));
            a0 = ta0.fma(g0, a0);
            b0 = tb0.fma(g0, b0);
        }
        a0.intoArray(s, 0);
        out[oa] = Lanes.sumStored(s);
        b0.intoArray(s, 0);
        out[ob] = Lanes.sumStored(s);
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
        long sBase = (long) r * (n / B);
        for (int c = 0; c < n; c += P) {
            IntVector v = codePairs(seg, base + c);
            float s = scale(sc, sBase + c / B);
            evenCodes(v).mul(s).intoArray(dst, dstOff + c);
            oddCodes(v).mul(s).intoArray(dst, dstOff + c + L);
        }
    }

    /** The even (qe) and odd (qo) columns' codes of a pair block's {@link S} lanes, as floats. */
    private static FloatVector evenCodes(IntVector v) {
        return (FloatVector) v.lanewise(VectorOperators.LSHL, 24).lanewise(VectorOperators.ASHR, 24)
                .convert(VectorOperators.I2F, 0);
    }

    private static FloatVector oddCodes(IntVector v) {
        return (FloatVector) v.lanewise(VectorOperators.ASHR, 8).convert(VectorOperators.I2F, 0);
    }

    private static IntVector codePairs(MemorySegment seg, long offset) {
        return (IntVector) ShortVector.fromMemorySegment(S, seg, offset, LE).convertShape(VectorOperators.S2I, I, 0);
    }

    /**
     * {@link #transposedColumns} for one activation row (decode's absorbed W_UK at batch 1): the weight rows in
     * order, each row's pair blocks multiplied into running sums kept in pair order in {@code scratch}, then written
     * back interleaved, so that the matrix streams sequentially (the four-row form reads a column strip of every row
     * per pass and repeats the one row in all its chains). Each column still sums its rows in order from zero with the
     * same operations: the results are the four-row form's. Returns c1.
     */
    private static int singleRowColumns(Weight w, int c0, int c1, float[] x, int xOff, float[] out, int outOff,
                                        float[] scratch) {
        MemorySegment seg = w.data();
        MemorySegment sc = w.scales();
        int rows = w.rows();
        int n = w.cols();
        long sRow = n / B;
        int width = c1 - c0;
        java.util.Arrays.fill(scratch, 0, width, 0f);
        for (int r = 0; r < rows; r++) {
            float xr = x[xOff + r];
            for (int c = c0; c < c1; c += P) {
                IntVector v = codePairs(seg, (long) r * n + c);
                FloatVector xs = FloatVector.broadcast(F, xr * scale(sc, r * sRow + c / B));
                int e = c - c0;
                evenCodes(v).fma(xs, FloatVector.fromArray(F, scratch, e)).intoArray(scratch, e);
                oddCodes(v).fma(xs, FloatVector.fromArray(F, scratch, e + L)).intoArray(scratch, e + L);
            }
        }
        for (int c = c0; c < c1; c += P) {
            int e = c - c0;
            int o = outOff + c;
            for (int i = 0; i < L; i++) {
                out[o + 2 * i] = scratch[e + i];
                out[o + 2 * i + 1] = scratch[e + L + i];
            }
        }
        return c1;
    }

    /** Floats of scratch {@link #transposedColumns} needs for columns [c0, c1). */
    static int transposedScratch(int c0, int c1) {
        return Math.max(4 * P, c1 - c0);
    }


    /**
     * Columns {@code [c0, c1)} (multiples of {@code P}) of the transposed product {@code out[b, c] = Σ_r x[b, r] ·
     * W[r, c]}, four activation rows at a time: per weight row, the code vector's even and odd columns are scaled
     * through the activation ({@code x[b, r] · s[r, block]}) and accumulated in pair order, then written back
     * interleaved through {@code scratch} ({@link #transposedScratch} floats).
     */
    static void transposedColumns(Weight w, int c0, int c1, float[] x, int xOff, int xStride, float[] out,
                                  int outOff, int outStride, int batch, float[] scratch) {
        MemorySegment seg = w.data();
        MemorySegment sc = w.scales();
        int rows = w.rows();
        int n = w.cols();
        long sRow = n / B;
        for (int b0 = 0; b0 < batch; b0 += 4) {
            int nb = Math.min(4, batch - b0);
            int x0 = xOff + b0 * xStride;
            int x1 = xOff + (b0 + Math.min(1, nb - 1)) * xStride;
            int x2 = xOff + (b0 + Math.min(2, nb - 1)) * xStride;
            int x3 = xOff + (b0 + Math.min(3, nb - 1)) * xStride;
            int first = nb == 1 ? singleRowColumns(w, c0, c1, x, x0, out, outOff + b0 * outStride, scratch) : c0;
            for (int c = first; c < c1; c += P) {
                FloatVector e0 = FloatVector.zero(F), e1 = e0, e2 = e0, e3 = e0;
                FloatVector d0 = e0, d1 = e0, d2 = e0, d3 = e0;
                long so = c / B;
                for (int r = 0; r < rows; r++) {
                    IntVector v = codePairs(seg, (long) r * n + c);
                    FloatVector qe = evenCodes(v);
                    FloatVector qo = oddCodes(v);
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
