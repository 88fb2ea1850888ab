// RMSNorm and YaRN rope, the per-row elementwise kernels of a decoder layer.
#include "common.cuh"

// out[r, i] = w[i] * (x[r, i] * rsqrt(mean_i(x[r, i]^2) + eps)), i < n (Backend.rmsNorm, RmsNorm.apply).
// grid = rows, block = 256 (any multiple of 32).
extern "C" __global__ void rms_norm_f32(const float* __restrict__ x, int xStride, const float* __restrict__ w,
                                        float eps, float* __restrict__ out, int outStride, int n) {
    __shared__ float scratch[32];
    const float* xr = x + (size_t) blockIdx.x * xStride;
    float* orow = out + (size_t) blockIdx.x * outStride;
    float ss = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) ss += xr[i] * xr[i];
    ss = block_sum(ss, scratch);
    float inv = 1.0f / sqrtf(ss / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) orow[i] = w[i] * (xr[i] * inv);
}

// YaRN rope of `heads` vectors of `dim` values per row, in place (RotaryEmbedding.cosSin + rotate): vector h of row r
// starts at v + r*rowStride + h*headStride; the pairs (v[2i], v[2i+1]) are read, rotated by angle
// positions[r] * invFreq[i] (cos and sin times `scale` = mscale/mscale_all_dim), and written in the halves layout
// out[i] = a*cos - b*sin, out[half + i] = b*cos + a*sin: the reference's interleaved -> halves permutation followed by
// rotate_half. One warp per vector; dim <= 256. grid = (ceil(rows*heads / warpsPerBlock)), block = (32, warpsPerBlock).
extern "C" __global__ void rope_yarn(float* __restrict__ v, int rowStride, int headStride, int rows, int heads,
                                     const int* __restrict__ positions, const float* __restrict__ invFreq,
                                     float scale, int dim) {
    int vec = blockIdx.x * blockDim.y + threadIdx.y;
    if (vec >= rows * heads) return;
    int r = vec / heads, h = vec % heads;
    float* p = v + (size_t) r * rowStride + (size_t) h * headStride;
    int half = dim / 2;
    float pos = (float) positions[r];
    float ra[4], rb[4];
#pragma unroll
    for (int k = 0; k < 4; k++) {
        int i = threadIdx.x + k * 32;
        if (i < half) {
            float a = p[2 * i], b = p[2 * i + 1];
            float s, c;
            sincosf(pos * invFreq[i], &s, &c);
            c *= scale;
            s *= scale;
            ra[k] = a * c - b * s;
            rb[k] = b * c + a * s;
        }
    }
    __syncwarp();
#pragma unroll
    for (int k = 0; k < 4; k++) {
        int i = threadIdx.x + k * 32;
        if (i < half) {
            p[i] = ra[k];
            p[half + i] = rb[k];
        }
    }
}
