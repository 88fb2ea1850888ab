package dev.dsv2.engine.kernel;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;

import static dev.dsv2.engine.kernel.Lanes.F;
import static dev.dsv2.engine.kernel.Lanes.L;

/**
 * Register- and cache-blocked matrix-matrix kernels for many activation rows (prefill, batched decode): the
 * compute-bound path. The product is formed transposed, as outer products:
 *
 * <pre>
 *   tile[i, j] = Σ_k pw[i, k] · xP[k, j]        i < PANEL weight rows, j < BLOCK activation rows
 * </pre>
 *
 * {@code pw} is a group of weight rows widened once to float32 (bf16 → f32, row-major, L2-resident), {@code xP} a
 * block of activation rows packed k-major ({@code [K, BLOCK]}, contiguous). Each step of k loads two activation
 * vectors and broadcasts {@value #PANEL} weights into {@value #PANEL}×2 accumulators that stay in registers for the
 * whole K loop: 24 FMAs per 2 loads + 12 broadcasts, no horizontal reductions.
 *
 * <p>Packed activations: block {@code b0 / BLOCK} starts at {@code b0 · K} and holds rows {@code [b0, b0 + width)}
 * at {@code k · width + (b - b0)}, rows past {@code m} zero; every block is {@value #BLOCK} wide except a last block
 * of at most {@code L} rows, which is {@code L} wide.
 */
final class GemmKernels {
    /** Weight rows per register tile. */
    static final int PANEL = 12;
    /** Activation rows per register tile: two vectors. */
    static final int BLOCK = 2 * L;
    /** Weight rows widened together (and the unit of parallel work): several panels share each packed block. */
    static final int GROUP_ROWS = 4 * PANEL;

    private GemmKernels() {
    }

    /** Width of the packed block that starts at activation row {@code b0} of {@code m}. */
    static int blockWidth(int m, int b0) {
        return m - b0 <= L ? L : BLOCK;
    }

    /** Floats a packed copy of {@code m} rows of {@code k} values takes. */
    static int packedSize(int m, int k) {
        if (m <= 0) {
            return 0;
        }
        int lastStart = (m - 1) / BLOCK * BLOCK;
        return (lastStart + blockWidth(m, lastStart)) * k;
    }

    /**
     * Packs {@code m} activation rows of {@code k} values into {@code xP[xPOff..]}: row b is
     * {@code x[xOff + idx(b)·xStride, + k)} where {@code idx(b) = rows == null ? b : rows[rowsOff + b]}.
     */
    static void pack(float[] x, int xOff, int xStride, int[] rows, int rowsOff, int m, int k, float[] xP, int xPOff) {
        for (int b0 = 0; b0 < m; b0 += BLOCK) {
            int width = blockWidth(m, b0);
            int nb = Math.min(width, m - b0);
            int base = xPOff + b0 * k;
            for (int j = 0; j < nb; j++) {
                int b = b0 + j;
                int src = xOff + (rows == null ? b : rows[rowsOff + b]) * xStride;
                for (int c = 0; c < k; c++) {
                    xP[base + c * width + j] = x[src + c];
                }
            }
            for (int j = nb; j < width; j++) {
                for (int c = 0; c < k; c++) {
                    xP[base + c * width + j] = 0f;
                }
            }
        }
    }

    /**
     * Widens weight rows {@code [r0, r0 + count)} into {@code pw[i·K + c]} and zeroes rows {@code [count, padTo)}
     * (so a partial panel computes zeros).
     */
    static void widenRows(Weight w, int r0, int count, int padTo, float[] pw) {
        int k = w.cols();
        for (int i = 0; i < count; i++) {
            widenRow(w, r0 + i, pw, i * k);
        }
        java.util.Arrays.fill(pw, count * k, padTo * k, 0f);
    }

