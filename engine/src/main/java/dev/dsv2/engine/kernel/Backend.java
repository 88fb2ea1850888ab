package dev.dsv2.engine.kernel;

import java.lang.foreign.Arena;
import java.util.function.IntConsumer;

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
 * <h2>Operations and their CUDA kernels (engine-cuda: CudaBackend, kernels in src/main/cuda)</h2>
 * <pre>
 *   embed                 forward.cu: embed_bf16 (row gather of the bf16 table)
 *   ropeTables            computed on the host as the CPU does, one copy up
 *   mlaCacheWrite         forward.cu: mla_cache_write (kv_a RMSNorm into the paged slot, rope of k_pe and q_pe)
 *   rmsNorm, rmsNormRows  norm_rope.cu: rms_norm_f32 (forward.cu: gather_rows first for the gathered form)
 *   matmul                gemv.cu: gemv_bf16 (up to 64 rows, 8 per pass), gemm.cu: gemm_bf16_tc (more rows)
 *   mlaAbsorbed           forward.cu: gather_rows; gemv.cu: gemv_t_bf16_heads (W_UK absorb); mla_decode.cu:
 *                         mla_decode_partial_offsets + mla_decode_combine (split-K over the offset list);
 *                         gemv.cu: gemv_bf16_heads (W_UV); forward.cu: scatter_rows
 *   mlaExpanded           forward.cu: gather_offsets; matmul (kv_b expansion); forward.cu: mla_expand_keys;
 *                         prefill_attention.cu: prefill_attention_f32
 *   moeGate               matmul (gate logits), gate_sample.cu: moe_gate_topk; only ids and weights come back
 *   swiGlu                swiglu.cu: swiglu_gate_up, swiglu_down, swiglu_combine
 *   addResidual, zero     forward.cu: add_f32; cuMemsetD32
 *   hostView (logits)     a download (gate_sample.cu's argmax_rows, topk_logprobs, sample_topk are not used yet);
 *                         the host backends hand their own array over
 * </pre>
 *
 * <p>This interface holds buffers and buffer operations only. The host backends build the operations from the
 * <b>array kernels</b> of {@link dev.dsv2.engine.kernel.cpu.HostKernels} (which the self-check, differential tests,
 * benchmarks and the host paths of expert shards call directly); a device backend has none.
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

    /**
     * {@code {free, total}} bytes of the device memory this backend's buffers live in (the latent cache is sized
     * from it), or null for host memory.
     */
    default long[] deviceMemory() {
        return null;
    }

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

    /**
     * Fused SwiGLU feed-forward of grouped rows: for every group g of {@code groups} and each of its entries (row,
     * scale), {@code out[row] += scale · down_g(silu(gate_g(x[row])) ⊙ up_g(x[row]))} (rows of
     * {@code D = groups.hiddenSize()} values from 0). Each group's weights are read once for all its rows. A dense
     * MLP is one group over every row with scale 1.
     */
    void swiGlu(ExpertGroups groups, Buffer x, Buffer out);

    /** Threads this backend computes on. */
    default int threads() {
        return 1;
    }

    /**
     * Runs {@code body} for every index of {@code [0, n)}, on this backend's host threads where it has a pool of them
     * (host backends), else on the calling thread: host-side work between two operations of the forward pass, such
     * as sampling each sequence of a batch from its logits row. Returns once every index has run; a failure of
     * {@code body} is thrown here (bodies that must not fail the others catch their own).
     */
    default void forEachOnHost(int n, IntConsumer body) {
        for (int i = 0; i < n; i++) {
            body.accept(i);
        }
    }

    /** Backends that own threads or devices release them here. */
    @Override
    default void close() {
    }
}
