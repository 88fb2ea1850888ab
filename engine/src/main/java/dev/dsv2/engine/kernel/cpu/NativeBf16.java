package dev.dsv2.engine.kernel.cpu;

import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.tensor.DType;

import java.util.Objects;

/**
 * The native bf16 matrix-vector kernel ({@code engine/src/main/c/dsv2_cpu.c}, AVX512_BF16 {@code vdpbf16ps}) of
 * {@code dsv2.cpu-kernels=native}, in the library {@link NativeInt8} loads and checks (its
 * {@link NativeInt8#unavailableReason} covers this kernel too: the CPU flag avx512_bf16 is among those it requires).
 *
 * <p>{@link #round} rounds float activation rows once per call to bf16 (round to nearest even; subnormal values
 * count as zero, as {@code vcvtne2ps2bf16} and {@code vdpbf16ps} treat them) into a scratch buffer, as llama.cpp does
 * for its bf16 matmuls; {@link #rows} streams bf16 weight rows as stored (the mapped checkpoint) against such rows,
 * each {@code vdpbf16ps} adding two adjacent products per float lane, accumulated in float and summed over the 16
 * lanes at the end of a row. The only difference from the Java kernels (which widen the weights and keep the
 * activations in float) is therefore the activations' rounding to bf16 (relative error at most 2^-9 each) and the
 * order of the float additions.
 *
 * <p>From 8 activation rows the C kernel runs as a register-tiled GEMM (4 weight rows x 6 activation rows, 24 float
 * accumulators, four reduced together by shuffles; activation rows in chunks of 66 and columns in blocks of 2048,
 * later blocks' partial sums added; each tile of a 4-row weight panel prefetches its share of the next panel), so the
 * backends send it prefill-sized products too.
 */
public final class NativeBf16 {
    private NativeBf16() {
    }

    /**
     * Rounds {@code m} activation rows {@code x[xOff + b·xStride, + n)} (in pair order when {@code pairOrder}, else
     * natural) to bf16 at {@code q[qOff + b·n, + n)} in natural order.
     */
    static void round(float[] x, int xOff, int xStride, int m, int n, boolean pairOrder, short[] q, int qOff) {
        if (m <= 0) {
            return;
        }
        Objects.checkFromIndexSize(xOff, (long) (m - 1) * xStride + n, x.length);
        Objects.checkFromIndexSize(qOff, m * n, q.length);
        NativeInt8.HeapSegments seg = NativeInt8.SEGMENTS.get();
        try {
            NativeInt8.BF16_ROUND.invokeExact(seg.of(x, 4), (long) xOff, (long) xStride, m, n,
                    pairOrder ? Lanes.L : 0, seg.of(q, 3), (long) qOff);
        } catch (Throwable t) {
            throw new IllegalStateException("native bf16 rounding of activations failed: " + t, t);
        }
    }

    /**
     * Rows {@code [r0, r1)} of bf16 {@code w} times {@code m} bf16 activation rows {@code xb[xbOff + b·cols, + cols)},
     * with the output contract of {@link MatVecKernels#rows}: row r times row b goes to
     * {@code out[outOff + b·outStride + pos(r)]}, or is added to it when {@code accumulate}.
     *
     * @throws IllegalArgumentException when {@code w} is not bf16
     */
    static void rows(Weight w, int r0, int r1, short[] xb, int xbOff, int m, float[] out, int outOff, int outStride,
                     boolean pairOut, boolean accumulate) {
        if (w.dtype() != DType.BF16) {
            throw new IllegalArgumentException("the native bf16 kernel takes bf16 weights, " + w.name() + " is "
                    + w.dtype());
        }
        if (m <= 0 || r1 <= r0) {
            return;
        }
        int n = w.cols();
        int p = MatVecKernels.P;
        Objects.checkFromToIndex(r0, r1, w.rows());
        Objects.checkFromIndexSize(xbOff, m * n, xb.length);
        int lo = outOff + (pairOut ? r0 / p * p : r0);
        long hi = outOff + (long) (m - 1) * outStride + (pairOut ? Math.min(w.rows(), (r1 + p - 1) / p * p) : r1);
        Objects.checkFromToIndex(lo, (int) Math.min(hi, Integer.MAX_VALUE), out.length);
        NativeInt8.HeapSegments seg = NativeInt8.SEGMENTS.get();
        try {
            NativeInt8.BF16_ROWS.invokeExact(w.data(), w.rows(), n, r0, r1, seg.of(xb, 3), (long) xbOff, m,
                    seg.of(out, 2), (long) outOff, (long) outStride, pairOut ? Lanes.L : 0, accumulate ? 1 : 0);
        } catch (Throwable t) {
            throw new IllegalStateException("native bf16 kernel failed on " + w.name() + ": " + t, t);
        }
    }
}
