// Tensor-core GEMM for prefill and batched decode: out[m, n] = sum_k bf16(x[m, k]) * W[n, k] (Backend.matmul with
// many rows). Activations are rounded to bf16 (nearest even) as they are staged into shared memory, weights are bf16
// as stored, products accumulate in float32 with mma.sync.m16n8k16 (sm_80+). Tile 64(M) x 64(N) x 32(K), 4 warps,
// each warp 32 x 32 = 2 x 4 mma tiles. Bounds are checked (zero fill), so any M, N and K % 8 == 0 work.
#include "common.cuh"

#define BM 64
#define BN 64
#define BK 32
#define PAD 8  // bf16 elements of padding per shared row (keeps 16-byte alignment, spreads banks)

__device__ __forceinline__ void mma_bf16_16816(float* c, const uint32_t* a, const uint32_t* b) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// x: [M, K] float32, row stride xStride; w: [N, K] bf16 row-major; out: [M, N] float32, row stride outStride.
// grid = (ceil(N / 64), ceil(M / 64)), block = 128.
extern "C" __global__ void __launch_bounds__(128) gemm_bf16_tc(const float* __restrict__ x, int xStride,
        const __nv_bfloat16* __restrict__ w, float* __restrict__ out, int outStride, int M, int N, int K) {
    __shared__ __align__(16) __nv_bfloat16 sa[BM][BK + PAD];
    __shared__ __align__(16) __nv_bfloat16 sb[BN][BK + PAD];
    int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    int wm = (warp / 2) * 32, wn = (warp % 2) * 32;  // this warp's 32 x 32 sub-tile
    int g = lane / 4, t = lane % 4;                   // mma groupID, thread in group
    float acc[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += BK) {
        // Stage A: 64 rows x 32 floats = 512 float4, 4 per thread, rounded to bf16.
#pragma unroll
        for (int it = 0; it < 4; it++) {
            int idx = tid + it * 128;
            int r = idx / 8, c4 = (idx % 8) * 4;
            int gm = m0 + r, gk = k0 + c4;
            float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
            if (gm < M && gk < K) v = *reinterpret_cast<const float4*>(x + (size_t) gm * xStride + gk);
            __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
            *reinterpret_cast<__nv_bfloat162*>(&sa[r][c4]) = lo;
            *reinterpret_cast<__nv_bfloat162*>(&sa[r][c4 + 2]) = hi;
        }
        // Stage B: 64 rows x 32 bf16 = 256 uint4 (8 bf16 each), 2 per thread.
#pragma unroll
        for (int it = 0; it < 2; it++) {
            int idx = tid + it * 128;
            int r = idx / 4, c8 = (idx % 4) * 8;
            int gn = n0 + r, gk = k0 + c8;
            uint4 v = make_uint4(0, 0, 0, 0);
            if (gn < N && gk < K) v = __ldg(reinterpret_cast<const uint4*>(w + (size_t) gn * K + gk));
            *reinterpret_cast<uint4*>(&sb[r][c8]) = v;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            uint32_t a[2][4], b[4][2];
#pragma unroll
            for (int i = 0; i < 2; i++) {
                int r = wm + i * 16 + g;
                a[i][0] = *reinterpret_cast<const uint32_t*>(&sa[r][kk + 2 * t]);
                a[i][1] = *reinterpret_cast<const uint32_t*>(&sa[r + 8][kk + 2 * t]);
                a[i][2] = *reinterpret_cast<const uint32_t*>(&sa[r][kk + 2 * t + 8]);
                a[i][3] = *reinterpret_cast<const uint32_t*>(&sa[r + 8][kk + 2 * t + 8]);
            }
#pragma unroll
            for (int j = 0; j < 4; j++) {
                int n = wn + j * 8 + g;
                b[j][0] = *reinterpret_cast<const uint32_t*>(&sb[n][kk + 2 * t]);
                b[j][1] = *reinterpret_cast<const uint32_t*>(&sb[n][kk + 2 * t + 8]);
            }
#pragma unroll
            for (int i = 0; i < 2; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) mma_bf16_16816(acc[i][j], a[i], b[j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int r = m0 + wm + i * 16 + g;
            int c = n0 + wn + j * 8 + 2 * t;
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int rr = r + (e >= 2 ? 8 : 0), cc = c + (e & 1);
                if (rr < M && cc < N) out[(size_t) rr * outStride + cc] = acc[i][j][e];
            }
        }
}
