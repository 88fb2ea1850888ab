/*
 * dsv2 native CPU kernels: the matrix-vector products of decode, called through the FFM API from
 * dev.dsv2.engine.kernel.cpu.NativeInt8 (int8 weights, AVX512-VNNI vpdpbusd; docs/int8.md, "The native kernel") and
 * dev.dsv2.engine.kernel.cpu.NativeBf16 (bf16 weights, AVX512_BF16 vdpbf16ps; docs/performance.md). The bf16 part is
 * at the end of this file.
 *
 * Weights: int8 codes q[r, c] in [-127, 127], row-major [rows, cols], one bf16 scale per block of 32 values of a
 * row (s[r, c / 32]), as Weight.isInt8() holds them. Activations: quantized per block of 32 to int8 codes with a
 * float scale (max|x| / 127, round to nearest even), like llama.cpp's Q8_0 activations. The product of a block is
 * an exact int32 (vpdpbusd of |x| as unsigned bytes and the weight codes carrying x's sign: a masked subtract from
 * zero, no overflow since codes are in [-127, 127]); it is converted to float and multiplied by the block's two
 * scales, then accumulated in float.
 *
 * Pair order: the Java kernels keep activations in "pair order" (every block of 2 * half values holds the even ones
 * first, then the odd ones; half = float lanes of the JVM's vectors); pairHalf = 0 means natural order.
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 32
#define EXPORT __attribute__((visibility("default")))

/* Version of the C interface; NativeInt8 refuses a library of another one. */
EXPORT int32_t dsv2_cpu_abi_version(void) { return 2; }

/*
 * Whether one or two activation rows take eight weight rows per block (eight weight streams in flight, the next eight
 * rows prefetched) rather than four: not when the rows are a multiple of 4 KB apart, where the eight rows and the eight
 * prefetched ones all fall in one L1 set at each column (12 ways): bf16 at 2048 columns lost 0-10% with them.
 */
static inline int eight_rows(int32_t m, int64_t rowBytes) {
    return m <= 2 && rowBytes % 4096 != 0;
}

/* Where value c of n sits in pair order of half lanes (MatVecKernels.pairPos); pairHalf 0: natural order. */
static inline int64_t pair_pos(int64_t c, int64_t n, int32_t half) {
    if (half == 0) {
        return c;
    }
    int64_t p = 2 * (int64_t) half;
    int64_t full = n / p * p;
    if (c >= full) {
        return c;
    }
    int64_t i = c % p;
    return c - i + (i >> 1) + (i & 1) * half;
}

/*
 * Quantizes m activation rows x[xOff + b * xStride, + n) (n a multiple of 32; pair order of pairHalf lanes) into codes
 * q[qOff + b * n, + n) in natural order and scales qs[qsOff + b * n / 32, + n / 32): per block of 32,
 * d = max |x| / 127, code = rint(x / d) clamped to [-127, 127], scale d; a block where d is 0 (all zeros, or
 * below 127 times the smallest subnormal) has codes 0 and scale 0. Division, not a multiply by 127 / max |x|: that
 * reciprocal overflows to infinity for blocks of tiny values (x * inf = NaN).
 */
EXPORT void dsv2_quantize_rows(const float *x, int64_t xOff, int64_t xStride, int32_t m, int32_t n,
                               int32_t pairHalf, int8_t *q, int64_t qOff, float *qs, int64_t qsOff) {
    float nat[BLOCK];
    x += xOff;
    q += qOff;
    qs += qsOff;
    for (int32_t b = 0; b < m; b++) {
        const float *xr = x + (int64_t) b * xStride;
        int8_t *qr = q + (int64_t) b * n;
        float *sr = qs + (int64_t) b * (n / BLOCK);
        for (int32_t c = 0; c < n; c += BLOCK) {
            for (int32_t j = 0; j < BLOCK; j++) {
                nat[j] = xr[pair_pos(c + j, n, pairHalf)];
            }
            float amax = 0.0f;
            for (int32_t j = 0; j < BLOCK; j++) {
                float a = nat[j] < 0 ? -nat[j] : nat[j];
                amax = a > amax ? a : amax;
            }
            float d = amax / 127.0f;
            if (d == 0.0f) {
                memset(qr + c, 0, BLOCK);
                sr[c / BLOCK] = 0.0f;
                continue;
            }
            __m512 dv = _mm512_set1_ps(d);
            for (int32_t j = 0; j < BLOCK; j += 16) {
                /* vcvtps2dq rounds to nearest even (the default MXCSR mode); saturating narrow to bytes. */
                __m512i v = _mm512_cvtps_epi32(_mm512_div_ps(_mm512_loadu_ps(nat + j), dv));
                v = _mm512_max_epi32(_mm512_min_epi32(v, _mm512_set1_epi32(127)), _mm512_set1_epi32(-127));
                _mm_storeu_si128((__m128i *) (qr + c + j), _mm512_cvtsepi32_epi8(v));
            }
            sr[c / BLOCK] = d;
        }
    }
}

/* Word indices placing bf16 scale 0 in the high half of dword lanes 0-7 and scale 1 in lanes 8-15. */
static inline __m512i scale_index(void) {
    return _mm512_set_epi16(1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0,
                            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
}

/* Activation scales of blocks k, k + 1 (k only when tail) broadcast to lanes 0-7 and 8-15. */
static inline __m512 act_scales(const float *xs, int tail) {
    __m512 two = _mm512_maskz_loadu_ps(tail ? 0x1 : 0x3, xs);
    return _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0), two);
}

/*
 * Weight scales (bf16) of blocks k, k + 1 (k only when tail) as floats in lanes 0-7 and 8-15: both as one broadcast
 * dword, each 128-bit lane's bytes shuffled into the high halves of its dwords (vpshufb), which took 15-18% off the
 * time of 1-4 rows from memory against a masked load and a word permute (two-thread harness); the tail's lone scale
 * (the row's last, possibly the array's last two bytes) keeps the masked load.
 */
static inline __m512 weight_scales(const uint16_t *ws, int tail) {
    if (tail) {
        __m512i one = _mm512_maskz_loadu_epi16(0x1, ws);
        return _mm512_castsi512_ps(_mm512_maskz_permutexvar_epi16(0xAAAAAAAAu, scale_index(), one));
    }
    int32_t two;
    memcpy(&two, ws, sizeof two);
    const __m512i high = _mm512_set_epi8(3, 2, -1, -1, 3, 2, -1, -1, 3, 2, -1, -1, 3, 2, -1, -1,
                                         3, 2, -1, -1, 3, 2, -1, -1, 3, 2, -1, -1, 3, 2, -1, -1,
                                         1, 0, -1, -1, 1, 0, -1, -1, 1, 0, -1, -1, 1, 0, -1, -1,
                                         1, 0, -1, -1, 1, 0, -1, -1, 1, 0, -1, -1, 1, 0, -1, -1);
    return _mm512_castsi512_ps(_mm512_shuffle_epi8(_mm512_set1_epi32(two), high));
}

