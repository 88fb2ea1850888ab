package dev.dsv2.engine.kernel.cpu;

import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.kernel.Widen;
import dev.dsv2.engine.tensor.DType;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;

import static dev.dsv2.engine.kernel.cpu.Lanes.F;
import static dev.dsv2.engine.kernel.cpu.Lanes.L;

/**
 * Register- and cache-blocked matrix-matrix kernels for many activation rows (prefill, batched decode): the
 * compute-bound path. The product is formed transposed, as outer products:
 *
 * <pre>
 *   acc[i, j] = Σ_k pw[i, k] · xP[k, j]        i: weight rows of a panel, j: activation rows of a block
 * </pre>
 *
 * {@code pw} is a group of {@value #GROUP_ROWS} weight rows widened once to float32 (bf16 → f32, row-major,
 * L2-resident), {@code xP} a block of activation rows packed k-major ({@code [K, width]}, contiguous). Each step of
 * k loads the block's two activation vectors and broadcasts one weight per panel row into 12×2 accumulators that stay
 * in registers for a k slice ({@code KC}, so the slices of the block and of the panel stay in L1): 24 FMAs per 2
 * loads + 12 broadcasts, no horizontal reductions (about 190 GFLOP/s on one Zen 5 core). A last block of at most 16
 * rows runs 12 × 1 vector. The tiles of a row group accumulate across k slices in a buffer laid out
 * {@code [block][group row][BLOCK]}. (An 8 × 3-vector tile for 48-wide blocks measured slower: 140 GFLOP/s.)
 *
 * <p>Packed activations: blocks start every {@value #BLOCK} rows; block {@code b0 / BLOCK} starts at {@code b0 · K}
 * and holds rows {@code [b0, b0 + width)} at {@code k · width + (b - b0)}, rows past {@code m} zero. Every block is
 * {@value #BLOCK} wide except a last block of at most 16 rows, which is 16 wide.
 */
final class GemmKernels {
    /** Activation rows per full block: two vectors. */
    static final int BLOCK = 2 * L;
    /** Weight rows per register tile. */
    static final int PANEL = 12;
    /** Weight rows widened together (and the unit of parallel work): four panels. */
    static final int GROUP_ROWS = 4 * PANEL;
    /** Depth of one pass over k: a block slice (32 KB) and a panel slice (12 KB) fit in L1. */
    static final int KC = 256;

    private GemmKernels() {
    }

