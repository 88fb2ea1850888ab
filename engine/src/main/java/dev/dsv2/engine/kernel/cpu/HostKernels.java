package dev.dsv2.engine.kernel.cpu;

import dev.dsv2.engine.kernel.ExpertGroups;
import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.kernel.Widen;

/**
 * The array kernels of the host backends ({@link HostBackend}: the Vector API backend and the scalar oracle): the
 * operations on host {@code float[]} that the buffer operations of {@link dev.dsv2.engine.kernel.Backend} are built
 * from, and that the kernel self-check, the differential tests, the benchmarks and the host paths of expert shards
 * call directly. A device backend does not implement them: {@code Backend} is buffers and buffer operations only.
 *
 * <p>A matrix argument is an array, an offset and a row stride (in floats); {@code W[r, c]} is element {@code (r, c)}
 * of a weight {@code [rows = out_features, cols = in_features]}.
 */
public interface HostKernels {

    /**
     * {@code out[outOff + b·outStride + r] = Σ_c x[xOff + b·xStride + c] · W[r, c]} for {@code b < batch},
     * {@code r < w.rows()}.
     */
    void matmul(Weight w, float[] x, int xOff, int xStride, float[] out, int outOff, int outStride, int batch);

    /** {@link #matmul(Weight, float[], int, int, float[], int, int, int)} on contiguous rows: x {@code [batch, w.cols]}, out {@code [batch, w.rows]}. */
    default void matmul(Weight w, float[] x, int xOff, float[] out, int outOff, int batch) {
        matmul(w, x, xOff, w.cols(), out, outOff, w.rows(), batch);
    }

    /**
     * The transposed product used to absorb {@code W_UK} into the query:
     * {@code out[outOff + b·outStride + c] = Σ_r x[xOff + b·xStride + r] · W[r, c]} for {@code b < batch},
     * {@code c < w.cols()}.
     */
    void matmulTransposed(Weight w, float[] x, int xOff, int xStride, float[] out, int outOff, int outStride,
                          int batch);

    /** {@code out[c] = Σ_r x[r] · W[r, c]} for one vector {@code x [w.rows]}. */
    default void matmulTransposed(Weight w, float[] x, int xOff, float[] out, int outOff) {
        matmulTransposed(w, x, xOff, w.rows(), out, outOff, w.cols(), 1);
    }

    /**
     * Fused SwiGLU feed-forward of grouped rows: for every group g of {@code groups} and each of its entries (row,
     * scale), {@code out[row] += scale · down_g(silu(gate_g(x[row])) ⊙ up_g(x[row]))}, where row r of {@code x} and
     * {@code out} starts at {@code xOff + r·D} / {@code outOff + r·D} ({@code D = groups.hiddenSize()}). Each group's
     * weights are read once for all its rows. A dense MLP is one group over every row with scale 1.
     */
    void swiGlu(ExpertGroups groups, float[] x, int xOff, float[] out, int outOff);

    /**
     * Causal softmax attention of {@code nq} queries of one head over keys given transposed (the expanded MLA
     * prefill): query i sees keys {@code t < min(nk, causalOffset + i + 1)};
     * {@code s[i, t] = scale · Σ_d q[i, d] · kT[d, t]}, {@code out[i, :] = Σ_t softmax(s[i])_t · v[t, :]}.
     * Shapes: q {@code [nq, dk]}, kT {@code [dk, nk]}, v {@code [nk, dv]}, out {@code [nq, dv]}.
     */
    void causalAttention(float[] q, int qOff, int qStride, int nq, int dk,
                         float[] kT, int kTOff, int kTStride, int nk,
                         float[] v, int vOff, int vStride, int dv,
                         int causalOffset, float scale, float[] out, int outOff, int outStride);

    /**
     * Multi-query softmax attention over paged cache entries (the absorbed MLA decode): {@code nq} queries (heads)
     * share the keys and values of {@code n} entries; entry t starts at {@code cache[offs[offsOff + t]]}, its key is
     * the first {@code dk} values and its value the first {@code dv}. {@code out[i, :] = Σ_t softmax_t(scale · q[i] ·
     * key_t) · value_t}. Shapes: q {@code [nq, dk]}, out {@code [nq, dv]}.
     */
    void pagedAttention(float[] q, int qOff, int qStride, int nq, int dk, float[] cache, int[] offs, int offsOff,
                        int n, int dv, float scale, float[] out, int outOff, int outStride);

    /** In-place softmax of {@code v[off, off + n)} (max-subtracted). */
    void softmax(float[] v, int off, int n);

    /** RMSNorm of one vector: {@code out[i] = weight[i] · x[i] / sqrt(mean(x²) + eps)}, {@code i < weight.length}. */
    void rmsNorm(float[] x, int xOff, float[] weight, float eps, float[] out, int outOff);

    /** {@code Σ_i a[aOff + i] · b[bOff + i]} over {@code n} elements. */
    float dot(float[] a, int aOff, float[] b, int bOff, int n);

    /** {@code y[yOff + i] += alpha · x[xOff + i]} over {@code n} elements. */
    void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n);

    /** Widens row {@code row} of {@code w} (e.g. an embedding) into {@code out[outOff, outOff + w.cols)}. */
    default void readRow(Weight w, int row, float[] out, int outOff) {
        if (w.isInt8()) {
            for (int c = 0; c < w.cols(); c++) {
                out[outOff + c] = w.get(row, c);
            }
            return;
        }
        Widen.readRange(w.dtype(), w.data(), (long) row * w.cols(), out, outOff, w.cols());
    }


}
