package dev.dsv2.engine.kernel;

import java.lang.foreign.Arena;

/**
 * The device seam: everything the forward pass does per token is an operation of this interface on backend-owned
 * {@link Buffer}s, so that the model code never changes between the scalar oracle ({@code kernel.scalar}), the CPU
 * Vector API backend ({@code kernel.cpu}) and a GPU backend ({@code dev.dsv2.engine.cuda} in engine-cuda). The model
 * code composes these operations; it never touches element storage, never runs threads of its own, and keeps only
 * small host metadata (token ids, positions, cache slot offsets, routing ids and weights) in host arrays.
 *
 * <h2>Who owns what</h2>
 * <ul>
 *   <li>Activations and workspace slots: buffers from {@link #allocate}, held by the caller's workspace.</li>
 *   <li>The paged latent cache: one buffer per layer, from {@link #allocate}; block tables stay host metadata.</li>
 *   <li>Weights: {@link #weight} turns a mapped checkpoint tensor into this backend's {@link Weight} (host backends:
 *       the mapped tensor itself, or its int8 quantization); norm weights through {@link #constant}.</li>
 *   <li>Intermediates inside one operation (gathered queries, expanded keys, gate scores): the backend's own
 *       scratch, per calling thread.</li>
 * </ul>
 *
 * <h2>Operations and their CUDA kernels (engine-cuda/src/main/cuda)</h2>
 * <pre>
 *   embed                 row gather of the bf16 table (gemv.cu helpers; a plain copy kernel)
 *   ropeTables, mlaCacheWrite
 *                         norm_rope.cu: rms_norm_f32 (kv_a latent into the paged slot), rope_yarn (k_pe, q_pe)
 *   rmsNorm, rmsNormRows  norm_rope.cu: rms_norm_f32
 *   matmul                gemv.cu: gemv_bf16 (decode rows), gemm.cu: gemm_bf16_tc (prefill / batched decode)
 *   mlaAbsorbed           gemv.cu: gemv_t_bf16_heads (W_UK absorb), mla_decode.cu: mla_decode_partial +
 *                         mla_decode_combine (split-K paged attention), gemv.cu: gemv_bf16_heads (W_UV)
 *   mlaExpanded           gemm.cu: gemm_bf16_tc (kv_b expansion), prefill_attention.cu: prefill_attention_f32
 *   moeGate               gemv.cu / gemm.cu (gate logits), gate_sample.cu: moe_gate_topk
 *   swiGlu                swiglu.cu: swiglu_gate_up, swiglu_down, swiglu_combine
 *   addResidual, zero     trivial element-wise kernels
 *   hostView (logits)     gate_sample.cu: argmax_rows, topk_logprobs, sample_topk keep sampling on the device;
 *                         the host backends hand their own array over
 * </pre>
 *
 * <p>Below the buffer operations are the <b>array kernels</b> the host backends build them from (and the self-check,
 * differential tests and benchmarks call directly): a matrix argument is an array, an offset and a row stride (in
 * floats); {@code W[r, c]} is element {@code (r, c)} of a weight {@code [rows = out_features, cols = in_features]}.
 */
public interface Backend extends AutoCloseable {

    String name();

    // ---- buffers and weights ----

    /** A buffer of {@code floats} values, zeroed. */
    Buffer allocate(long floats);

    /** Copies {@code src[srcOff, srcOff + n)} into {@code dst} from {@code dstOff}. */
    void upload(float[] src, int srcOff, Buffer dst, long dstOff, int n);

    /** Copies {@code n} values of {@code src} from {@code srcOff} into {@code dst[dstOff..]}. */
    void download(Buffer src, long srcOff, float[] dst, int dstOff, int n);

    /** A buffer holding {@code values} for good (norm weights): host backends wrap the array, devices upload it. */
    Buffer constant(float[] values);

    /**
     * This backend's form of a weight mapped from a checkpoint: {@code stored} as it is, or quantized to int8 into
     * {@code arena} when {@code quantizeInt8}. Host backends return the mapped tensor itself (or its int8 form); a
     * device backend uploads it.
     */
    Weight weight(Weight stored, boolean quantizeInt8, Arena arena);

    /**
     * A host array whose {@code [0, n)} holds {@code b}'s first {@code n} values: host backends return the buffer's
     * own array (no copy), a device downloads. The logits hand-off to the sampler and the host side of remote
     * experts use it.
     */
    float[] hostView(Buffer b, int n);

    /** Writes back a {@link #hostView} the caller changed: nothing to do on host backends, an upload on a device. */
    void commitHostView(float[] view, Buffer b, int n);

    /** Whether buffers live in host memory, so that {@link #hostView} and {@link #wrapHost} make no copies. */
    boolean hostMemory();

    /**
     * A buffer holding {@code host[0, n)}: host backends alias the array (no copy), a device copies it up. Close it
     * after use; {@link #unwrapHost} brings results back.
     */
    Buffer wrapHost(float[] host, int n);