/*
 * Weight row row's vector at column c (its first 32 codes when tail), with the next four-row block prefetched at the
 * same columns, and its two blocks' scales in *wsv. With prefetchScales, every 512 columns also that block's scales of
 * the next 512 columns: the scales are a stream of their own, which the one or two rows of a matrix-vector product
 * otherwise wait on (harness: 1-2 rows +5-10%); more rows repeat each block per activation group, where the extra
 * prefetches cost 3-8%, so the caller asks for them only for one or two rows.
 */
static inline __attribute__((always_inline)) __m512i weight_vector(const int8_t *w, const uint16_t *ws, int32_t cols,
        int64_t row, int32_t c, int tail, int prefetchScales, int ahead, __m512 *wsv) {
    const int8_t *p = w + row * (int64_t) cols + c;
    __m512i wv = tail ? _mm512_maskz_loadu_epi8(0xFFFFFFFFull, p) : _mm512_loadu_si512(p);
    _mm_prefetch((const char *) (p + ahead * (int64_t) cols), _MM_HINT_T0);
    const uint16_t *s = ws + row * (int64_t) (cols / BLOCK) + c / BLOCK;
    if (prefetchScales && c % 512 == 0) {
        /* The next block's scales of these 512 columns (32 bytes, at most two lines). */
        const uint16_t *n = s + ahead * (int64_t) (cols / BLOCK);
        _mm_prefetch((const char *) n, _MM_HINT_T0);
        _mm_prefetch((const char *) (n + 15), _MM_HINT_T0);
    }
    *wsv = weight_scales(s, tail);
    return wv;
}

/*
 * One step of 64 columns from c (32 when tail) of R weight rows from r times M activation rows: each activation's
 * |codes| and sign mask are taken once, each weight vector once, and every (row, activation) pair does a masked
 * negate, a vpdpbusd, a conversion and a multiply-add by its per-lane scale product. The weight rows of the next
 * four-row block are prefetched at the same columns: without it one thread streamed ~9 GB/s, with it ~20 (the loop
 * holds too few misses in flight on its own; docs/int8.md).
 */
static inline __attribute__((always_inline)) void step(const int8_t *w, const uint16_t *ws, int32_t cols,
        int64_t r, int R, const int8_t *xq, const float *xs, int M, int32_t c, int tail, int prefetchScales,
        __m512 acc[8][4]) {
    const __m512i zero = _mm512_setzero_si512();
    const __mmask64 lm = tail ? 0xFFFFFFFFull : ~0ull;
    int32_t nb = cols / BLOCK;
    int32_t k = c / BLOCK;
    __m512i xa[4];
    __mmask64 neg[4];
    __m512 xsv[4];
#pragma GCC unroll 4
    for (int j = 0; j < M; j++) {
        const int8_t *p = xq + (int64_t) j * cols + c;
        __m512i v = tail ? _mm512_maskz_loadu_epi8(lm, p) : _mm512_loadu_si512(p);
        xa[j] = _mm512_abs_epi8(v);
        neg[j] = _mm512_movepi8_mask(v);
        xsv[j] = act_scales(xs + (int64_t) j * nb + k, tail);
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) {
        __m512 wsv;
        __m512i wv = weight_vector(w, ws, cols, r + i, c, tail, prefetchScales, R, &wsv);
#pragma GCC unroll 4
        for (int j = 0; j < M; j++) {
            __m512i signed_w = _mm512_mask_sub_epi8(wv, neg[j], zero, wv);
            __m512 d = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, xa[j], signed_w));
            acc[i][j] = _mm512_fmadd_ps(d, _mm512_mul_ps(wsv, xsv[j]), acc[i][j]);
        }
    }
}

/*
 * Packed activations for the int8 kernel from INT8_PACK_MIN_M to INT8_PACK_MAX_M rows (batched decode): per group of up
 * to 4 rows and step of 64 columns (32 for a last odd block), each row's codes biased to unsigned (x + 128, one vector)
 * and its two blocks' scales as the step's lane vector (act_scales), side by side in step order, so that the step takes
 * neither vpabsb, the sign masks nor the scale permutes, and a pair one vpdpbusd (accumulating onto -128 times the
 * weight vector's sums, taken once per weight vector), a conversion, a scale product and a multiply-add instead of
 * five operations: the dot of (x + 128) and w less 128 times the sum of w is x.w exactly, so the results are
 * bit-identical to the unpacked blocks'. Two-thread harness ([102400, 2048] from memory, two passes): 16 rows +1-24%,
 * 32 rows +4-26%, 64 rows +7-28%; 4-8 rows -15 to +22% and 1-2 rows -10-27% (the per-weight-vector correction is
 * shared by too few pairs), hence from 16. Above 66 rows (prefill) the packed rows (two 64-byte vectors per 64 codes)
 * outgrow L2: a 512-row prompt's MLP ran 10-20% slower, so prefill keeps the unpacked blocks.
 */
#define INT8_PACK_MIN_M 16
#define INT8_PACK_MAX_M 66

static inline __attribute__((always_inline)) void pstep(const int8_t *w, const uint16_t *ws, int32_t cols,
        int64_t r, int R, const uint8_t *xu, const float *xsv, int M, int32_t c, int tail, __m512 acc[8][4]) {
    const __m512i zero = _mm512_setzero_si512();
    const __m512i bias = _mm512_set1_epi8((char) 0x80);
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) {
        __m512 wsv;
        __m512i wv = weight_vector(w, ws, cols, r + i, c, tail, 0, R, &wsv);
        __m512i neg = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, bias, wv));
#pragma GCC unroll 4
        for (int j = 0; j < M; j++) {
            __m512i xv = _mm512_load_si512(xu + j * 64);
            __m512 d = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(neg, xv, wv));
            acc[i][j] = _mm512_fmadd_ps(d, _mm512_mul_ps(wsv, _mm512_load_ps(xsv + j * 16)), acc[i][j]);
        }
    }
}

/*
 * The step at column c: step on xq, xs (prefetching the scales when prefetchScales), or pstep on the packed xu, xsv
 * (step c / 64 of the group's M rows).
 */
static inline __attribute__((always_inline)) void block_step(const int8_t *w, const uint16_t *ws, int32_t cols,
        int64_t r, int R, const int8_t *xq, const float *xs, const uint8_t *xu, const float *xsv, int packed,
        int prefetchScales, int M, int32_t c, int tail, __m512 acc[8][4]) {
    if (packed) {
        int64_t st = c / (2 * BLOCK);
        pstep(w, ws, cols, r, R, xu + st * M * 64, xsv + st * M * 16, M, c, tail, acc);
    } else {
        step(w, ws, cols, r, R, xq, xs, M, c, tail, prefetchScales, acc);
    }
}

/*
 * R weight rows from r times M activation rows into res[i * 4 + j]: the 64-column steps, then a tail of 32; from the
 * codes and scales xq, xs (step), or, when packed, from their packed form xu, xsv (pstep).
 */
