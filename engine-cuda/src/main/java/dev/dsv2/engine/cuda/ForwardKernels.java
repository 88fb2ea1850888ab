package dev.dsv2.engine.cuda;

import jcuda.driver.CUdeviceptr;

import static dev.dsv2.engine.cuda.CudaKernels.ceil;
import static dev.dsv2.engine.cuda.CudaKernels.dim;

/**
 * Typed launches of forward.cu (the small kernels between the big ones) and of the offset-list MLA decode in
 * mla_decode.cu; the grids and blocks are those the kernels' comments ask for, and shape limits are checked here.
 * Asynchronous on the default stream, like {@link CudaKernels}.
 */
final class ForwardKernels {
    /** Floats of the rope parts of one row (heads · dr) the cache write stages in shared memory. */
    static final int CACHE_WRITE_MAX_PE = 8192;
    private static final int THREADS = 256;
    private static final CUdeviceptr NO_INDEX = new CUdeviceptr();

    private final CudaContext cx;

    ForwardKernels(CudaContext cx) {
        this.cx = cx;
    }

    void embed(DeviceBuffer table, int cols, DeviceBuffer tokens, int rows, DeviceBuffer out) {
        cx.launch("forward", "embed_bf16", dim(ceil(cols, THREADS), rows, 1), dim(THREADS, 1, 1), table, cols,
                tokens, out);
    }

    void add(DeviceBuffer x, DeviceBuffer y, int n) {
        cx.launch("forward", "add_f32", dim(ceil(n, THREADS), 1, 1), dim(THREADS, 1, 1), x, y, n);
    }

    /** {@code dst[j] = src[idx[j]]} for {@code j < n} rows of {@code cols}; {@code idx} null: {@code src[j]}. */
    void gatherRows(DeviceBuffer src, int srcStride, DeviceBuffer idx, int n, int cols, DeviceBuffer dst,
                    int dstStride) {
        cx.launch("forward", "gather_rows", dim(ceil(cols, THREADS), n, 1), dim(THREADS, 1, 1), src, srcStride,
                idx == null ? NO_INDEX : idx, cols, dst, dstStride);
    }

    /** {@code dst[idx[j]] = src[j]} for {@code j < n} rows of {@code cols}. */
    void scatterRows(DeviceBuffer src, int srcStride, DeviceBuffer idx, int n, int cols, DeviceBuffer dst,
                     int dstStride) {
        cx.launch("forward", "scatter_rows", dim(ceil(cols, THREADS), n, 1), dim(THREADS, 1, 1), src, srcStride, idx,
                cols, dst, dstStride);
    }

    /** {@code dst[t] = src[offs[t], + cols)} for {@code t < n}. */
    void gatherOffsets(DeviceBuffer src, DeviceBuffer offs, int n, int cols, DeviceBuffer dst, int dstStride) {
        cx.launch("forward", "gather_offsets", dim(ceil(cols, THREADS), n, 1), dim(THREADS, 1, 1), src, offs, cols,
                dst, dstStride);
    }

    void mlaCacheWrite(DeviceBuffer kva, int kvaDim, DeviceBuffer normW, float eps, DeviceBuffer cs, DeviceBuffer q,
                       int heads, int dq, int dn, DeviceBuffer cache, DeviceBuffer slots, int ckv, int dr, int rows) {
        if (heads * dr > CACHE_WRITE_MAX_PE || dr > 256 || dr % 2 != 0) {
            throw new IllegalArgumentException("mla_cache_write: " + heads + " heads x rope " + dr + " (even, <= 256,"
                    + " heads x rope <= " + CACHE_WRITE_MAX_PE + ")");
        }
        cx.launch("forward", "mla_cache_write", dim(rows, 1, 1), dim(THREADS, 1, 1), kva, kvaDim, normW, eps, cs, q,
                heads, dq, dn, cache, slots, ckv, dr);
    }

    void mlaExpandKeys(DeviceBuffer kv, int dn, int dv, DeviceBuffer cache, DeviceBuffer offs, int ckv, int dr,
                       int heads, int n, DeviceBuffer keys) {
        cx.launch("forward", "mla_expand_keys", dim(n, heads, 1), dim(128, 1, 1), kv, dn, dv, cache, offs, ckv, dr,
                heads, keys);
    }

    /**
     * Absorbed MLA decode over entries at float offsets: row b's entries are {@code offs[starts[b], starts[b+1])};
     * {@code splits · chunk} must cover the longest row; {@code part*} are scratch of [n, heads, splits(, dv)].
     */
    void mlaDecodeOffsets(DeviceBuffer q, int qStride, int qHeadStride, DeviceBuffer cache, DeviceBuffer offs,
                          DeviceBuffer starts, int dk, int dv, int heads, float scale, int n, int splits, int chunk,
                          DeviceBuffer partAcc, DeviceBuffer partMax, DeviceBuffer partSum, DeviceBuffer out,
                          int outStride, int outHeadStride) {
        if (dk % 4 != 0 || dk > CudaKernels.MLA_DK_MAX || dv % 32 != 0 || dv > CudaKernels.MLA_DV_MAX || dv > dk) {
            throw new IllegalArgumentException("mla_decode: dk " + dk + " (<= 576, % 4) and dv " + dv
                    + " (<= 512, % 32, <= dk) out of range");
        }
        int heads8 = CudaKernels.MLA_HEADS;
        cx.launch("mla_decode", "mla_decode_partial_offsets", dim(splits, ceil(heads, heads8), n),
                dim(32 * heads8, 1, 1), q, qStride, qHeadStride, cache, offs, starts, dk, dv, heads, scale, chunk,
                partAcc, partMax, partSum);
        cx.launch("mla_decode", "mla_decode_combine", dim(n * heads, 1, 1), dim(128, 1, 1),
                partAcc, partMax, partSum, splits, dv, out, outStride, outHeadStride, heads);
    }
}
