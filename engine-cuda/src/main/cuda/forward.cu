// The small kernels of the forward pass that sit between the big ones (CudaBackend): the embedding row gather, the
// residual add, row gathers and scatters, the MLA cache write and the key layout of the expanded MLA prefill.
// Layouts are those of Backend.java / HostBackend.java: row-major float32, offsets and strides in floats.
#include "common.cuh"

#define CW_MAX_PE 8192  // floats of rope parts of one row (heads * dr) the cache write stages in shared memory

// out[r, c] = float(table[tokens[r], c]) (Backend.embed; exact widening of bf16).
// grid = (ceil(cols / 256), rows), block = 256.
extern "C" __global__ void embed_bf16(const __nv_bfloat16* __restrict__ table, int cols,
                                      const int* __restrict__ tokens, float* __restrict__ out) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    int r = blockIdx.y;
    if (c >= cols) return;
    out[(size_t) r * cols + c] = __bfloat162float(table[(size_t) tokens[r] * cols + c]);
}

// y[i] += x[i], i < n (Backend.addResidual). grid = ceil(n / 256), block = 256.
extern "C" __global__ void add_f32(const float* __restrict__ x, float* __restrict__ y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] += x[i];
}

// dst[j * dstStride + c] = src[idx[j] * srcStride + c] (idx == nullptr: j), c < cols.
// grid = (ceil(cols / 256), n), block = 256.
extern "C" __global__ void gather_rows(const float* __restrict__ src, int srcStride, const int* __restrict__ idx,
                                       int cols, float* __restrict__ dst, int dstStride) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    int j = blockIdx.y;
    if (c >= cols) return;
    int s = idx == nullptr ? j : idx[j];
    dst[(size_t) j * dstStride + c] = src[(size_t) s * srcStride + c];
}

// dst[idx[j] * dstStride + c] = src[j * srcStride + c], c < cols. grid = (ceil(cols / 256), n), block = 256.
extern "C" __global__ void scatter_rows(const float* __restrict__ src, int srcStride, const int* __restrict__ idx,
                                        int cols, float* __restrict__ dst, int dstStride) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    int j = blockIdx.y;
    if (c >= cols) return;
    dst[(size_t) idx[j] * dstStride + c] = src[(size_t) j * srcStride + c];
}

// dst[t * dstStride + c] = src[offs[t] + c], c < cols: cache entries at float offsets into contiguous rows.
// grid = (ceil(cols / 256), n), block = 256.
extern "C" __global__ void gather_offsets(const float* __restrict__ src, const int* __restrict__ offs, int cols,
                                          float* __restrict__ dst, int dstStride) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    int t = blockIdx.y;
    if (c >= cols) return;
    dst[(size_t) t * dstStride + c] = src[(size_t) offs[t] + c];
}

// Rotates v[0, dim) in place with the rope table cs (cos at [0, dim/2), sin at [dim/2, dim)): the interleaved pairs
// (v[2i], v[2i+1]) regrouped as halves, then rotate-half (HostBackend.rotate). `stage` is shared scratch of dim floats
// already holding v; the caller syncs before and after.
__device__ __forceinline__ void rotate_from(const float* stage, float* v, const float* cs, int dim, int i) {
    int half = dim / 2;
    float a = stage[2 * i], b = stage[2 * i + 1];
    float c = cs[i], s = cs[half + i];
    v[i] = a * c - b * s;
    v[half + i] = b * c + a * s;
}

// The MLA cache write (Backend.mlaCacheWrite) of row r = blockIdx.x: c_kv = rmsNorm(kva[r, :ckv]) * normW into
// cache[slots[r]], k_pe = rope(kva[r, ckv:ckv+dr]) into cache[slots[r] + ckv], and rope of every head's q_pe
// (q[r, h*dq + dn, + dr]) in place. cs holds the row's rope table (2*dr floats per row: cos half, sin half, then the
// CPU's temporary). grid = rows, block = 256. heads * dr <= CW_MAX_PE.
extern "C" __global__ void mla_cache_write(const float* __restrict__ kva, int kvaDim, const float* __restrict__ normW,
                                           float eps, const float* __restrict__ cs, float* __restrict__ q, int heads,
                                           int dq, int dn, float* __restrict__ cache, const int* __restrict__ slots,
                                           int ckv, int dr) {
    __shared__ float scratch[32];
    __shared__ float pe[CW_MAX_PE];
    __shared__ float kpe[256];
    int r = blockIdx.x;
    const float* x = kva + (size_t) r * kvaDim;
    float* entry = cache + (size_t) slots[r];
    const float* table = cs + (size_t) r * 2 * dr;
    float ss = 0.f;
    for (int i = threadIdx.x; i < ckv; i += blockDim.x) ss += x[i] * x[i];
    ss = block_sum(ss, scratch);
    float inv = 1.0f / sqrtf(ss / ckv + eps);
    for (int i = threadIdx.x; i < ckv; i += blockDim.x) entry[i] = normW[i] * (x[i] * inv);
    float* qr = q + (size_t) r * heads * dq;
    for (int i = threadIdx.x; i < dr; i += blockDim.x) kpe[i] = x[ckv + i];
    for (int i = threadIdx.x; i < heads * dr; i += blockDim.x) pe[i] = qr[(i / dr) * dq + dn + i % dr];
    __syncthreads();
    int half = dr / 2;
    for (int i = threadIdx.x; i < half; i += blockDim.x) rotate_from(kpe, entry + ckv, table, dr, i);
    for (int u = threadIdx.x; u < heads * half; u += blockDim.x) {
        int h = u / half;
        rotate_from(pe + h * dr, qr + (size_t) h * dq + dn, table, dr, u % half);
    }
}

// The keys of the expanded MLA prefill, [n, heads, dn + dr]: the nope part of token t, head h from the kv_b
// expansion kv[t, h*(dn+dv), + dn], the rope part from the cache entry's k_pe (cache[offs[t] + ckv, + dr]).
// grid = (n, heads), block = 128.
extern "C" __global__ void mla_expand_keys(const float* __restrict__ kv, int dn, int dv,
                                           const float* __restrict__ cache, const int* __restrict__ offs, int ckv,
                                           int dr, int heads, float* __restrict__ keys) {
    int t = blockIdx.x, h = blockIdx.y;
    int dq = dn + dr;
    float* k = keys + ((size_t) t * heads + h) * dq;
    const float* src = kv + ((size_t) t * heads + h) * (dn + dv);
    for (int d = threadIdx.x; d < dn; d += blockDim.x) k[d] = src[d];
    for (int d = threadIdx.x; d < dr; d += blockDim.x) k[dn + d] = cache[(size_t) offs[t] + ckv + d];
}