static inline __attribute__((always_inline)) void block(const int8_t *w, const uint16_t *ws, int32_t cols,
        int64_t r, int R, const int8_t *xq, const float *xs, const uint8_t *xu, const float *xsv, int packed,
        int prefetchScales, int M, float *res) {
    __m512 acc[8][4];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) {
#pragma GCC unroll 4
        for (int j = 0; j < M; j++) {
            acc[i][j] = _mm512_setzero_ps();
        }
    }
    int32_t full = cols / (2 * BLOCK) * (2 * BLOCK);
    for (int32_t c = 0; c < full; c += 2 * BLOCK) {
        block_step(w, ws, cols, r, R, xq, xs, xu, xsv, packed, prefetchScales, M, c, 0, acc);
    }
    if (full < cols) {
        block_step(w, ws, cols, r, R, xq, xs, xu, xsv, packed, prefetchScales, M, full, 1, acc);
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) {
#pragma GCC unroll 4
        for (int j = 0; j < M; j++) {
            res[i * 4 + j] = _mm512_reduce_add_ps(acc[i][j]);
        }
    }
}

/*
 * An R x M block's results res[i * 4 + j] stored at out[o + j * outStride + pos(r + i)] (added to it when
 * accumulate), pos = pair position among rows for pairHalf > 0; the int8 and bf16 block functions' common tail.
 */
static inline __attribute__((always_inline)) void store_block(const float *res, int R, int M, int32_t rows,
        int64_t r, float *out, int64_t o, int64_t outStride, int32_t pairHalf, int32_t accumulate) {
    for (int i = 0; i < R; i++) {
        int64_t p = pair_pos(r + i, rows, pairHalf);
        for (int j = 0; j < M; j++) {
            float *d = out + o + j * outStride + p;
            *d = accumulate ? *d + res[i * 4 + j] : res[i * 4 + j];
        }
    }
}

/*
 * The R x M block at weight row r and activation group xq, xs (M rows; block_, prefetching the scales when asked: two
 * compiled loops) or its packed form xu, xsv (pblock_) stored at out[o + j * outStride + pos(r + i)]; one function per
 * shape, so each gets its own register allocation.
 */

#define DEFINE_UNPACKED_BLOCK(R, M)                                                                                 \
    static __attribute__((noinline)) void block_##R##x##M(const int8_t *w, const uint16_t *ws, int32_t rows,     \
            int32_t cols, int64_t r, const int8_t *xq, const float *xs, float *out, int64_t o, int64_t outStride, \
            int32_t pairHalf, int32_t prefetchScales) {                                                           \
        float res[32];                                                                                            \
        if (prefetchScales) {                                                                                     \
            block(w, ws, cols, r, R, xq, xs, 0, 0, 0, 1, M, res);                                                 \
        } else {                                                                                                  \
            block(w, ws, cols, r, R, xq, xs, 0, 0, 0, 0, M, res);                                                 \
        }                                                                                                         \
        store_block(res, R, M, rows, r, out, o, outStride, pairHalf, 0);                                          \
    }
#define DEFINE_BLOCK(R, M)                                                                                          \
    DEFINE_UNPACKED_BLOCK(R, M)                                                                                     \
    static __attribute__((noinline)) void pblock_##R##x##M(const int8_t *w, const uint16_t *ws, int32_t rows,    \
            int32_t cols, int64_t r, const uint8_t *xu, const float *xsv, float *out, int64_t o,                  \
            int64_t outStride, int32_t pairHalf) {                                                                \
        float res[16];                                                                                            \
        block(w, ws, cols, r, R, 0, 0, xu, xsv, 1, 0, M, res);                                                    \
        store_block(res, R, M, rows, r, out, o, outStride, pairHalf, 0);                                          \
    }
/*
 * One or two activation rows (batch-1 and -2 decode) take eight weight rows per block (eight_rows): eight code streams
 * in flight (and the next eight rows prefetched) instead of four; two-thread harness from memory +5-15% at one row,
 * +7-25% at two. From three rows the 8 x M accumulators and the activations' vectors outgrow the 32 registers.
 */
DEFINE_UNPACKED_BLOCK(8, 1)
DEFINE_UNPACKED_BLOCK(8, 2)
DEFINE_BLOCK(4, 4)
DEFINE_BLOCK(4, 3)
DEFINE_BLOCK(4, 2)
DEFINE_BLOCK(4, 1)
DEFINE_BLOCK(1, 4)
DEFINE_BLOCK(1, 3)
DEFINE_BLOCK(1, 2)
DEFINE_BLOCK(1, 1)

typedef void (*block_fn)(const int8_t *, const uint16_t *, int32_t, int32_t, int64_t, const int8_t *, const float *,
                         float *, int64_t, int64_t, int32_t, int32_t);
/* BLOCKS[R == 4][M]: the block function of R weight rows and M activation rows. */
static const block_fn BLOCKS[2][5] = {
    {0, block_1x1, block_1x2, block_1x3, block_1x4},
    {0, block_4x1, block_4x2, block_4x3, block_4x4},
};
typedef void (*pblock_fn)(const int8_t *, const uint16_t *, int32_t, int32_t, int64_t, const uint8_t *, const float *,
                          float *, int64_t, int64_t, int32_t);
/* PBLOCKS[R == 4][M]: the same on packed activations (int8_pack). */
static const pblock_fn PBLOCKS[2][5] = {
    {0, pblock_1x1, pblock_1x2, pblock_1x3, pblock_1x4},
    {0, pblock_4x1, pblock_4x2, pblock_4x3, pblock_4x4},
};

/* Where int8_pack puts activation group g (rows [4g, 4g + 4)) of a steps-step row: its codes and its scale vectors. */
static inline uint8_t *packed_codes(uint8_t *xu, int32_t g, int32_t steps) {
    return xu + (int64_t) g * steps * 256;
}

static inline float *packed_scales(float *xsv, int32_t g, int32_t steps) {
    return xsv + (int64_t) g * steps * 64;
}

/*
 * Packs m activation rows (codes xq, scales xs; cols columns) for pblock: group g of rows [4g, 4g + M) at
 * xu + g * steps * 256 (step s, row j: 64 bytes at (s * M + j) * 64) and xsv + g * steps * 64 (floats, 16 per row and
 * step). Returns 0 when the buffers cannot be allocated.
 */
static int int8_pack(const int8_t *xq, const float *xs, int32_t m, int32_t cols, uint8_t **xu, float **xsv) {
    int32_t steps = (cols + 2 * BLOCK - 1) / (2 * BLOCK);
    int32_t nb = cols / BLOCK;
    int32_t groups = (m + 3) / 4;
    *xu = aligned_alloc(64, (size_t) groups * steps * 256);
    *xsv = aligned_alloc(64, (size_t) groups * steps * 256);
    if (*xu == 0 || *xsv == 0) {
        free(*xu);
        free(*xsv);
        return 0;
    }
    const __m512i bias = _mm512_set1_epi8((char) 0x80);
    for (int32_t g = 0; g < groups; g++) {
        int M = m - 4 * g < 4 ? m - 4 * g : 4;
        uint8_t *u = packed_codes(*xu, g, steps);
        float *s = packed_scales(*xsv, g, steps);
        for (int32_t st = 0; st < steps; st++) {
            int32_t c = st * 2 * BLOCK;
            int tail = c + 2 * BLOCK > cols;
            for (int j = 0; j < M; j++) {
                const int8_t *p = xq + (int64_t) (4 * g + j) * cols + c;
                __m512i v = tail ? _mm512_maskz_loadu_epi8(0xFFFFFFFFull, p) : _mm512_loadu_si512(p);
                _mm512_store_si512(u + (st * M + j) * 64, _mm512_xor_si512(v, bias));
                _mm512_store_ps(s + (st * M + j) * 16, act_scales(xs + (int64_t) (4 * g + j) * nb + c / BLOCK, tail));
            }
        }
    }
    return 1;
}

