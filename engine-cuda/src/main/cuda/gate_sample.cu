// Routing and sampling: the MoE gate's softmax + top-k (MoeGate.route after the gate matmul) and the greedy /
// top-k logprob passes over the vocabulary (Sampler greedy, Logprobs.top). Only ids and a few floats leave the GPU.
#include "common.cuh"

#define GATE_MAX_EXPERTS 1024
#define GATE_MAX_GROUPS 64

// logits [rows, E] -> ids, weights [rows, topK]. Softmax over the E routed experts; with groupLimited, only the
// topkGroup groups (of nGroup equal groups) with the highest max score keep their scores (others become 0); top-k
// by score, equal scores by the lower expert id; weights renormalised (sum + 1e-20) when normTopk && topK > 1, else
// multiplied by `scaling`. grid = rows, block = 256.
extern "C" __global__ void moe_gate_topk(const float* __restrict__ logits, int E, int topK, int groupLimited,
                                         int nGroup, int topkGroup, int normTopk, float scaling, int* __restrict__ ids,
                                         float* __restrict__ weights) {
    __shared__ float sc[GATE_MAX_EXPERTS];
    __shared__ float gmax[GATE_MAX_GROUPS];
    __shared__ float red[32];
    __shared__ int redi[32];
    const float* x = logits + (size_t) blockIdx.x * E;
    float mx = -INFINITY;
    for (int e = threadIdx.x; e < E; e += blockDim.x) mx = fmaxf(mx, x[e]);
    mx = block_max(mx, red);
    float sum = 0.f;
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        float p = expf(x[e] - mx);
        sc[e] = p;
        sum += p;
    }
    sum = block_sum(sum, red);
    float inv = 1.0f / sum;
    for (int e = threadIdx.x; e < E; e += blockDim.x) sc[e] *= inv;
    __syncthreads();
    if (groupLimited) {
        int per = E / nGroup;
        if (threadIdx.x < nGroup) {
            float m = -INFINITY;
            for (int e = 0; e < per; e++) m = fmaxf(m, sc[threadIdx.x * per + e]);
            gmax[threadIdx.x] = m;
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            for (int k = 0; k < topkGroup; k++) {  // pick the best groups; a picked group is marked NaN
                int best = -1;
                for (int g = 0; g < nGroup; g++) {
                    if (!isnan(gmax[g]) && (best < 0 || gmax[g] > gmax[best])) best = g;
                }
                gmax[best] = NAN;
            }
        }
        __syncthreads();
        for (int e = threadIdx.x; e < E; e += blockDim.x) {
            if (!isnan(gmax[e / per])) sc[e] = 0.f;
        }
        __syncthreads();
    }
    float chosen[8];
    int chosenId[8];
    float wsum = 0.f;
    for (int k = 0; k < topK; k++) {
        float v = -INFINITY;
        int id = 0x7fffffff;
        for (int e = threadIdx.x; e < E; e += blockDim.x) {
            if (sc[e] > v || (sc[e] == v && e < id)) { v = sc[e]; id = e; }
        }
        block_argmax(v, id, red, redi);
        __syncthreads();
        if (threadIdx.x == 0) sc[id] = -INFINITY;  // taken
        __syncthreads();
        if (k < 8) { chosen[k] = v; chosenId[k] = id; }
        wsum += v;
    }
    if (threadIdx.x == 0) {
        bool norm = normTopk && topK > 1;
        float denom = wsum + 1e-20f;
        for (int k = 0; k < topK && k < 8; k++) {
            ids[(size_t) blockIdx.x * topK + k] = chosenId[k];
            weights[(size_t) blockIdx.x * topK + k] = norm ? chosen[k] / denom : chosen[k] * scaling;
        }
    }
}

// Greedy sampling: the lowest id among the maximal logits of each row. grid = rows, block = 1024.
extern "C" __global__ void argmax_rows(const float* __restrict__ logits, int rowStride, int vocab,
                                       int* __restrict__ out) {
    __shared__ float red[32];
    __shared__ int redi[32];
    const float* x = logits + (size_t) blockIdx.x * rowStride;
    float v = -INFINITY;
    int id = 0x7fffffff;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        if (x[i] > v) { v = x[i]; id = i; }  // ids ascend per thread: the first max is kept
    }
    block_argmax(v, id, red, redi);
    if (threadIdx.x == 0) out[blockIdx.x] = id;
}

