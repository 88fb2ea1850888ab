// Decode matrix-vector products, bf16 weights x float32 activations, float32 accumulation (Backend.matmul with a
// small batch). Memory bound: every weight row is streamed once with 16-byte loads (8 bf16) for all batch rows.
#include "common.cuh"

#define GEMV_MAX_BATCH 8

// out[b*outStride + r] = sum_c x[b*xStride + c] * W[r, c] for b < batch (<= GEMV_MAX_BATCH), r < rows.
// One warp per weight row; blockDim = (32, warpsPerBlock). Needs cols % 8 == 0 and W 16-byte aligned.
extern "C" __global__ void gemv_bf16(const float* __restrict__ x, int xStride, const __nv_bfloat16* __restrict__ w,
                                     int rows, int cols, float* __restrict__ out, int outStride, int batch) {
    int r = blockIdx.x * blockDim.y + threadIdx.y;
    if (r >= rows) return;
    int lane = threadIdx.x;
    const uint4* row = reinterpret_cast<const uint4*>(w + (size_t) r * cols);
    float acc[GEMV_MAX_BATCH];
#pragma unroll
    for (int b = 0; b < GEMV_MAX_BATCH; b++) acc[b] = 0.0f;
    for (int v = lane; v < cols / 8; v += DSV2_WARP) {
        uint4 p = __ldg(row + v);
        float wv[8] = {bf16_lo(p.x), bf16_hi(p.x), bf16_lo(p.y), bf16_hi(p.y),
                       bf16_lo(p.z), bf16_hi(p.z), bf16_lo(p.w), bf16_hi(p.w)};
#pragma unroll
        for (int b = 0; b < GEMV_MAX_BATCH; b++) {
            if (b < batch) {
                const float4* xv = reinterpret_cast<const float4*>(x + (size_t) b * xStride + v * 8);
                float4 x0 = xv[0], x1 = xv[1];
                acc[b] += wv[0] * x0.x + wv[1] * x0.y + wv[2] * x0.z + wv[3] * x0.w
                        + wv[4] * x1.x + wv[5] * x1.y + wv[6] * x1.z + wv[7] * x1.w;
            }
        }
    }
#pragma unroll
    for (int b = 0; b < GEMV_MAX_BATCH; b++) {
        if (b < batch) {
            float s = warp_sum(acc[b]);
            if (lane == 0) out[(size_t) b * outStride + r] = s;
        }
    }
}

// The transposed product of the absorbed MLA query (Backend.matmulTransposed), per head:
// out[b, h, c] = sum_r x[b, h, r] * W_h[r, c], W_h = rows [h*headRows + rowOffset, + n) of w [*, cols].
// x row b, head h starts at x + b*xStride + h*xHeadStride; out at out + b*outStride + h*outHeadStride.
// grid = (ceil(cols / 256), heads), block = 256: thread owns column c and loops over the n rows (coalesced loads).
extern "C" __global__ void gemv_t_bf16_heads(const float* __restrict__ x, int xStride, int xHeadStride,
                                             const __nv_bfloat16* __restrict__ w, int cols, int headRows,
                                             int rowOffset, int n, float* __restrict__ out, int outStride,
                                             int outHeadStride, int batch) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    int h = blockIdx.y;
    if (c >= cols) return;
    const __nv_bfloat16* wh = w + ((size_t) h * headRows + rowOffset) * cols + c;
    for (int b = 0; b < batch; b++) {
        const float* xb = x + (size_t) b * xStride + (size_t) h * xHeadStride;
        float acc = 0.0f;
        for (int r = 0; r < n; r++) acc += xb[r] * __bfloat162float(wh[(size_t) r * cols]);
        out[(size_t) b * outStride + (size_t) h * outHeadStride + c] = acc;
    }
}

// Per-head matrix-vector product (the absorbed MLA value projection W_UV ctx):
// out[b, h, j] = sum_c x[b, h, c] * w[h*headRows + rowOffset + j, c] for j < n. One warp per (h, j); 16-byte loads.
// grid = (ceil(n / warpsPerBlock), heads), block = (32, warpsPerBlock). Needs cols % 8 == 0.
extern "C" __global__ void gemv_bf16_heads(const float* __restrict__ x, int xStride, int xHeadStride,
                                           const __nv_bfloat16* __restrict__ w, int cols, int headRows,
                                           int rowOffset, int n, float* __restrict__ out, int outStride,
                                           int outHeadStride, int batch) {
    int j = blockIdx.x * blockDim.y + threadIdx.y;
    int h = blockIdx.y;
    if (j >= n) return;
    int lane = threadIdx.x;
    const uint4* row = reinterpret_cast<const uint4*>(w + ((size_t) h * headRows + rowOffset + j) * cols);
    for (int b = 0; b < batch; b++) {
        const float* xb = x + (size_t) b * xStride + (size_t) h * xHeadStride;
        float acc = 0.0f;
        for (int v = lane; v < cols / 8; v += DSV2_WARP) {
            uint4 p = __ldg(row + v);
            const float* xv = xb + v * 8;
            acc += bf16_lo(p.x) * xv[0] + bf16_hi(p.x) * xv[1] + bf16_lo(p.y) * xv[2] + bf16_hi(p.y) * xv[3]
                 + bf16_lo(p.z) * xv[4] + bf16_hi(p.z) * xv[5] + bf16_lo(p.w) * xv[6] + bf16_hi(p.w) * xv[7];
        }
        acc = warp_sum(acc);
        if (lane == 0) out[(size_t) b * outStride + (size_t) h * outHeadStride + j] = acc;
    }
}