/*
 * Weight rows [r0, r1) of w (int8 codes [rows, cols], bf16 scales ws [rows, cols / 32]) times m quantized activation
 * rows (codes xq[xqOff + b * cols, + cols), scales xs[xsOff + b * cols / 32, + cols / 32)): the product of row r
 * and activation b goes to out[outOff + b * outStride + pos(r)], pos = pair position of r among rows for
 * pairHalf > 0. cols is a multiple of 32. Weight rows four at a time (then singles; eight at a time for one or two
 * activation rows) against up to four activation rows; each weight block is finished for every activation group
 * before the next (so it is read from memory once).
 * Batched decode (INT8_PACK_MIN_M to INT8_PACK_MAX_M rows) packs the activations first (int8_pack, pblock); if the
 * packing buffers cannot be allocated it takes the unpacked blocks.
 */
EXPORT void dsv2_int8_rows(const int8_t *w, const uint16_t *ws, int32_t rows, int32_t cols, int32_t r0, int32_t r1,
                           const int8_t *xq, int64_t xqOff, const float *xs, int64_t xsOff, int32_t m, float *out,
                           int64_t outOff, int64_t outStride, int32_t pairHalf) {
    xq += xqOff;
    xs += xsOff;
    uint8_t *xu = 0;
    float *xsv = 0;
    if (m >= INT8_PACK_MIN_M && m <= INT8_PACK_MAX_M && int8_pack(xq, xs, m, cols, &xu, &xsv)) {
        int32_t steps = (cols + 2 * BLOCK - 1) / (2 * BLOCK);
        for (int64_t r = r0; r < r1;) {
            int R = r + 4 <= r1 ? 4 : 1;
            for (int32_t b = 0; b < m; b += 4) {
                int M = m - b < 4 ? m - b : 4;
                PBLOCKS[R == 4][M](w, ws, rows, cols, r, packed_codes(xu, b / 4, steps),
                                   packed_scales(xsv, b / 4, steps), out, outOff + b * outStride, outStride, pairHalf);
            }
            r += R;
        }
        free(xu);
        free(xsv);
        return;
    }
    int64_t r8 = r0;
    for (; eight_rows(m, cols) && r8 + 8 <= r1; r8 += 8) {
        (m == 1 ? block_8x1 : block_8x2)(w, ws, rows, cols, r8, xq, xs, out, outOff, outStride, pairHalf, 1);
    }
    for (int64_t r = r8; r < r1;) {
        int R = r + 4 <= r1 ? 4 : 1;
        for (int32_t b = 0; b < m; b += 4) {
            int M = m - b < 4 ? m - b : 4;
            BLOCKS[R == 4][M](w, ws, rows, cols, r, xq + (int64_t) b * cols, xs + (int64_t) b * (cols / BLOCK), out,
                              outOff + b * outStride, outStride, pairHalf, m <= 2);
        }
        r += R;
    }
}


/* ---- bf16 weights: AVX512_BF16 ---------------------------------------------------------------------------------- */

/*
 * Rounds m activation rows x[xOff + b * xStride, + n) (any n; pair order of pairHalf lanes, 0: natural) to bf16 in
 * natural order at q[qOff + b * n, + n), round to nearest even (vcvtne2ps2bf16: a NaN stays a quiet NaN; subnormal
 * inputs count as zero, like vdpbf16ps's own treatment of subnormal operands). Once per call, like llama.cpp's bf16
 * matmuls round their activations.
 */
EXPORT void dsv2_bf16_round_rows(const float *x, int64_t xOff, int64_t xStride, int32_t m, int32_t n,
                                 int32_t pairHalf, uint16_t *q, int64_t qOff) {
    float nat[BLOCK];
    x += xOff;
    q += qOff;
    for (int32_t b = 0; b < m; b++) {
        const float *xr = x + (int64_t) b * xStride;
        uint16_t *qr = q + (int64_t) b * n;
        for (int32_t c = 0; c < n; c += BLOCK) {
            int32_t len = n - c < BLOCK ? n - c : BLOCK;
            const float *src = xr + c;
            if (pairHalf == 16 && c + BLOCK <= n / BLOCK * BLOCK) {
                /* A whole pair block: values 2t at c + t, values 2t + 1 at c + 16 + t; interleave the halves. */
                const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
                const __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
                __m512 e = _mm512_loadu_ps(xr + c);
                __m512 o = _mm512_loadu_ps(xr + c + 16);
                __m512 a = _mm512_permutex2var_ps(e, il, o);
                __m512 h = _mm512_permutex2var_ps(e, ih, o);
                _mm512_storeu_si512(qr + c, (__m512i) _mm512_cvtne2ps_pbh(h, a));
                continue;
            }
            if (pairHalf != 0) {
                for (int32_t j = 0; j < len; j++) {
                    nat[j] = xr[pair_pos(c + j, n, pairHalf)];
                }
                src = nat;
            }
            __mmask16 lo = len >= 16 ? 0xFFFF : (__mmask16) ((1u << len) - 1);
            __mmask16 hi = len <= 16 ? 0 : (__mmask16) ((1u << (len - 16)) - 1);
            __m512 a = _mm512_maskz_loadu_ps(lo, src);
            __m512 h = _mm512_maskz_loadu_ps(hi, src + 16);
            /* cvtne2ps: the second operand's 16 values go to the low half. */
            __m512i v = (__m512i) _mm512_cvtne2ps_pbh(h, a);
            __mmask32 st = len == BLOCK ? 0xFFFFFFFFu : (__mmask32) ((1u << len) - 1);
            _mm512_mask_storeu_epi16(qr + c, st, v);
        }
    }
}

/*
 * Columns of every weight row before its first 64-byte boundary (0 when the rows start aligned, or when cols is not a
 * multiple of 32 and rows start at different offsets). The kernels take them as a masked first step, so that the
 * 32-column steps after it load each weight vector from one cache line: HF safetensors files align their data to 8
 * bytes only, and a 64-byte load across two lines cost batched decode 15-37% on the same weights (docs/performance.md).
 */
static inline int32_t bf16_head(const uint16_t *w, int32_t cols) {
    if (cols % 32 != 0) {
        return 0;
    }
    return (int32_t) (((64 - ((uintptr_t) w & 63)) & 63) / 2);
}