    /** Widens row {@code r} of {@code w} into {@code dst[dstOff, dstOff + cols)}. */
    static void widenRow(Weight w, int r, float[] dst, int dstOff) {
        int cols = w.cols();
        MemorySegment seg = w.data();
        switch (w.dtype()) {
            case BF16 -> {
                long base = (long) r * cols * 2;
                int c = 0;
                for (; c + L <= cols; c += L) {
                    Lanes.bf16(seg, base + c * 2L).intoArray(dst, dstOff + c);
                }
                for (; c < cols; c++) {
                    dst[dstOff + c] = Widen.bf16(seg.get(Widen.SHORT_LE, base + c * 2L));
                }
            }
            case F32 -> {
                long base = (long) r * cols * 4;
                int c = 0;
                for (; c + L <= cols; c += L) {
                    FloatVector.fromMemorySegment(F, seg, base + c * 4L, Lanes.LE).intoArray(dst, dstOff + c);
                }
                for (; c < cols; c++) {
                    dst[dstOff + c] = seg.get(Widen.FLOAT_LE, base + c * 4L);
                }
            }
            case F16 -> Widen.readRange(w.dtype(), seg, (long) r * cols, dst, dstOff, cols);
        }
    }

    /**
     * {@code tile[i·BLOCK + j] = Σ_{c<k} pw[pwOff + i·k + c] · xP[xPOff + c·width + j]} for {@code i < PANEL},
     * {@code j < width} ({@code width} is {@link #BLOCK} or {@code L}).
     */
    static void tile(float[] pw, int pwOff, int k, float[] xP, int xPOff, int width, float[] tile) {
        if (width == BLOCK) {
            tile2(pw, pwOff, k, xP, xPOff, tile);
        } else {
            tile1(pw, pwOff, k, xP, xPOff, tile);
        }
    }