    /** Width of the packed block that starts at activation row {@code b0} of {@code m}. */
    static int blockWidth(int m, int b0) {
        int rest = m - b0;
        return rest <= L ? L : BLOCK;
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
     * {@code x[xOff + idx(b)·xStride, + k)} where {@code idx(b) = rows == null ? b : rows[rowsOff + b]}. The k index
     * of the packed layout is in pair order ({@link MatVecKernels#pairPos}), as the widened weight rows are.
     */
    static void pack(float[] x, int xOff, int xStride, int[] rows, int rowsOff, int m, int k, float[] xP, int xPOff) {
        packBlocks(x, xOff, xStride, rows, rowsOff, m, k, xP, xPOff, 0, (m + BLOCK - 1) / BLOCK);
    }

    /** {@link #pack} of the packed blocks {@code [blockFrom, blockTo)} only (blocks are independent). */
    static void packBlocks(float[] x, int xOff, int xStride, int[] rows, int rowsOff, int m, int k, float[] xP,
                           int xPOff, int blockFrom, int blockTo) {
        for (int b0 = blockFrom * BLOCK; b0 < Math.min(m, blockTo * BLOCK); b0 += BLOCK) {
            int width = blockWidth(m, b0);
            int nb = Math.min(width, m - b0);
            int base = xPOff + b0 * k;
            for (int j = 0; j < nb; j++) {
                int b = b0 + j;
                int src = xOff + (rows == null ? b : rows[rowsOff + b]) * xStride;
                int full = k / MatVecKernels.P * MatVecKernels.P;
                for (int c = 0; c < full; c += MatVecKernels.P) {
                    int even = base + c * width + j;
                    int odd = even + L * width;
                    for (int i = 0; i < L; i++) {
                        xP[even + i * width] = x[src + c + 2 * i];
                        xP[odd + i * width] = x[src + c + 2 * i + 1];
                    }
                }
                for (int c = full; c < k; c++) {
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

    /** Rows a group of {@code count} weight rows is widened to (zero rows past {@code count}). */
    static int paddedRows(int count) {
        return Math.min(GROUP_ROWS, Lanes.roundUp(count, PANEL));
    }

    /**
     * Widens weight rows {@code [r0, r0 + count)} into {@code pw[i·K + c]}, c in pair order, and zeroes rows
     * {@code [count, padTo)} (so a partial panel computes zeros).
     */
    static void widenRows(Weight w, int r0, int count, int padTo, float[] pw) {
        int k = w.cols();
        float[] block = w.dtype() == DType.BF16 || w.isInt8() ? null : new float[MatVecKernels.P];
        for (int i = 0; i < count; i++) {
            widenRowPaired(w, r0 + i, pw, i * k, block, 0);
        }
        java.util.Arrays.fill(pw, count * k, padTo * k, 0f);
    }

    /**
     * Widens row {@code r} of {@code w} into {@code dst[dstOff, dstOff + cols)} in pair order: for bf16 one 512-bit
     * load per pair block, its even and odd values widened in-lane (shift, mask) and stored as they come; other
     * dtypes are widened in natural order and each pair block reordered through {@code block[blockOff, + P)} (not
     * read for bf16, and not at all when the row has no full block).
     */
    static void widenRowPaired(Weight w, int r, float[] dst, int dstOff, float[] block, int blockOff) {
        int cols = w.cols();
        int full = cols / MatVecKernels.P * MatVecKernels.P;
        if (w.dtype() != DType.BF16) {
            if (w.isInt8()) {
                Int8Kernels.widenRowPaired(w, r, dst, dstOff);
                return;
            }
            widenRow(w, r, dst, dstOff);
            for (int c = 0; c < full; c += MatVecKernels.P) {
                System.arraycopy(dst, dstOff + c, block, blockOff, MatVecKernels.P);
                MatVecKernels.toPairOrder(block, blockOff, MatVecKernels.P, dst, dstOff + c);
            }
            return;
        }
        MemorySegment seg = w.data();
        long base = (long) r * cols * 2;
        for (int c = 0; c < full; c += MatVecKernels.P) {
            IntVector v = IntVector.fromMemorySegment(Lanes.I, seg, base + c * 2L, Lanes.LE);
            v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, dstOff + c);
            v.lanewise(VectorOperators.AND, 0xFFFF0000).reinterpretAsFloats().intoArray(dst, dstOff + c + L);
        }
        for (int c = full; c < cols; c++) {
            dst[dstOff + c] = Widen.bf16(seg.get(Widen.SHORT_LE, base + c * 2L));
        }
    }

    /** Widens row {@code r} of {@code w} into {@code dst[dstOff, dstOff + cols)}. */
    static void widenRow(Weight w, int r, float[] dst, int dstOff) {
        int cols = w.cols();
        MemorySegment seg = w.data();
        switch (w.dtype()) {
            case BF16 -> {
                // Scalar: one row per call (an embedding lookup); a vector loop here would run in C1 for long and
                // allocate a boxed vector per 16 values there.
                long base = (long) r * cols * 2;
                for (int c = 0; c < cols; c++) {
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
            case I8 -> {
                for (int c = 0; c < cols; c++) {
                    dst[dstOff + c] = w.get(r, c);
                }
            }
        }
    }

    /** Floats of the accumulator buffer of one row group over {@code m} activation rows. */
    static int accSize(int m) {
        return (Math.max(m, 1) + BLOCK - 1) / BLOCK * GROUP_ROWS * BLOCK;
    }

    /** Where group row {@code row}'s accumulators for the block starting at activation row {@code b0} begin. */
    static int accIndex(int b0, int row) {
        return (b0 / BLOCK * GROUP_ROWS + row) * BLOCK;
    }

    /**
     * One row group times all packed activations, k-blocked: afterwards {@code acc[accIndex(b0, i) + j] =
     * Σ_c pw[i·k + c] · x_{b0 + j}[c]} for every block, {@code i < padded}, {@code j < width}. {@code pw} holds
     * {@code padded} ({@link #paddedRows}) widened rows of length {@code k}.
     */
    static void groupProduct(float[] pw, int padded, int k, float[] xP, int xPOff, int m, float[] acc) {
        for (int k0 = 0; k0 < k; k0 += KC) {
            int kLen = Math.min(KC, k - k0);
            boolean first = k0 == 0;
            for (int b0 = 0; b0 < m; b0 += BLOCK) {
                int width = blockWidth(m, b0);
                int xo = xPOff + b0 * k + k0 * width;
                for (int p = 0; p < padded; p += PANEL) {
                    if (width == BLOCK) {
                        tile2(pw, p * k + k0, k, kLen, xP, xo, acc, accIndex(b0, p), first);
                    } else {
                        tile1(pw, p * k + k0, k, kLen, xP, xo, acc, accIndex(b0, p), first);
                    }
                }
            }
        }
    }

    /**
     * {@code acc[a + i·BLOCK + j] (+)= Σ_{c<kLen} pw[p + i·ps + c] · xP[xo + c·BLOCK + j]}, i < 12, j < BLOCK; the
     * accumulators start from {@code acc} unless {@code first}.
     */
    private static void tile2(float[] pw, int p, int ps, int kLen, float[] xP, int xo, float[] acc, int a,
                              boolean first) {
        FloatVector c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        FloatVector c60, c61, c70, c71, c80, c81, c90, c91, ca0, ca1, cb0, cb1;
        if (first) {
            c00 = FloatVector.zero(F);
            c01 = c00; c10 = c00; c11 = c00; c20 = c00; c21 = c00; c30 = c00; c31 = c00; c40 = c00; c41 = c00;
            c50 = c00; c51 = c00; c60 = c00; c61 = c00; c70 = c00; c71 = c00; c80 = c00; c81 = c00; c90 = c00;
            c91 = c00; ca0 = c00; ca1 = c00; cb0 = c00; cb1 = c00;
        } else {
            c00 = FloatVector.fromArray(F, acc, a);
            c01 = FloatVector.fromArray(F, acc, a + L);
            c10 = FloatVector.fromArray(F, acc, a + BLOCK);
            c11 = FloatVector.fromArray(F, acc, a + BLOCK + L);
            c20 = FloatVector.fromArray(F, acc, a + 2 * BLOCK);
            c21 = FloatVector.fromArray(F, acc, a + 2 * BLOCK + L);
            c30 = FloatVector.fromArray(F, acc, a + 3 * BLOCK);
            c31 = FloatVector.fromArray(F, acc, a + 3 * BLOCK + L);
            c40 = FloatVector.fromArray(F, acc, a + 4 * BLOCK);
            c41 = FloatVector.fromArray(F, acc, a + 4 * BLOCK + L);
            c50 = FloatVector.fromArray(F, acc, a + 5 * BLOCK);
            c51 = FloatVector.fromArray(F, acc, a + 5 * BLOCK + L);
            c60 = FloatVector.fromArray(F, acc, a + 6 * BLOCK);
            c61 = FloatVector.fromArray(F, acc, a + 6 * BLOCK + L);
            c70 = FloatVector.fromArray(F, acc, a + 7 * BLOCK);
            c71 = FloatVector.fromArray(F, acc, a + 7 * BLOCK + L);
            c80 = FloatVector.fromArray(F, acc, a + 8 * BLOCK);
            c81 = FloatVector.fromArray(F, acc, a + 8 * BLOCK + L);
            c90 = FloatVector.fromArray(F, acc, a + 9 * BLOCK);
            c91 = FloatVector.fromArray(F, acc, a + 9 * BLOCK + L);
            ca0 = FloatVector.fromArray(F, acc, a + 10 * BLOCK);
            ca1 = FloatVector.fromArray(F, acc, a + 10 * BLOCK + L);
            cb0 = FloatVector.fromArray(F, acc, a + 11 * BLOCK);
            cb1 = FloatVector.fromArray(F, acc, a + 11 * BLOCK + L);
        }
        int p1 = p + ps, p2 = p + 2 * ps, p3 = p + 3 * ps, p4 = p + 4 * ps, p5 = p + 5 * ps;
        int p6 = p + 6 * ps, p7 = p + 7 * ps, p8 = p + 8 * ps, p9 = p + 9 * ps, pa = p + 10 * ps, pb = p + 11 * ps;
        for (int c = 0; c < kLen; c++) {
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
        c00.intoArray(acc, a);
        c01.intoArray(acc, a + L);
        c10.intoArray(acc, a + BLOCK);
        c11.intoArray(acc, a + BLOCK + L);
        c20.intoArray(acc, a + 2 * BLOCK);
        c21.intoArray(acc, a + 2 * BLOCK + L);
        c30.intoArray(acc, a + 3 * BLOCK);
        c31.intoArray(acc, a + 3 * BLOCK + L);
        c40.intoArray(acc, a + 4 * BLOCK);
        c41.intoArray(acc, a + 4 * BLOCK + L);
        c50.intoArray(acc, a + 5 * BLOCK);
        c51.intoArray(acc, a + 5 * BLOCK + L);
        c60.intoArray(acc, a + 6 * BLOCK);
        c61.intoArray(acc, a + 6 * BLOCK + L);
        c70.intoArray(acc, a + 7 * BLOCK);
        c71.intoArray(acc, a + 7 * BLOCK + L);
        c80.intoArray(acc, a + 8 * BLOCK);
        c81.intoArray(acc, a + 8 * BLOCK + L);
        c90.intoArray(acc, a + 9 * BLOCK);
        c91.intoArray(acc, a + 9 * BLOCK + L);
        ca0.intoArray(acc, a + 10 * BLOCK);
        ca1.intoArray(acc, a + 10 * BLOCK + L);
        cb0.intoArray(acc, a + 11 * BLOCK);
        cb1.intoArray(acc, a + 11 * BLOCK + L);
    }

    /** {@link #tile2} for a block of L (16) rows: 12 rows × 1 vector (packed rows L floats apart). */
    private static void tile1(float[] pw, int p, int ps, int kLen, float[] xP, int xo, float[] acc, int a,
                              boolean first) {
        FloatVector c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, ca, cb;
        if (first) {
            c0 = FloatVector.zero(F);
            c1 = c0; c2 = c0; c3 = c0; c4 = c0; c5 = c0; c6 = c0; c7 = c0; c8 = c0; c9 = c0; ca = c0; cb = c0;
        } else {
            c0 = FloatVector.fromArray(F, acc, a);
            c1 = FloatVector.fromArray(F, acc, a + BLOCK);
            c2 = FloatVector.fromArray(F, acc, a + 2 * BLOCK);
            c3 = FloatVector.fromArray(F, acc, a + 3 * BLOCK);
            c4 = FloatVector.fromArray(F, acc, a + 4 * BLOCK);
            c5 = FloatVector.fromArray(F, acc, a + 5 * BLOCK);
            c6 = FloatVector.fromArray(F, acc, a + 6 * BLOCK);
            c7 = FloatVector.fromArray(F, acc, a + 7 * BLOCK);
            c8 = FloatVector.fromArray(F, acc, a + 8 * BLOCK);
            c9 = FloatVector.fromArray(F, acc, a + 9 * BLOCK);
            ca = FloatVector.fromArray(F, acc, a + 10 * BLOCK);
            cb = FloatVector.fromArray(F, acc, a + 11 * BLOCK);
        }
        int p1 = p + ps, p2 = p + 2 * ps, p3 = p + 3 * ps, p4 = p + 4 * ps, p5 = p + 5 * ps;
        int p6 = p + 6 * ps, p7 = p + 7 * ps, p8 = p + 8 * ps, p9 = p + 9 * ps, pa = p + 10 * ps, pb = p + 11 * ps;
        for (int c = 0; c < kLen; c++) {
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
        c0.intoArray(acc, a);
        c1.intoArray(acc, a + BLOCK);
        c2.intoArray(acc, a + 2 * BLOCK);
        c3.intoArray(acc, a + 3 * BLOCK);
        c4.intoArray(acc, a + 4 * BLOCK);
        c5.intoArray(acc, a + 5 * BLOCK);
        c6.intoArray(acc, a + 6 * BLOCK);
        c7.intoArray(acc, a + 7 * BLOCK);
        c8.intoArray(acc, a + 8 * BLOCK);
        c9.intoArray(acc, a + 9 * BLOCK);
        ca.intoArray(acc, a + 10 * BLOCK);
        cb.intoArray(acc, a + 11 * BLOCK);
    }
}
