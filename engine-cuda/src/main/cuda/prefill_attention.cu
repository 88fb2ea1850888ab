// Causal softmax attention of the expanded MLA prefill (Backend.causalAttention), float32, one pass with an online
// softmax (FlashAttention-style) over key tiles in shared memory. Query i of head h sees keys
// t < min(nk, causalOffset + i + 1): s = scale * q[i, h] . k[t, h], out[i, h] = sum_t softmax(s)_t v[t, h].
// Layouts: element (i, h, d) of Q at q + i*qStride + h*qHeadStride + d; K and V alike; out alike. dk <= 192, dv <= 128
// (V2: q/k head dim 192 = 128 nope + 64 rope, v 128). Each warp owns one query; in a tile, lane t scores key t (no
// reductions per key), then each lane accumulates dv/32 output dims.
#include "common.cuh"

#define PA_QUERIES 8
#define PA_TILE 32
#define PA_DK_MAX 192
#define PA_DV_MAX 128

// grid = (ceil(nq / PA_QUERIES), heads), block = 32 * PA_QUERIES.
extern "C" __global__ void __launch_bounds__(32 * PA_QUERIES) prefill_attention_f32(
        const float* __restrict__ q, int qStride, int qHeadStride, const float* __restrict__ k, int kStride,
        int kHeadStride, const float* __restrict__ v, int vStride, int vHeadStride, int nq, int nk, int dk, int dv,
        int causalOffset, float scale, float* __restrict__ out, int outStride, int outHeadStride) {
    __shared__ float ks[PA_TILE][PA_DK_MAX + 1];
    __shared__ float vs[PA_TILE][PA_DV_MAX];
    __shared__ float qs[PA_QUERIES][PA_DK_MAX];
    int h = blockIdx.y;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int i0 = blockIdx.x * PA_QUERIES;
    int i = i0 + warp;
    bool active = i < nq;
    int limit = active ? min(nk, causalOffset + i + 1) : 0;
    int blockLimit = min(nk, causalOffset + min(nq, i0 + PA_QUERIES));
    for (int d = lane; d < dk; d += 32) {
        qs[warp][d] = active ? q[(size_t) i * qStride + (size_t) h * qHeadStride + d] : 0.f;
    }
    float acc[PA_DV_MAX / 32];
#pragma unroll
    for (int j = 0; j < PA_DV_MAX / 32; j++) acc[j] = 0.f;
    float m = -INFINITY, l = 0.f;
    for (int t0 = 0; t0 < blockLimit; t0 += PA_TILE) {
        int nt = min(PA_TILE, blockLimit - t0);
        __syncthreads();
        for (int idx = threadIdx.x; idx < nt * dk; idx += blockDim.x) {
            int t = idx / dk, d = idx % dk;
            ks[t][d] = k[(size_t) (t0 + t) * kStride + (size_t) h * kHeadStride + d];
        }
        for (int idx = threadIdx.x; idx < nt * dv; idx += blockDim.x) {
            int t = idx / dv, d = idx % dv;
            vs[t][d] = v[(size_t) (t0 + t) * vStride + (size_t) h * vHeadStride + d];
        }
        __syncthreads();
        if (!active || t0 >= limit) continue;
        float s = -INFINITY;
        if (lane < nt && t0 + lane < limit) {
            float dot = 0.f;
            for (int d = 0; d < dk; d++) dot += qs[warp][d] * ks[lane][d];
            s = dot * scale;
        }
        float mNew = fmaxf(m, warp_max(s));
        float corr = expf(m - mNew);
        float p = s == -INFINITY ? 0.f : expf(s - mNew);
        l = l * corr + warp_sum(p);
#pragma unroll
        for (int j = 0; j < PA_DV_MAX / 32; j++) acc[j] *= corr;
        for (int t = 0; t < nt; t++) {
            float pt = __shfl_sync(0xffffffffu, p, t);
#pragma unroll
            for (int j = 0; j < PA_DV_MAX / 32; j++) {
                int c = lane + 32 * j;
                if (c < dv) acc[j] += pt * vs[t][c];
            }
        }
        m = mNew;
    }
    if (!active) return;
    float inv = 1.0f / l;
#pragma unroll
    for (int j = 0; j < PA_DV_MAX / 32; j++) {
        int c = lane + 32 * j;
        if (c < dv) out[(size_t) i * outStride + (size_t) h * outHeadStride + c] = acc[j] * inv;
    }
}
