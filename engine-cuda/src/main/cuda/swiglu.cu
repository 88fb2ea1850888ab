// Grouped SwiGLU experts (Backend.swiGlu with ExpertGroups): group g runs expert (gate_g, up_g [I, D], down_g [D, I])
// over its entries e in [starts[g], starts[g+1]), each an activation row rows[e] and a scale scales[e]:
//   out[rows[e]] += scales[e] * down_g(silu(gate_g x) * up_g x).
// Three launches, deterministic (no atomics):
//   1. swiglu_gate_up: hidden[e, i] = silu(gate_g[i] . x[rows[e]]) * (up_g[i] . x[rows[e]]), each expert row read
//      once per pass of up to SWIGLU_PASS entries (a decode step's group has 1..8 rows: one pass);
//   2. swiglu_down:    y[e, d] = scales[e] * (down_g[d] . hidden[e]);
//   3. swiglu_combine: out[r] += y[e] for r's entries in entry order (rowEntryStarts / rowEntries, a CSR by row),
//      the same order the CPU backend adds groups in.
// Weight pointers per group come in device arrays (experts are separate tensors). Needs D % 8 == 0 and I % 8 == 0.
#include "common.cuh"

#define SWIGLU_PASS 8

// grid = (ceil(I / warpsPerBlock), groups), block = (32, warpsPerBlock): one warp per (group, intermediate row i).
extern "C" __global__ void swiglu_gate_up(const float* __restrict__ x, int d, const __nv_bfloat16* const* gates,
                                          const __nv_bfloat16* const* ups, int inter, const int* __restrict__ starts,
                                          const int* __restrict__ rows, float* __restrict__ hidden) {
    int i = blockIdx.x * blockDim.y + threadIdx.y;
    int grp = blockIdx.y;
    if (i >= inter) return;
    int lane = threadIdx.x;
    const uint4* gr = reinterpret_cast<const uint4*>(gates[grp] + (size_t) i * d);
    const uint4* ur = reinterpret_cast<const uint4*>(ups[grp] + (size_t) i * d);
    for (int e0 = starts[grp]; e0 < starts[grp + 1]; e0 += SWIGLU_PASS) {
        int n = min(SWIGLU_PASS, starts[grp + 1] - e0);
        float ga[SWIGLU_PASS], ua[SWIGLU_PASS];
#pragma unroll
        for (int k = 0; k < SWIGLU_PASS; k++) { ga[k] = 0.f; ua[k] = 0.f; }
        for (int v = lane; v < d / 8; v += DSV2_WARP) {
            uint4 gp = __ldg(gr + v), up = __ldg(ur + v);
            float gw[8] = {bf16_lo(gp.x), bf16_hi(gp.x), bf16_lo(gp.y), bf16_hi(gp.y),
                           bf16_lo(gp.z), bf16_hi(gp.z), bf16_lo(gp.w), bf16_hi(gp.w)};
            float uw[8] = {bf16_lo(up.x), bf16_hi(up.x), bf16_lo(up.y), bf16_hi(up.y),
                           bf16_lo(up.z), bf16_hi(up.z), bf16_lo(up.w), bf16_hi(up.w)};
#pragma unroll
            for (int k = 0; k < SWIGLU_PASS; k++) {
                if (k < n) {
                    const float* xr = x + (size_t) rows[e0 + k] * d + v * 8;
#pragma unroll
                    for (int q = 0; q < 8; q++) { ga[k] += gw[q] * xr[q]; ua[k] += uw[q] * xr[q]; }
                }
            }
        }
#pragma unroll
        for (int k = 0; k < SWIGLU_PASS; k++) {
            if (k < n) {
                float gs = warp_sum(ga[k]), us = warp_sum(ua[k]);
                if (lane == 0) hidden[(size_t) (e0 + k) * inter + i] = silu(gs) * us;
            }
        }
    }
}

// grid = (ceil(D / warpsPerBlock), groups), block = (32, warpsPerBlock): one warp per (group, output row dd).
extern "C" __global__ void swiglu_down(const float* __restrict__ hidden, int inter,
                                       const __nv_bfloat16* const* downs, int d, const int* __restrict__ starts,
                                       const float* __restrict__ scales, float* __restrict__ y) {
    int dd = blockIdx.x * blockDim.y + threadIdx.y;
    int grp = blockIdx.y;
    if (dd >= d) return;
    int lane = threadIdx.x;
    const uint4* dr = reinterpret_cast<const uint4*>(downs[grp] + (size_t) dd * inter);
    for (int e0 = starts[grp]; e0 < starts[grp + 1]; e0 += SWIGLU_PASS) {
        int n = min(SWIGLU_PASS, starts[grp + 1] - e0);
        float acc[SWIGLU_PASS];
#pragma unroll
        for (int k = 0; k < SWIGLU_PASS; k++) acc[k] = 0.f;
        for (int v = lane; v < inter / 8; v += DSV2_WARP) {
            uint4 p = __ldg(dr + v);
            float wv[8] = {bf16_lo(p.x), bf16_hi(p.x), bf16_lo(p.y), bf16_hi(p.y),
                           bf16_lo(p.z), bf16_hi(p.z), bf16_lo(p.w), bf16_hi(p.w)};
#pragma unroll
            for (int k = 0; k < SWIGLU_PASS; k++) {
                if (k < n) {
                    const float* hr = hidden + (size_t) (e0 + k) * inter + v * 8;
#pragma unroll
                    for (int q = 0; q < 8; q++) acc[k] += wv[q] * hr[q];
                }
            }
        }
#pragma unroll
        for (int k = 0; k < SWIGLU_PASS; k++) {
            if (k < n) {
                float s = warp_sum(acc[k]);
                if (lane == 0) y[(size_t) (e0 + k) * d + dd] = scales[e0 + k] * s;
            }
        }
    }
}

// grid = (ceil(D / 256), nRows), block = 256. rowIds[j] is the activation row of CSR row j.
extern "C" __global__ void swiglu_combine(const float* __restrict__ y, int d, const int* __restrict__ rowIds,
                                          const int* __restrict__ rowEntryStarts, const int* __restrict__ rowEntries,
                                          float* __restrict__ out) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    int j = blockIdx.y;
    if (c >= d) return;
    float* o = out + (size_t) rowIds[j] * d + c;
    float acc = *o;
    for (int k = rowEntryStarts[j]; k < rowEntryStarts[j + 1]; k++) acc += y[(size_t) rowEntries[k] * d + c];
    *o = acc;
}
