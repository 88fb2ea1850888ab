// Absorbed MLA decode attention over the paged latent cache (MlaAttention.absorbed, Backend.pagedAttention).
//
// Glossary: n decode rows, H heads, dk = 576 = kv_lora_rank 512 + rope 64 (a cache entry is [c_kv | k_pe]),
// dv = 512 (the value is the entry's c_kv part), blocks of blockSize (64) tokens; row b's token t lives in physical
// block blockTables[b * maxBlocks + t / blockSize] at slot t % blockSize; the layer's cache is float32
// [numBlocks * blockSize, dk]. Query q[b, h] = [W_UK^T q_nope | q_pe] (dk values). Row b attends to its
// seqLens[b] = position + 1 tokens:
//   ctx[b, h] = sum_t softmax_t(scale * q[b, h] . entry_t) * entry_t[0, dv).
// Split-K (FlashDecoding / FlashMLA style): mla_decode_partial covers `chunk` tokens per split with an online softmax
// and writes (max, sum, acc[dv]) per (row, head, split); mla_decode_combine merges the splits. Heads of a block share
// every cache tile they load (MLA_HEADS heads = warps per block), so the cache is read once per head group.
#include "common.cuh"

#define MLA_HEADS 8      // warps per block, one head each
#define MLA_TILE 16      // tokens per shared-memory tile
#define MLA_DK_MAX 576
#define MLA_DV_MAX 512

// Where token t of row b starts in the cache: through a block table (vLLM style) or a flat offset list (the
// engine's LatentKvCache: row b's entries at offs[starts[b] .. starts[b + 1])).
struct BlockTableAddr {
    const int* blockTables;
    int maxBlocks, blockSize, dk;
    __device__ size_t operator()(int b, int t) const {
        int phys = blockTables[(size_t) b * maxBlocks + t / blockSize];
        return ((size_t) phys * blockSize + t % blockSize) * dk;
    }
};

struct OffsetListAddr {
    const int* offs;
    const int* starts;
    __device__ size_t operator()(int b, int t) const { return (size_t) offs[starts[b] + t]; }
};

// grid = (splits, ceil(H / MLA_HEADS), n), block = 32 * MLA_HEADS.
// partAcc [n, H, splits, dv], partMax / partSum [n, H, splits]. dk % 4 == 0, dk <= 576, dv <= 512, dv % 32 == 0
// (and, for the offset list, every entry offset a multiple of 4).
template <typename Addr>
__device__ __forceinline__ void mla_partial(
        const float* __restrict__ q, int qStride, int qHeadStride, const float* __restrict__ cache, Addr addr,
        int len, int dk, int dv, int heads, float scale, int chunk, float* __restrict__ partAcc,
        float* __restrict__ partMax, float* __restrict__ partSum) {
    __shared__ __align__(16) float tile[MLA_TILE * MLA_DK_MAX];
    int split = blockIdx.x, splits = gridDim.x, b = blockIdx.z;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int h = blockIdx.y * MLA_HEADS + warp;
    bool active = h < heads;
    int begin = split * chunk, end = min(len, begin + chunk);

    float qr[MLA_DK_MAX / 32];
#pragma unroll
    for (int k = 0; k < MLA_DK_MAX / 32; k++) {
        int d = lane + 32 * k;
        qr[k] = active && d < dk ? q[(size_t) b * qStride + (size_t) h * qHeadStride + d] : 0.f;
    }
    float acc[MLA_DV_MAX / 32];
#pragma unroll
    for (int j = 0; j < MLA_DV_MAX / 32; j++) acc[j] = 0.f;
    float m = -INFINITY, l = 0.f;

    for (int t0 = begin; t0 < end; t0 += MLA_TILE) {
        int nt = min(MLA_TILE, end - t0);
        int quads = dk / 4;
        for (int idx = threadIdx.x; idx < nt * quads; idx += blockDim.x) {
            int tok = idx / quads, d4 = (idx % quads) * 4;
            size_t off = addr(b, t0 + tok) + d4;
            *reinterpret_cast<float4*>(&tile[tok * dk + d4]) = *reinterpret_cast<const float4*>(cache + off);
        }
        __syncthreads();
        if (active) {
            float s[MLA_TILE];
            float tmax = -INFINITY;
#pragma unroll
            for (int tok = 0; tok < MLA_TILE; tok++) {
                if (tok < nt) {
                    float part = 0.f;
#pragma unroll
                    for (int k = 0; k < MLA_DK_MAX / 32; k++) {
                        int d = lane + 32 * k;
                        if (d < dk) part += qr[k] * tile[tok * dk + d];
                    }
                    s[tok] = warp_sum(part) * scale;
                    tmax = fmaxf(tmax, s[tok]);
                }
            }
            float mNew = fmaxf(m, tmax);
            float corr = expf(m - mNew);  // m = -inf on the first tile: corr = 0
            l *= corr;
#pragma unroll
            for (int j = 0; j < MLA_DV_MAX / 32; j++) acc[j] *= corr;
#pragma unroll
            for (int tok = 0; tok < MLA_TILE; tok++) {
                if (tok < nt) {
                    float p = expf(s[tok] - mNew);
                    l += p;
#pragma unroll
                    for (int j = 0; j < MLA_DV_MAX / 32; j++) {
                        int c = lane + 32 * j;
                        if (c < dv) acc[j] += p * tile[tok * dk + c];
                    }
                }
            }
            m = mNew;
        }
        __syncthreads();
    }
    if (!active) return;
    size_t part = ((size_t) b * heads + h) * splits + split;
    if (lane == 0) {
        partMax[part] = m;
        partSum[part] = l;
    }
#pragma unroll
    for (int j = 0; j < MLA_DV_MAX / 32; j++) {
        int c = lane + 32 * j;
        if (c < dv) partAcc[part * dv + c] = acc[j];
    }
}

