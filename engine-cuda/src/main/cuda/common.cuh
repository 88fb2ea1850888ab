// Shared helpers of the dsv2 kernels. Conventions (as the CPU backend, engine/kernel/Backend.java):
// activations are row-major float32; weights are bf16 as stored in the checkpoint, [rows = out, cols = in], row-major;
// every kernel is extern "C" so that the JCuda runner finds it by name.
#pragma once
#include <cuda_bf16.h>
#include <stdint.h>

#define DSV2_WARP 32

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// bf16 bits -> float (exact).
__device__ __forceinline__ float bf16_lo(uint32_t pair) { return __uint_as_float(pair << 16); }
__device__ __forceinline__ float bf16_hi(uint32_t pair) { return __uint_as_float(pair & 0xffff0000u); }

// The reference SiLU v / (1 + exp(-v)), as ScalarBackend.silu.
__device__ __forceinline__ float silu(float v) { return v / (1.0f + expf(-v)); }

// Block-wide (value, index) argmax: the larger value, equal values by the lower index. blockDim.x is a multiple of 32
// and at most 1024; `sv`/`si` are shared scratch of 32 entries. Every thread gets the result.
__device__ __forceinline__ void block_argmax(float& v, int& i, float* sv, int* si) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, v, o);
        int oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (ov > v || (ov == v && oi < i)) { v = ov; i = oi; }
    }
    int warp = threadIdx.x / DSV2_WARP, lane = threadIdx.x % DSV2_WARP;
    __syncthreads();
    if (lane == 0) { sv[warp] = v; si[warp] = i; }
    __syncthreads();
    int warps = blockDim.x / DSV2_WARP;
    v = lane < warps ? sv[lane] : -INFINITY;
    i = lane < warps ? si[lane] : 0x7fffffff;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, v, o);
        int oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (ov > v || (ov == v && oi < i)) { v = ov; i = oi; }
    }
}

// Block-wide sum (float); every thread gets the result. `s` is shared scratch of 32 floats.
__device__ __forceinline__ float block_sum(float v, float* s) {
    v = warp_sum(v);
    int warp = threadIdx.x / DSV2_WARP, lane = threadIdx.x % DSV2_WARP;
    __syncthreads();
    if (lane == 0) s[warp] = v;
    __syncthreads();
    v = lane < (int) (blockDim.x / DSV2_WARP) ? s[lane] : 0.0f;
    return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float* s) {
    v = warp_max(v);
    int warp = threadIdx.x / DSV2_WARP, lane = threadIdx.x % DSV2_WARP;
    __syncthreads();
    if (lane == 0) s[warp] = v;
    __syncthreads();
    v = lane < (int) (blockDim.x / DSV2_WARP) ? s[lane] : -INFINITY;
    return warp_max(v);
}