/*
 * One step of 32 columns from c (masked to the first len when len < 32) of R (<= 8) bf16 weight rows from r times M
 * (<= 6; <= 2 for 8 rows) bf16 activation rows: each activation vector and each weight vector is loaded once, every
 * (row, activation) pair does a vdpbf16ps (f32 lanes += the products of two adjacent bf16 pairs). With prefetch, the
 * weight rows of the next R-row block are prefetched at the same columns, as the int8 kernel does (the matrix-vector
 * form; the GEMM form prefetches in its own loop and takes only its masked head and tail steps here).
 */
static inline __attribute__((always_inline)) void bf16_step(const uint16_t *w, int32_t cols, int64_t r, int R,
        const uint16_t *xb, int M, int32_t c, int32_t len, int prefetch, __m512 acc[8][6]) {
    const __mmask32 lm = len >= 32 ? 0xFFFFFFFFu : (__mmask32) ((1u << len) - 1);
    __m512bh xv[6];
#pragma GCC unroll 6
    for (int j = 0; j < M; j++) {
        const uint16_t *p = xb + (int64_t) j * cols + c;
        xv[j] = (__m512bh) (len >= 32 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi16(lm, p));
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) {
        const uint16_t *p = w + (r + i) * (int64_t) cols + c;
        __m512bh wv = (__m512bh) (len >= 32 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi16(lm, p));
        if (prefetch) {
            _mm_prefetch((const char *) (p + R * (int64_t) cols), _MM_HINT_T0);
        }
#pragma GCC unroll 6
        for (int j = 0; j < M; j++) {
            acc[i][j] = _mm512_dpbf16_ps(acc[i][j], wv, xv[j]);
        }
    }
}

/*
 * R bf16 weight rows from r times M activation rows into res[i * 4 + j]: a masked head of head columns (those before
 * the rows' first 64-byte boundary, see bf16_head), the 32-column steps, then a masked tail.
 */
static inline __attribute__((always_inline)) void bf16_block(const uint16_t *w, int32_t cols, int64_t r, int R,
        const uint16_t *xb, int M, int32_t head, float *res) {
    __m512 acc[8][6];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) {
#pragma GCC unroll 4
        for (int j = 0; j < M; j++) {
            acc[i][j] = _mm512_setzero_ps();
        }
    }
    int32_t c = 0;
    if (head > 0) {
        bf16_step(w, cols, r, R, xb, M, 0, head < cols ? head : cols, 1, acc);
        c = head;
    }
    for (; c + 32 <= cols; c += 32) {
        bf16_step(w, cols, r, R, xb, M, c, 32, 1, acc);
    }
    if (c < cols) {
        bf16_step(w, cols, r, R, xb, M, c, cols - c, 1, acc);
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) {
#pragma GCC unroll 4
        for (int j = 0; j < M; j++) {
            res[i * 4 + j] = _mm512_reduce_add_ps(acc[i][j]);
        }
    }
}

/* The R x M block at weight row r stored at out[o + j * outStride + pos(r + i)] (+= when accumulate). */
#define DEFINE_BF16_BLOCK(R, M)                                                                                     \
    static __attribute__((noinline)) void bf16_block_##R##x##M(const uint16_t *w, int32_t rows, int32_t cols,      \
            int64_t r, const uint16_t *xb, float *out, int64_t o, int64_t outStride, int32_t pairHalf,             \
            int32_t accumulate, int32_t head) {                                                                   \
        float res[32];                                                                                            \
        bf16_block(w, cols, r, R, xb, M, head, res);                                                              \
        store_block(res, R, M, rows, r, out, o, outStride, pairHalf, accumulate);                                 \
    }
/* Eight weight rows for two activation rows (eight_rows): [2048, 1408] expert down projections +9-20%; one activation
 * row takes bf16_rows_single. */
DEFINE_BF16_BLOCK(8, 2)
DEFINE_BF16_BLOCK(4, 4)
DEFINE_BF16_BLOCK(4, 3)
DEFINE_BF16_BLOCK(4, 2)
DEFINE_BF16_BLOCK(4, 1)
DEFINE_BF16_BLOCK(1, 4)
DEFINE_BF16_BLOCK(1, 3)
DEFINE_BF16_BLOCK(1, 2)
DEFINE_BF16_BLOCK(1, 1)

typedef void (*bf16_block_fn)(const uint16_t *, int32_t, int32_t, int64_t, const uint16_t *, float *, int64_t,
                              int64_t, int32_t, int32_t, int32_t);
/* BF16_BLOCKS[R == 4][M]: the block function of R weight rows and M activation rows. */
static const bf16_block_fn BF16_BLOCKS[2][5] = {
    {0, bf16_block_1x1, bf16_block_1x2, bf16_block_1x3, bf16_block_1x4},
    {0, bf16_block_4x1, bf16_block_4x2, bf16_block_4x3, bf16_block_4x4},
};

/* ---- bf16 weights: register-tiled GEMM (from BF16_GEMM_MIN_M activation rows, BF16_GEMM_WIDE_MIN_M on wide rows) - */

#define BF16_GEMM_MIN_M 8
/*
 * From BF16_GEMM_WIDE_MIN_M rows already when the rows have at least BF16_GEMM_WIDE_COLS columns: two-thread harness
 * from memory, 4-7 rows, matrix-vector blocks -> GEMM form: [128815, 2048] 13.4-16.6 -> 11.4-14.9 ms, [2048, 10944]
 * 1.15-1.48 -> 1.04-1.19, [10944, 2048] and [2048, 2816] -10-15%, [1408, 2048] within 0.02 ms; [2048, 1408] (an
 * expert's down projection: three K blocks of 512, 512 and 384 columns) 0.15-0.17 -> 0.18-0.19, so narrower rows keep
 * the blocks below 8 rows.
 */
#define BF16_GEMM_WIDE_MIN_M 4
#define BF16_GEMM_WIDE_COLS 2048
/*
 * Activation rows per chunk (their K block stays in L2: 66 rows x 2048 columns is 264 KB) and columns per K block (a
 * 4-row weight panel in L1). A chunk streams the weights once, so a batch of up to 66 rows (batched decode up to 64
 * sequences) reads them from memory once; 48 read them twice at 64 rows (-20% in a two-thread harness at 64 rows).
 */
#define BF16_GEMM_MB 66
#define BF16_GEMM_KB 2048
/*
 * Up to BF16_GEMM_SMALL_M activation rows (batched decode), columns go in blocks of BF16_GEMM_SMALL_KB and weight
 * rows in groups of BF16_GEMM_GROUP, each group taking every K block in turn: the activations' K block (16 rows x 512
 * columns = 16 KB) and the panel's (4 rows x 1 KB) stay in L1 while a tile runs, where at 2048 columns the 16 rows'
 * 64 KB came from L2 for every panel; the group's partial sums stay in L1 between blocks. Two-thread harness, weights
 * from memory: [128815, 2048] at 16 rows 21.1 -> 15.1 ms, 8 rows 16.6 -> 14.0, 32 rows 27.6 -> 25.7; [10944, 2048]
 * and [2048, 10944] at 16 rows 1.8 -> 1.4 ms; 64 rows were 3-8% slower, so larger batches keep 2048 and one group.
 */
#define BF16_GEMM_SMALL_M 48
#define BF16_GEMM_SMALL_KB 512
#define BF16_GEMM_GROUP 32