extern "C" __global__ void __launch_bounds__(32 * MLA_HEADS) mla_decode_partial(
        const float* __restrict__ q, int qStride, int qHeadStride, const float* __restrict__ cache,
        const int* __restrict__ blockTables, int maxBlocks, const int* __restrict__ seqLens, int blockSize, int dk,
        int dv, int heads, float scale, int chunk, float* __restrict__ partAcc, float* __restrict__ partMax,
        float* __restrict__ partSum) {
    mla_partial(q, qStride, qHeadStride, cache, BlockTableAddr{blockTables, maxBlocks, blockSize, dk},
                seqLens[blockIdx.z], dk, dv, heads, scale, chunk, partAcc, partMax, partSum);
}

// The same over a flat offset list (Backend.mlaAbsorbed's ctxOffsets / ctxStarts).
extern "C" __global__ void __launch_bounds__(32 * MLA_HEADS) mla_decode_partial_offsets(
        const float* __restrict__ q, int qStride, int qHeadStride, const float* __restrict__ cache,
        const int* __restrict__ offs, const int* __restrict__ starts, int dk, int dv, int heads, float scale,
        int chunk, float* __restrict__ partAcc, float* __restrict__ partMax, float* __restrict__ partSum) {
    int b = blockIdx.z;
    mla_partial(q, qStride, qHeadStride, cache, OffsetListAddr{offs, starts}, starts[b + 1] - starts[b], dk, dv,
                heads, scale, chunk, partAcc, partMax, partSum);
}

// grid = n * H, block = 128. ctx[b, h] at out + b*outStride + h*outHeadStride. Splits that saw no token (sum 0) drop out.
extern "C" __global__ void mla_decode_combine(const float* __restrict__ partAcc, const float* __restrict__ partMax,
                                              const float* __restrict__ partSum, int splits, int dv,
                                              float* __restrict__ out, int outStride, int outHeadStride, int heads) {
    int bh = blockIdx.x;
    int b = bh / heads, h = bh % heads;
    const float* pm = partMax + (size_t) bh * splits;
    const float* ps = partSum + (size_t) bh * splits;
    float M = -INFINITY;
    for (int s = 0; s < splits; s++) if (ps[s] > 0.f) M = fmaxf(M, pm[s]);
    float L = 0.f;
    for (int s = 0; s < splits; s++) if (ps[s] > 0.f) L += ps[s] * expf(pm[s] - M);
    float inv = 1.0f / L;
    for (int c = threadIdx.x; c < dv; c += blockDim.x) {
        float acc = 0.f;
        for (int s = 0; s < splits; s++) {
            if (ps[s] > 0.f) acc += partAcc[((size_t) bh * splits + s) * dv + c] * expf(pm[s] - M);
        }
        out[(size_t) b * outStride + (size_t) h * outHeadStride + c] = acc * inv;
    }
}
