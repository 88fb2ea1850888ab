package dev.dsv2.engine.cuda;

/**
 * Typed launches of the kernels in {@code src/main/cuda}: one method per kernel, with the grid and block each
 * kernel's comment asks for and the shape limits checked on the host (a kernel never sees a shape it cannot handle).
 * Shapes and argument meanings are those of the .cu sources; all launches are asynchronous on the default stream.
 */
final class CudaKernels {
    static final int GEMV_MAX_BATCH = 8;
    static final int WARPS_PER_BLOCK = 8;
    static final int MLA_HEADS = 8;
    static final int MLA_DK_MAX = 576;
    static final int MLA_DV_MAX = 512;
    static final int PA_QUERIES = 8;
    static final int PA_DK_MAX = 192;
    static final int PA_DV_MAX = 128;
    static final int GATE_MAX_EXPERTS = 1024;
    static final int TOPK_MAX = 64;

    private final CudaContext cx;

    CudaKernels(CudaContext cx) {
        this.cx = cx;
    }

    static int[] dim(int x, int y, int z) {
        return new int[]{x, y, z};
    }

    static int ceil(int a, int b) {
        return (a + b - 1) / b;
    }

    private static void require(boolean ok, String what) {
        if (!ok) {
            throw new IllegalArgumentException(what);
        }
    }

    /** Decode GEMV: out[b, r] = x[b] . W[r] for b < batch <= 8. */
    void gemv(DeviceBuffer x, int xStride, DeviceBuffer w, int rows, int cols, DeviceBuffer out, int outStride,
              int batch) {
        require(cols % 8 == 0, "gemv_bf16: cols " + cols + " must be a multiple of 8");
        require(batch >= 1 && batch <= GEMV_MAX_BATCH, "gemv_bf16: batch " + batch + " outside 1.." + GEMV_MAX_BATCH);
        require(xStride % 4 == 0, "gemv_bf16: x row stride " + xStride + " must be a multiple of 4 (float4 loads)");
        cx.launch("gemv", "gemv_bf16", dim(ceil(rows, WARPS_PER_BLOCK), 1, 1), dim(32, WARPS_PER_BLOCK, 1),
                x, xStride, w, rows, cols, out, outStride, batch);
    }

    /** Tensor-core GEMM: out[m, n] = bf16(x[m]) . W[n], any M. */
    void gemm(DeviceBuffer x, int xStride, DeviceBuffer w, DeviceBuffer out, int outStride, int m, int n, int k) {
        require(k % 8 == 0 && xStride % 4 == 0, "gemm_bf16_tc: K " + k + " must be a multiple of 8 and the x stride "
                + xStride + " of 4");
        cx.launch("gemm", "gemm_bf16_tc", dim(ceil(n, 64), ceil(m, 64), 1), dim(128, 1, 1),
                x, xStride, w, out, outStride, m, n, k);
    }

    /** Absorbed query: out[b, h, c] = sum_r x[b, h, r] W[h*headRows + rowOffset + r, c], r < n. */
    void gemvTransposedHeads(DeviceBuffer x, int xStride, int xHeadStride, DeviceBuffer w, int cols, int headRows,
                             int rowOffset, int n, DeviceBuffer out, int outStride, int outHeadStride, int batch,
                             int heads) {
        cx.launch("gemv", "gemv_t_bf16_heads", dim(ceil(cols, 256), heads, 1), dim(256, 1, 1),
                x, xStride, xHeadStride, w, cols, headRows, rowOffset, n, out, outStride, outHeadStride, batch);
    }

    /** Per-head GEMV: out[b, h, j] = x[b, h] . W[h*headRows + rowOffset + j], j < n. */
    void gemvHeads(DeviceBuffer x, int xStride, int xHeadStride, DeviceBuffer w, int cols, int headRows,
                   int rowOffset, int n, DeviceBuffer out, int outStride, int outHeadStride, int batch, int heads) {
        require(cols % 8 == 0, "gemv_bf16_heads: cols " + cols + " must be a multiple of 8");
        cx.launch("gemv", "gemv_bf16_heads", dim(ceil(n, WARPS_PER_BLOCK), heads, 1), dim(32, WARPS_PER_BLOCK, 1),
                x, xStride, xHeadStride, w, cols, headRows, rowOffset, n, out, outStride, outHeadStride, batch);
    }

    /** Grouped SwiGLU, see swiglu.cu; {@code plan} holds the groups' device arrays. */
    void swiGlu(DeviceBuffer x, int d, int inter, SwiGluPlan plan, DeviceBuffer out) {
        require(d % 8 == 0 && inter % 8 == 0, "swiglu: D " + d + " and I " + inter + " must be multiples of 8");
        cx.launch("swiglu", "swiglu_gate_up", dim(ceil(inter, WARPS_PER_BLOCK), plan.groups(), 1),
                dim(32, WARPS_PER_BLOCK, 1), x, d, plan.gates(), plan.ups(), inter, plan.starts(), plan.rows(),
                plan.hidden());
        cx.launch("swiglu", "swiglu_down", dim(ceil(d, WARPS_PER_BLOCK), plan.groups(), 1),
                dim(32, WARPS_PER_BLOCK, 1), plan.hidden(), inter, plan.downs(), d, plan.starts(), plan.scales(),
                plan.y());
        cx.launch("swiglu", "swiglu_combine", dim(ceil(d, 256), plan.distinctRows(), 1), dim(256, 1, 1),
                plan.y(), d, plan.rowIds(), plan.rowEntryStarts(), plan.rowEntries(), out);
    }