    private static void tile2(float[] pw, int p, int k, float[] xP, int xo, float[] tile) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        FloatVector c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        FloatVector c60 = c00, c61 = c00, c70 = c00, c71 = c00, c80 = c00, c81 = c00;
        FloatVector c90 = c00, c91 = c00, ca0 = c00, ca1 = c00, cb0 = c00, cb1 = c00;
        int p1 = p + k, p2 = p + 2 * k, p3 = p + 3 * k, p4 = p + 4 * k, p5 = p + 5 * k;
        int p6 = p + 6 * k, p7 = p + 7 * k, p8 = p + 8 * k, p9 = p + 9 * k, pa = p + 10 * k, pb = p + 11 * k;
        for (int c = 0; c < k; c++) {
            int xc = xo + c * BLOCK;
            FloatVector x0 = FloatVector.fromArray(F, xP, xc);
            FloatVector x1 = FloatVector.fromArray(F, xP, xc + L);
            FloatVector w = FloatVector.broadcast(F, pw[p + c]);
            c00 = x0.fma(w, c00);
            c01 = x1.fma(w, c01);
            w = FloatVector.broadcast(F, pw[p1 + c]);
            c10 = x0.fma(w, c10);
            c11 = x1.fma(w, c11);
            w = FloatVector.broadcast(F, pw[p2 + c]);
            c20 = x0.fma(w, c20);
            c21 = x1.fma(w, c21);
            w = FloatVector.broadcast(F, pw[p3 + c]);
            c30 = x0.fma(w, c30);
            c31 = x1.fma(w, c31);
            w = FloatVector.broadcast(F, pw[p4 + c]);
            c40 = x0.fma(w, c40);
            c41 = x1.fma(w, c41);
            w = FloatVector.broadcast(F, pw[p5 + c]);
            c50 = x0.fma(w, c50);
            c51 = x1.fma(w, c51);
            w = FloatVector.broadcast(F, pw[p6 + c]);
            c60 = x0.fma(w, c60);
            c61 = x1.fma(w, c61);
            w = FloatVector.broadcast(F, pw[p7 + c]);
            c70 = x0.fma(w, c70);
            c71 = x1.fma(w, c71);
            w = FloatVector.broadcast(F, pw[p8 + c]);
            c80 = x0.fma(w, c80);
            c81 = x1.fma(w, c81);
            w = FloatVector.broadcast(F, pw[p9 + c]);
            c90 = x0.fma(w, c90);
            c91 = x1.fma(w, c91);
            w = FloatVector.broadcast(F, pw[pa + c]);
            ca0 = x0.fma(w, ca0);
            ca1 = x1.fma(w, ca1);
            w = FloatVector.broadcast(F, pw[pb + c]);
            cb0 = x0.fma(w, cb0);
            cb1 = x1.fma(w, cb1);
        }
        c00.intoArray(tile, 0);
        c01.intoArray(tile, L);
        c10.intoArray(tile, BLOCK);
        c11.intoArray(tile, BLOCK + L);
        c20.intoArray(tile, 2 * BLOCK);
        c21.intoArray(tile, 2 * BLOCK + L);
        c30.intoArray(tile, 3 * BLOCK);
        c31.intoArray(tile, 3 * BLOCK + L);
        c40.intoArray(tile, 4 * BLOCK);
        c41.intoArray(tile, 4 * BLOCK + L);
        c50.intoArray(tile, 5 * BLOCK);
        c51.intoArray(tile, 5 * BLOCK + L);
        c60.intoArray(tile, 6 * BLOCK);
        c61.intoArray(tile, 6 * BLOCK + L);
        c70.intoArray(tile, 7 * BLOCK);
        c71.intoArray(tile, 7 * BLOCK + L);
        c80.intoArray(tile, 8 * BLOCK);
        c81.intoArray(tile, 8 * BLOCK + L);
        c90.intoArray(tile, 9 * BLOCK);
        c91.intoArray(tile, 9 * BLOCK + L);
        ca0.intoArray(tile, 10 * BLOCK);
        ca1.intoArray(tile, 10 * BLOCK + L);
        cb0.intoArray(tile, 11 * BLOCK);
        cb1.intoArray(tile, 11 * BLOCK + L);
    }

    private static void tile1(float[] pw, int p, int k, float[] xP, int xo, float[] tile) {
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
        FloatVector c6 = c0, c7 = c0, c8 = c0, c9 = c0, ca = c0, cb = c0;
        int p1 = p + k, p2 = p + 2 * k, p3 = p + 3 * k, p4 = p + 4 * k, p5 = p + 5 * k;
        int p6 = p + 6 * k, p7 = p + 7 * k, p8 = p + 8 * k, p9 = p + 9 * k, pa = p + 10 * k, pb = p + 11 * k;
        for (int c = 0; c < k; c++) {
            FloatVector x0 = FloatVector.fromArray(F, xP, xo + c * L);
            c0 = x0.fma(FloatVector.broadcast(F, pw[p + c]), c0);
            c1 = x0.fma(FloatVector.broadcast(F, pw[p1 + c]), c1);
            c2 = x0.fma(FloatVector.broadcast(F, pw[p2 + c]), c2);
            c3 = x0.fma(FloatVector.broadcast(F, pw[p3 + c]), c3);
            c4 = x0.fma(FloatVector.broadcast(F, pw[p4 + c]), c4);
            c5 = x0.fma(FloatVector.broadcast(F, pw[p5 + c]), c5);
            c6 = x0.fma(FloatVector.broadcast(F, pw[p6 + c]), c6);
            c7 = x0.fma(FloatVector.broadcast(F, pw[p7 + c]), c7);
            c8 = x0.fma(FloatVector.broadcast(F, pw[p8 + c]), c8);
            c9 = x0.fma(FloatVector.broadcast(F, pw[p9 + c]), c9);
            ca = x0.fma(FloatVector.broadcast(F, pw[pa + c]), ca);
            cb = x0.fma(FloatVector.broadcast(F, pw[pb + c]), cb);
        }
        c0.intoArray(tile, 0);
        c1.intoArray(tile, BLOCK);
        c2.intoArray(tile, 2 * BLOCK);
        c3.intoArray(tile, 3 * BLOCK);
        c4.intoArray(tile, 4 * BLOCK);
        c5.intoArray(tile, 5 * BLOCK);
        c6.intoArray(tile, 6 * BLOCK);
        c7.intoArray(tile, 7 * BLOCK);
        c8.intoArray(tile, 8 * BLOCK);
        c9.intoArray(tile, 9 * BLOCK);
        ca.intoArray(tile, 10 * BLOCK);
        cb.intoArray(tile, 11 * BLOCK);
    }
}