// The k most likely tokens of each row with their natural-log softmax probabilities of the raw logits (the
// generate --logprobs contract): logprob = (x - max) - log(sum exp(x - max)), the sum in double. Rank: higher logit,
// equal logits by lower id. k <= 64. grid = rows, block = 1024.
extern "C" __global__ void topk_logprobs(const float* __restrict__ logits, int rowStride, int vocab, int k,
                                         int* __restrict__ ids, float* __restrict__ logprobs) {
    __shared__ float red[32];
    __shared__ int redi[32];
    __shared__ double dred[32];
    __shared__ int taken[64];
    const float* x = logits + (size_t) blockIdx.x * rowStride;
    float mx = -INFINITY;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) mx = fmaxf(mx, x[i]);
    mx = block_max(mx, red);
    double s = 0.0;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) s += exp((double) x[i] - mx);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) dred[warp] = s;
    __syncthreads();
    s = lane < (int) (blockDim.x / 32) ? dred[lane] : 0.0;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    double logZ = log(s);
    for (int r = 0; r < k; r++) {
        float v = -INFINITY;
        int id = 0x7fffffff;
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
            bool isTaken = false;
            for (int q = 0; q < r; q++) isTaken |= taken[q] == i;
            if (!isTaken && (x[i] > v || id == 0x7fffffff)) { v = x[i]; id = i; }
        }
        block_argmax(v, id, red, redi);
        if (threadIdx.x == 0) {
            taken[r] = id;
            ids[(size_t) blockIdx.x * k + r] = id;
            logprobs[(size_t) blockIdx.x * k + r] = (float) (((double) x[id] - mx) - logZ);
        }
        __syncthreads();
    }
}

// The sampler's exp (SoftmaxKernel.exp): Cody-Waite reduction with two FMAs, a degree-12 Taylor polynomial (Horner,
// FMAs) and an exact scale by 2^k. Only correctly rounded IEEE double operations, so the bits equal the CPU's.
__device__ __forceinline__ double sampler_exp(double s) {
    const double LOG2_E = 1.4426950408889634;
    const double LN2_HI = 0x1.62e42fefa39efp-1;
    const double LN2_LO = 0x1.abc9e3b39803fp-56;
    const double ROUND_SHIFT = 0x1.8p52;
    double taylor[13];
    double factorial = 1.0;
    for (int j = 0; j <= 12; j++) {
        factorial = __dmul_rn(factorial, (double) max(j, 1));
        taylor[j] = __ddiv_rn(1.0, factorial);
    }
    double shifted = fma(s, LOG2_E, ROUND_SHIFT);
    long long kBits = __double_as_longlong(shifted);
    double k = __dsub_rn(shifted, ROUND_SHIFT);
    double r = fma(-k, LN2_HI, s);
    r = fma(-k, LN2_LO, r);
    double p = taylor[12];
    for (int j = 11; j >= 0; j--) p = fma(p, r, taylor[j]);
    return __dmul_rn(p, __longlong_as_double((kBits + 1023) << 52));
}

// Top-k (+ top-p) sampling of each row from its ranked top-k ids (topk_logprobs' ids, best first), as Sampler's heap
// path: w_r = exp((x_r - max) * invT) (0 below s = -708), top-p keeps the shortest prefix whose running weight
// reaches topP * sum (all k when topP >= 1), then the first kept token whose running weight exceeds u[row] * kept
// weight is chosen; u[row] is the request's uniform draw in [0, 1) (SplittableRandom.nextDouble on the host).
// Same operations in the same order as the CPU, so the same token. One thread per row; k <= 64.
// grid = ceil(rows / 128), block = 128.
extern "C" __global__ void sample_topk(const float* __restrict__ logits, int rowStride, const int* __restrict__ ids,
                                       int k, double invT, double topP, const double* __restrict__ u, int rows,
                                       int* __restrict__ out) {
    int row = blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= rows) return;
    const float* x = logits + (size_t) row * rowStride;
    const int* id = ids + (size_t) row * k;
    float mx = x[id[0]];
    double w[64];
    double z = 0.0;
    for (int r = 0; r < k; r++) {
        double s = __dmul_rn(__dsub_rn((double) x[id[r]], (double) mx), invT);
        w[r] = s < -708.0 ? 0.0 : sampler_exp(s);
        z = __dadd_rn(z, w[r]);
    }
    int kept = k;
    double keptMass = z;
    if (topP < 1.0) {
        double target = __dmul_rn(topP, z);
        double cum = 0.0;
        for (int r = 0; r < k; r++) {
            cum = __dadd_rn(cum, w[r]);
            if (cum >= target) { kept = r + 1; keptMass = cum; break; }
        }
    }
    double target = __dmul_rn(u[row], keptMass);
    double cum = 0.0;
    int last = id[0];
    for (int r = 0; r < kept; r++) {
        if (w[r] > 0.0) {
            cum = __dadd_rn(cum, w[r]);
            last = id[r];
            if (cum > target) break;
        }
    }
    out[row] = last;
}