    void rmsNorm(DeviceBuffer x, int xStride, DeviceBuffer w, float eps, DeviceBuffer out, int outStride, int n,
                 int rows) {
        cx.launch("norm_rope", "rms_norm_f32", dim(rows, 1, 1), dim(256, 1, 1), x, xStride, w, eps, out, outStride, n);
    }

    void rope(DeviceBuffer v, int rowStride, int headStride, int rows, int heads, DeviceBuffer positions,
              DeviceBuffer invFreq, float scale, int dim) {
        require(dim % 2 == 0 && dim <= 256, "rope_yarn: dim " + dim + " must be even and <= 256");
        cx.launch("norm_rope", "rope_yarn", dim(ceil(rows * heads, WARPS_PER_BLOCK), 1, 1),
                dim(32, WARPS_PER_BLOCK, 1), v, rowStride, headStride, rows, heads, positions, invFreq, scale, dim);
    }

    /**
     * Absorbed MLA decode over the paged cache with {@code splits} sequence splits of {@code chunk} tokens
     * (splits * chunk >= the longest sequence); {@code part*} are scratch of [n, heads, splits(, dv)].
     */
    void mlaDecode(DeviceBuffer q, int qStride, int qHeadStride, DeviceBuffer cache, DeviceBuffer blockTables,
                   int maxBlocks, DeviceBuffer seqLens, int blockSize, int dk, int dv, int heads, float scale,
                   int n, int splits, int chunk, DeviceBuffer partAcc, DeviceBuffer partMax, DeviceBuffer partSum,
                   DeviceBuffer out, int outStride, int outHeadStride) {
        require(dk % 4 == 0 && dk <= MLA_DK_MAX && dv % 32 == 0 && dv <= MLA_DV_MAX && dv <= dk,
                "mla_decode: dk " + dk + " (<= 576, % 4) and dv " + dv + " (<= 512, % 32, <= dk) out of range");
        cx.launch("mla_decode", "mla_decode_partial", dim(splits, ceil(heads, MLA_HEADS), n), dim(32 * MLA_HEADS, 1, 1),
                q, qStride, qHeadStride, cache, blockTables, maxBlocks, seqLens, blockSize, dk, dv, heads, scale,
                chunk, partAcc, partMax, partSum);
        cx.launch("mla_decode", "mla_decode_combine", dim(n * heads, 1, 1), dim(128, 1, 1),
                partAcc, partMax, partSum, splits, dv, out, outStride, outHeadStride, heads);
    }

    void prefillAttention(DeviceBuffer q, int qStride, int qHeadStride, DeviceBuffer k, int kStride, int kHeadStride,
                          DeviceBuffer v, int vStride, int vHeadStride, int nq, int nk, int dk, int dv,
                          int causalOffset, float scale, DeviceBuffer out, int outStride, int outHeadStride,
                          int heads) {
        require(dk <= PA_DK_MAX && dv <= PA_DV_MAX, "prefill_attention_f32: dk " + dk + " > " + PA_DK_MAX
                + " or dv " + dv + " > " + PA_DV_MAX);
        cx.launch("prefill_attention", "prefill_attention_f32", dim(ceil(nq, PA_QUERIES), heads, 1),
                dim(32 * PA_QUERIES, 1, 1), q, qStride, qHeadStride, k, kStride, kHeadStride, v, vStride,
                vHeadStride, nq, nk, dk, dv, causalOffset, scale, out, outStride, outHeadStride);
    }

    void gateTopK(DeviceBuffer logits, int rows, int experts, int topK, boolean groupLimited, int nGroup,
                  int topkGroup, boolean normTopk, float scaling, DeviceBuffer ids, DeviceBuffer weights) {
        require(experts <= GATE_MAX_EXPERTS && topK <= 8 && (!groupLimited || (nGroup <= 64
                && experts % nGroup == 0)), "moe_gate_topk: " + experts + " experts (<= 1024), top-" + topK
                + " (<= 8), " + nGroup + " groups (<= 64, dividing the experts)");
        cx.launch("gate_sample", "moe_gate_topk", dim(rows, 1, 1), dim(256, 1, 1), logits, experts, topK,
                groupLimited ? 1 : 0, nGroup, topkGroup, normTopk ? 1 : 0, scaling, ids, weights);
    }

    void argmax(DeviceBuffer logits, int rowStride, int vocab, int rows, DeviceBuffer out) {
        cx.launch("gate_sample", "argmax_rows", dim(rows, 1, 1), dim(1024, 1, 1), logits, rowStride, vocab, out);
    }

    void topkLogprobs(DeviceBuffer logits, int rowStride, int vocab, int rows, int k, DeviceBuffer ids,
                      DeviceBuffer logprobs) {
        require(k >= 1 && k <= TOPK_MAX, "topk_logprobs: k " + k + " outside 1.." + TOPK_MAX);
        cx.launch("gate_sample", "topk_logprobs", dim(rows, 1, 1), dim(1024, 1, 1), logits, rowStride, vocab, k,
                ids, logprobs);
    }

    /** Top-k (+ top-p) draw from ranked ids (topk_logprobs' output) with one uniform {@code u[row]} per row. */
    void sampleTopK(DeviceBuffer logits, int rowStride, DeviceBuffer rankedIds, int k, double invTemperature,
                    double topP, DeviceBuffer uniforms, int rows, DeviceBuffer out) {
        require(k >= 1 && k <= TOPK_MAX, "sample_topk: k " + k + " outside 1.." + TOPK_MAX);
        cx.launch("gate_sample", "sample_topk", dim(ceil(rows, 128), 1, 1), dim(128, 1, 1), logits, rowStride,
                rankedIds, k, invTemperature, topP, uniforms, rows, out);
    }
}