/* Sums of a, b, c, d (16 lanes each) as lanes 0-3: unpack/shuffle transposes, then the four 128-bit lanes added. */
static inline __attribute__((always_inline)) __m128 bf16_hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
    __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    __m512 s = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, 0x44), _mm512_shuffle_ps(ab, cd, 0xEE));
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(s), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* The cache line at p in each of four weight rows of cols columns from p's row: one 4-row panel's step. */
static inline __attribute__((always_inline)) void bf16_prefetch_panel(const uint16_t *p, int32_t cols) {
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        _mm_prefetch((const char *) (p + (int64_t) i * cols), _MM_HINT_T0);
    }
}

/*
 * One R x M tile (R = 4 or 1 weight rows from r, M <= 6 activation rows of xb) over columns [c0, c1) (c0 a multiple
 * of 32): a masked head of head columns (up to the rows' first 64-byte boundary), 32-column steps, a masked tail.
 * The steps read the tile's activations from xp, packed by bf16_gemm (step after step, the M rows' 32 columns of a
 * step side by side: one aligned sequential stream); the head and tail read them from xb;
 * stored to out[o + j * outStride + pos(r + i)], or added when add. The 4-row panel bf16_gemm runs next is prefetched
 * on the way: at each step's column c in [pf0, pf1) (an empty range for none), its four rows' weights at
 * w + pfo + i * cols + c (pfo maps this block's columns onto that panel's), so that the chunk's tiles, each taking
 * its share of the columns, bring the next panel in while this one is computed from L1 (the first tile of a panel
 * otherwise waits on memory while the others leave it idle). Rows off 64-byte alignment (HF files align tensors to
 * 8 bytes) also get the block's partial first and last lines prefetched: without them each panel's head and tail steps
 * waited on memory, and 8 bytes off, 64 experts' gate/up/down at 6 rows streamed at 38 GB/s against 47 aligned
 * (two-thread harness, weights mapped from a checkpoint file; 4 rows 44 -> 52, 8 rows 32 -> 37, 16 rows 23.5 -> 28.4
 * (31 aligned)).
 */
static inline __attribute__((always_inline)) void bf16_tile(const uint16_t *w, int32_t rows, int32_t cols, int64_t r,
        int R, const uint16_t *xb, const uint16_t *xp, int M, int32_t c0, int32_t c1, float *out, int64_t o,
        int64_t outStride, int32_t pairHalf, int add, int32_t pf0, int32_t pf1, int64_t pfo, int32_t head) {
    __m512 acc[8][6];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) {
#pragma GCC unroll 6
        for (int j = 0; j < M; j++) {
            acc[i][j] = _mm512_setzero_ps();
        }
    }
    const uint16_t *wr = w + r * (int64_t) cols;
    int32_t start = c0;
    if (head > 0) {
        start = head < c1 - c0 ? c0 + head : c1;
        bf16_step(w, cols, r, R, xb, M, c0, start - c0, 0, acc);
    }
    int32_t full = start + (c1 - start) / 32 * 32;
    for (int32_t c = start; c < full; c += 32) {
        if (c >= pf0 && c < pf1) {
            bf16_prefetch_panel(w + pfo + c, cols);
            if (head > 0) {
                /* Rows off 64-byte alignment: the 32-column steps' lines leave out the block's first and last
                 * (partial) lines, which its masked head and tail steps read; fetched on demand, they stalled
                 * every panel (see the comment above bf16_tile). */
                if (c == start) {
                    bf16_prefetch_panel(w + pfo + c - 32, cols);
                }
                if (c + 32 >= full) {
                    bf16_prefetch_panel(w + pfo + c + 32, cols);
                }
            }
        }
        __m512bh xv[6];
#pragma GCC unroll 6
        for (int j = 0; j < M; j++) {
            xv[j] = (__m512bh) _mm512_load_si512(xp + j * 32);
        }
        xp += M * 32;
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            __m512bh wv = (__m512bh) _mm512_loadu_si512(wr + (int64_t) i * cols + c);
#pragma GCC unroll 6
            for (int j = 0; j < M; j++) {
                acc[i][j] = _mm512_dpbf16_ps(acc[i][j], wv, xv[j]);
            }
        }
    }
    if (full < c1) {
        bf16_step(w, cols, r, R, xb, M, full, c1 - full, 0, acc);
    }
    int64_t pr = 0;
    int pairFast = 0;
    if (R == 4 && pairHalf != 0) {
        int64_t p = 2 * (int64_t) pairHalf;
        pairFast = r % 4 == 0 && r + 4 <= (int64_t) rows / p * p;
        pr = pair_pos(r, rows, pairHalf);
    }
#pragma GCC unroll 6
    for (int j = 0; j < M; j++) {
        float *d = out + o + j * outStride;
        if (R == 4) {
            __m128 s = bf16_hsum4(acc[0][j], acc[1][j], acc[2][j], acc[3][j]);
            if (pairHalf == 0) {
                if (add) {
                    s = _mm_add_ps(s, _mm_loadu_ps(d + r));
                }
                _mm_storeu_ps(d + r, s);
            } else if (pairFast) {
                /* Rows r..r+3 (r % 4 == 0, inside the whole pair blocks) sit at pos(r), pos(r) + 1 (rows r, r + 2)
                 * and pos(r) + half, + half + 1 (rows r + 1, r + 3): two 64-bit stores. */
                __m128 t = _mm_shuffle_ps(s, s, _MM_SHUFFLE(3, 1, 2, 0));
                float *lo = d + pr;
                float *hi = d + pr + pairHalf;
                if (add) {
                    __m128 o2 = _mm_loadh_pi(_mm_loadl_pi(_mm_setzero_ps(), (const __m64 *) lo), (const __m64 *) hi);
                    t = _mm_add_ps(t, o2);
                }
                _mm_storel_pi((__m64 *) lo, t);
                _mm_storeh_pi((__m64 *) hi, t);
            } else {
                float v[4];
                _mm_storeu_ps(v, s);
                for (int i = 0; i < 4; i++) {
                    float *e = d + pair_pos(r + i, rows, pairHalf);
                    *e = add ? *e + v[i] : v[i];
                }
            }
        } else {
            float v = _mm512_reduce_add_ps(acc[0][j]);
            float *e = d + pair_pos(r, rows, pairHalf);
            *e = add ? *e + v : v;
        }
    }
}

#define DEFINE_BF16_TILE(R, M)                                                                                      \
    static __attribute__((noinline)) void bf16_tile_##R##x##M(const uint16_t *w, int32_t rows, int32_t cols,       \
            int64_t r, const uint16_t *xb, const uint16_t *xp, int32_t c0, int32_t c1, float *out, int64_t o,      \
            int64_t outStride, int32_t pairHalf, int32_t add, int32_t pf0, int32_t pf1, int64_t pfo, int32_t head) { \
        bf16_tile(w, rows, cols, r, R, xb, xp, M, c0, c1, out, o, outStride, pairHalf, add, pf0, pf1, pfo, head); \
    }