    /** Makes {@code host[0, n)} hold {@code b}'s values: nothing for an alias from {@link #wrapHost}, else a download. */
    void unwrapHost(Buffer b, float[] host, int n);

    // ---- the forward pass's operations, on buffers (rows are row-major, offsets and strides in floats) ----

    /** {@code b[off, off + n) = 0}. */
    void zero(Buffer b, long off, long n);

    /** Row {@code tokens[r]} of the embedding {@code table [V, D]} into row r of {@code out [rows, D]}. */
    void embed(Weight table, int[] tokens, int rows, Buffer out);

    /**
     * The YaRN rope tables of every row: for frequency i at {@code positions[r]}, {@code cos(pos·invFreq[i])·scale}
     * and {@code sin(..)·scale} into row r of {@code cs} (rows of {@code 2·dim} floats: cos half, sin half, then room
     * for the rotation's temporary); {@code dim = 2·invFreq.length}.
     */
    void ropeTables(float[] invFreq, float scale, int[] positions, int rows, Buffer cs);

    /**
     * RMSNorm of {@code rows} rows of {@code dim} values: {@code out[r] = weight · x[r] / sqrt(mean(x[r]²) + eps)},
     * row r of x at {@code xOff + r·xStride}, of out at {@code outOff + r·outStride}.
     */
    void rmsNorm(Buffer x, int xOff, int xStride, Buffer weight, int dim, float eps, Buffer out, int outOff,
                 int outStride, int rows);

    /** RMSNorm of the gathered rows {@code x[rowIdx[i]]} ({@code [*, dim]}) into row i of {@code out [n, dim]}. */
    void rmsNormRows(Buffer x, int[] rowIdx, int n, Buffer weight, int dim, float eps, Buffer out);

    /** {@code out [rows, w.rows] = x [rows, w.cols] · Wᵀ}. */
    void matmul(Weight w, Buffer x, Buffer out, int rows);

    /** The residual: {@code y[0, n) += x[0, n)}. */
    void addResidual(Buffer x, Buffer y, int n);

    /**
     * The MLA cache write of every row r of {@code kva [rows, Ckv + dr]}: {@code c_kv = kvNorm(kva[r, :Ckv])} and
     * {@code k_pe = rope(kva[r, Ckv:])} into the cache entry at {@code cache[slots[r]]}, and rope of every head's
     * {@code q_pe} in {@code q [rows, H·dq]} in place; {@code cs} holds the rows' {@link #ropeTables}.
     */
    void mlaCacheWrite(MlaShape s, Buffer kva, int rows, Buffer kvNorm, float eps, Buffer cs, Buffer q,
                       Buffer cache, int[] slots);

    /**
     * Absorbed MLA decode attention of rows {@code rowIdx[0, n)} of {@code q [R, H·dq]} over the paged latent cache:
     * per head {@code q_lat = W_UKᵀ q_nope} ({@code wUk[h] [dn, Ckv]}), attention over the row's entries (cache
     * offsets {@code ctxOffsets[ctxStarts[j], ctxStarts[j + 1])}), {@code W_UV ctx} ({@code wUv[h] [dv, Ckv]}) into
     * row {@code rowIdx[j]} of {@code out [R, H·dv]}.
     */
    void mlaAbsorbed(MlaShape s, Weight[] wUk, Weight[] wUv, Buffer q, int[] rowIdx, int n, int[] ctxOffsets,
                     int[] ctxStarts, Buffer cache, Buffer out);

    /**
     * Expanded MLA prefill attention of one segment: rows {@code [start, start + length)} of {@code q} at positions
     * from {@code startPos}, over the {@code ctxLen} cache entries at {@code ctxOffsets}: the latent expanded by
     * {@code kvB [H·(dn+dv), Ckv]} into keys and values, causal attention into the rows of {@code out [R, H·dv]}.
     */
    void mlaExpanded(MlaShape s, Weight kvB, Buffer q, int start, int length, int startPos, int[] ctxOffsets,
                     int ctxLen, Buffer cache, Buffer out);

    /**
     * The MoE gate of {@code rows} rows of {@code x [rows, D]}: logits {@code W x}, then {@code routing}'s softmax and
     * top-k into the host routing metadata {@code ids/weights [rows, topK]}.
     */
    void moeGate(Weight w, MoeRouting routing, Buffer x, int rows, int[] ids, float[] weights);

    /** {@link #swiGlu(ExpertGroups, float[], int, float[], int)} on buffers, rows from 0. */
    void swiGlu(ExpertGroups groups, Buffer x, Buffer out);

    // ---- array kernels (host backends; self-check, tests, benchmarks) ----

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


    /** Threads this backend computes on. */
    default int threads() {
        return 1;
    }

    /** Backends that own threads or devices release them here. */
    @Override
    default void close() {
    }
}