DEFINE_BF16_TILE(4, 6)
DEFINE_BF16_TILE(4, 5)
DEFINE_BF16_TILE(4, 4)
DEFINE_BF16_TILE(4, 3)
DEFINE_BF16_TILE(4, 2)
DEFINE_BF16_TILE(4, 1)
DEFINE_BF16_TILE(1, 6)
DEFINE_BF16_TILE(1, 5)
DEFINE_BF16_TILE(1, 4)
DEFINE_BF16_TILE(1, 3)
DEFINE_BF16_TILE(1, 2)
DEFINE_BF16_TILE(1, 1)

typedef void (*bf16_tile_fn)(const uint16_t *, int32_t, int32_t, int64_t, const uint16_t *, const uint16_t *, int32_t,
                             int32_t, float *, int64_t, int64_t, int32_t, int32_t, int32_t, int32_t, int64_t, int32_t);
/* BF16_TILES[R == 4][M]: the tile function of R weight rows and M activation rows. */
static const bf16_tile_fn BF16_TILES[2][7] = {
    {0, bf16_tile_1x1, bf16_tile_1x2, bf16_tile_1x3, bf16_tile_1x4, bf16_tile_1x5, bf16_tile_1x6},
    {0, bf16_tile_4x1, bf16_tile_4x2, bf16_tile_4x3, bf16_tile_4x4, bf16_tile_4x5, bf16_tile_4x6},
};

/* Where bf16_gemm packs the 6-row tile starting at chunk row b (a multiple of 6) of steps 32-column steps. */
static inline uint16_t *bf16_packed_tile(uint16_t *xp, int32_t b, int64_t steps) {
    return xp + b * steps * 32;
}

/*
 * The end of the K block from column c0: kb columns on (the first block head columns more), or cols when less than a
 * quarter block would be left. Rows off 64-byte alignment (head > 0) thus start every later block on a 64-byte
 * boundary and take one masked head step and one masked tail step per row, not two per block: two-thread harness,
 * weights 8 bytes off, [32768, 2048] at 32 rows 10.7-11.3 -> 9.6-10.0 ms (aligned 9.1-9.5), at 16 rows 5.7-6.0 ->
 * 5.3-5.8 (aligned 5.0-5.6); 6-row experts and the single 2048-column block of 64 rows unchanged.
 */
static inline int32_t bf16_block_end(int32_t c0, int32_t cols, int32_t kb, int32_t head) {
    int32_t width = c0 == 0 ? kb + head : kb;
    return cols - c0 <= width + kb / 4 ? cols : c0 + width;
}

/*
 * dsv2_bf16_rows from BF16_GEMM_MIN_M (wide rows: BF16_GEMM_WIDE_MIN_M) activation rows: activation rows in chunks
 * of BF16_GEMM_MB, columns in K blocks (later blocks add to the first's partial sums), weight rows four at a time
 * against 6-row activation tiles (24 accumulators), four accumulators reduced together; each tile of a 4-row panel
 * prefetches an equal share of the next panel's columns (two-thread harness, [102400, 2048] from memory: +10-40% at
 * 12-64 rows).
 * A chunk's activations are first packed for its tiles (see bf16_tile) into an aligned buffer, so that each tile
 * streams them sequentially instead of from M rows 4 KB apart (same harness: 16 rows +4-15%, 32 rows +20-28%, 64 rows
 * +10-20%, also with the weights 8 or 32 bytes off alignment, where the tile now always takes the rows' head step).
 * Up to BF16_GEMM_SMALL_M rows: K blocks of BF16_GEMM_SMALL_KB, the weight rows in groups of BF16_GEMM_GROUP that
 * each run every K block (all blocks packed once per chunk); more rows: K blocks of BF16_GEMM_KB, one group (a block
 * packed right before it runs). The panel prefetched is the next in that order: the next panel of the group in the
 * same block, else the group's first panel in the next block, else the next group's first panel in the first block.
 * Returns 0, having done nothing, when the buffer cannot be allocated (the caller then takes the matrix-vector blocks).
 */
static int bf16_gemm(const uint16_t *w, int32_t rows, int32_t cols, int32_t r0, int32_t r1, const uint16_t *xb,
                     int32_t m, float *out, int64_t outOff, int64_t outStride, int32_t pairHalf, int32_t accumulate,
                     int32_t head) {
    int small = m <= BF16_GEMM_SMALL_M;
    int32_t mb = m < BF16_GEMM_MB ? m : BF16_GEMM_MB;
    int32_t kb = small ? BF16_GEMM_SMALL_KB : BF16_GEMM_KB;
    int64_t group = small ? BF16_GEMM_GROUP : (int64_t) r1 - r0;
    int32_t blocks = 0;
    int32_t widest = 0;
    for (int32_t c0 = 0, c1; c0 < cols; c0 = c1, blocks++) {
        c1 = bf16_block_end(c0, cols, kb, head);
        widest = c1 - c0 > widest ? c1 - c0 : widest;
    }
    /* One region per K block when the groups revisit the blocks, else one reused by each block in turn; each starts
     * on a 64-byte boundary (32 bf16 values), as the tiles' aligned loads need. */
    size_t region = ((size_t) mb * (size_t) widest + 31) / 32 * 32;
    size_t regions = small ? (size_t) blocks : 1;
    uint16_t *xp = aligned_alloc(64, (regions * region * 2 + 63) / 64 * 64);
    if (xp == 0) {
        return 0;
    }
    for (int32_t b0 = 0; b0 < m; b0 += BF16_GEMM_MB) {
        int32_t b1 = b0 + BF16_GEMM_MB < m ? b0 + BF16_GEMM_MB : m;
        int32_t tiles = (b1 - b0 + 5) / 6;
        for (int64_t g0 = r0; g0 < r1; g0 += group) {
            int64_t g1 = g0 + group < r1 ? g0 + group : r1;
            for (int32_t k = 0, c0 = 0, c1; c0 < cols; c0 = c1, k++) {
                c1 = bf16_block_end(c0, cols, kb, head);
                /* The block's head step: the rows' head in the first block; later blocks start aligned. */
                int32_t bh = c0 == 0 ? head : 0;
                int add = accumulate || c0 > 0;
                /* The tiles' 32-column steps: from the end of the head to the last whole step. */
                int32_t start = bh > 0 ? (bh < c1 - c0 ? c0 + bh : c1) : c0;
                int64_t steps = (c1 - start) / 32;
                uint16_t *xk = xp + (small ? (size_t) k : 0) * region;
                if (g0 == r0 || !small) {
                    for (int32_t b = b0; b < b1; b += 6) {
                        int M = b1 - b < 6 ? b1 - b : 6;
                        uint16_t *g = bf16_packed_tile(xk, b - b0, steps);
                        for (int64_t st = 0; st < steps; st++) {
                            for (int j = 0; j < M; j++) {
                                _mm512_store_si512(g + (st * M + j) * 32, _mm512_loadu_si512(
                                        xb + (int64_t) (b + j) * cols + start + st * 32));
                            }
                        }
                    }
                }
                int32_t share = ((c1 - c0) / tiles + 31) / 32 * 32;
                for (int64_t r = g0; r < g1;) {
                    int R = r + 4 <= g1 ? 4 : 1;
                    /* The panel run next (rows rn.., block from cn): this group's next one in this block, else its
                     * first in the next block, else the next group's first in the first block. */
                    int64_t rn = r + R;
                    int32_t cn = c0;
                    if (rn >= g1) {
                        rn = c1 < cols ? g0 : g1;
                        cn = c1 < cols ? c1 : 0;
                    }
                    int next = R == 4 && rn + 4 <= r1;
                    int64_t pfo = rn * (int64_t) cols + (cn - c0);
                    for (int32_t b = b0, pf = c0; b < b1; b += 6, pf += share) {
                        int M = b1 - b < 6 ? b1 - b : 6;
                        const uint16_t *tile = bf16_packed_tile(xk, b - b0, steps);
                        BF16_TILES[R == 4][M](w, rows, cols, r, xb + (int64_t) b * cols, tile, c0, c1, out,
                                              outOff + b * outStride, outStride, pairHalf, add, next ? pf : 0,
                                              next ? pf + share : 0, pfo, bh);
                    }
                    r += R;
                }
            }
        }
    }
    free(xp);
    return 1;
}

/*
 * One activation row: weight rows one after another, each a single sequential stream (a masked head up to its first
 * 64-byte boundary, 128-column steps into four accumulators, 32-column steps, a masked tail), without software
 * prefetch: the hardware prefetcher follows one stream per thread best. Two-thread harness, weights from memory,
 * against the blocks of four or eight rows in flight with the next block prefetched: [102400, 2048] 43-47 -> 52-55
 * GB/s (a plain read of the same bytes 58-61), [10944, 2048] 45-47 -> 54-57, [1408, 2048] 29-32 -> 40-42,
 * [2048, 1408] 33-37 -> 40-42; two or more activation rows keep the blocks (each weight vector serves several rows
 * there; the single stream lost 10-50% at three and more).
 */
static void bf16_rows_single(const uint16_t *w, int32_t rows, int32_t cols, int64_t r0, int64_t r1,
                             const uint16_t *x, float *out, int64_t o, int32_t pairHalf, int32_t accumulate,
                             int32_t head) {
    int32_t first = head < cols ? head : cols;
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *p = w + r * (int64_t) cols;
        __m512 a0 = _mm512_setzero_ps();
        __m512 a1 = _mm512_setzero_ps();
        __m512 a2 = _mm512_setzero_ps();
        __m512 a3 = _mm512_setzero_ps();
        int32_t c = 0;
        if (first > 0) {
            const __mmask32 lm = (__mmask32) ((1u << first) - 1);
            a0 = _mm512_dpbf16_ps(a0, (__m512bh) _mm512_maskz_loadu_epi16(lm, p),
                                  (__m512bh) _mm512_maskz_loadu_epi16(lm, x));
            c = first;
        }
        for (; c + 128 <= cols; c += 128) {
            a0 = _mm512_dpbf16_ps(a0, (__m512bh) _mm512_loadu_si512(p + c), (__m512bh) _mm512_loadu_si512(x + c));
            a1 = _mm512_dpbf16_ps(a1, (__m512bh) _mm512_loadu_si512(p + c + 32),
                                  (__m512bh) _mm512_loadu_si512(x + c + 32));
            a2 = _mm512_dpbf16_ps(a2, (__m512bh) _mm512_loadu_si512(p + c + 64),
                                  (__m512bh) _mm512_loadu_si512(x + c + 64));
            a3 = _mm512_dpbf16_ps(a3, (__m512bh) _mm512_loadu_si512(p + c + 96),
                                  (__m512bh) _mm512_loadu_si512(x + c + 96));
        }
        for (; c + 32 <= cols; c += 32) {
            a0 = _mm512_dpbf16_ps(a0, (__m512bh) _mm512_loadu_si512(p + c), (__m512bh) _mm512_loadu_si512(x + c));
        }
        if (c < cols) {
            const __mmask32 lm = (__mmask32) ((1u << (cols - c)) - 1);
            a1 = _mm512_dpbf16_ps(a1, (__m512bh) _mm512_maskz_loadu_epi16(lm, p + c),
                                  (__m512bh) _mm512_maskz_loadu_epi16(lm, x + c));
        }
        float res[1] = {_mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)))};
        store_block(res, 1, 1, rows, r, out, o, 0, pairHalf, accumulate);
    }
}

/*
 * Weight rows [r0, r1) of w (bf16 [rows, cols], any cols) times m bf16 activation rows xb[xbOff + b * cols, + cols)
 * (natural order): the product of row r and activation b goes to out[outOff + b * outStride + pos(r)] (added to it
 * when accumulate is non-zero), pos = pair position of r among rows for pairHalf > 0. One activation row: each weight
 * row as one sequential stream (bf16_rows_single). More: weight rows four at a time (then singles; eight at a time
 * for two activation rows, eight_rows) against up to four activation rows; each weight block is finished for every
 * activation group before the next (so it is read from memory once).
 * Accumulation in f32 lanes, reduced at the end of a row. From BF16_GEMM_MIN_M activation rows (BF16_GEMM_WIDE_MIN_M
 * for rows of BF16_GEMM_WIDE_COLS columns or more): bf16_gemm (register tiles of 4 x 6, K-blocked). Rows that do not
 * start on a 64-byte boundary (HF files align their data to 8 bytes) take their first columns as a masked step
 * (bf16_head).
 */
EXPORT void dsv2_bf16_rows(const uint16_t *w, int32_t rows, int32_t cols, int32_t r0, int32_t r1, const uint16_t *xb,
                           int64_t xbOff, int32_t m, float *out, int64_t outOff, int64_t outStride, int32_t pairHalf,
                           int32_t accumulate) {
    xb += xbOff;
    int32_t head = bf16_head(w, cols);
    int gemm = m >= BF16_GEMM_MIN_M || (m >= BF16_GEMM_WIDE_MIN_M && cols >= BF16_GEMM_WIDE_COLS);
    if (gemm && bf16_gemm(w, rows, cols, r0, r1, xb, m, out, outOff, outStride, pairHalf, accumulate, head)) {
        return;
    }
    if (m == 1) {
        bf16_rows_single(w, rows, cols, r0, r1, xb, out, outOff, pairHalf, accumulate, head);
        return;
    }
    int64_t r8 = r0;
    for (; eight_rows(m, 2 * (int64_t) cols) && r8 + 8 <= r1; r8 += 8) {
        bf16_block_8x2(w, rows, cols, r8, xb, out, outOff, outStride, pairHalf, accumulate, head);
    }
    for (int64_t r = r8; r < r1;) {
        int R = r + 4 <= r1 ? 4 : 1;
        for (int32_t b = 0; b < m; b += 4) {
            int M = m - b < 4 ? m - b : 4;
            BF16_BLOCKS[R == 4][M](w, rows, cols, r, xb + (int64_t) b * cols, out, outOff + b * outStride, outStride,
                                   pairHalf, accumulate, head);
        }
        r += R;
    }
}
