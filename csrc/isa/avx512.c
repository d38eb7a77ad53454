/* AVX-512 path (F + BW + VL, BMI2 for the bit interleave): Philox4x32-10 on 8 blocks per vector,
 * one block per 64-bit lane, two vectors per 64-element group and two groups interleaved.
 * Compiled with a target attribute, selected at run time; tests/simde/run.sh checks it bit for
 * bit against the scalar path on machines without AVX-512 (SIMDe emulation).
 *
 * The same scheme as avx2.c (see the notes there), with AVX-512's help:
 * - a round is 2 vpmuludq + 2 hi->lo moves + 2 vpternlogd (the 3-way xor hi ^ c ^ key) per
 *   8 blocks; the hi->lo moves alternate vpsrlq and vpshufd so they use different ports;
 * - 32 zmm registers hold two groups' state (16 vectors) without spills;
 * - the last round is folded into the extraction: vshufps packs two vectors' words into 16
 *   words of consecutive blocks, unsigned compares give 16-bit masks, pdep interleaves them;
 * - fused_* and affine_* compute two groups' bits and apply them to their 128 elements in the
 *   same loop. */
#include "kernels.h"
#include "philox.h"

#if defined(FD_AVX512_EMULATED)
/* tests/simde/run.sh builds this file against SIMDe's portable AVX-512: its shim header, included
 * first, supplies the intrinsics, so no target attribute */
#define FD_AVX512
#elif defined(FD_X86)
#include <immintrin.h>
#define FD_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,bmi2,f16c,avx2")))
#endif

#ifdef FD_AVX512

typedef struct {
    __m512i m0, m1, mj[2];
    __m512i k1_1;     /* round 1: key k1 */
    __m512i k0_2;     /* round 2: c1 (constant) ^ k0 */
    __m512i d2, e3;   /* rounds 2, 3: terms that are constant while the high counter word is */
    __m512i k0_3;     /* round 3 */
    __m512i rk[12];   /* rounds 4..9 */
    __m512i kf0, kf1; /* round 10 */
    __m512i t;        /* threshold */
    uint32_t hi;      /* high counter word that d2, e3 belong to */
    uint32_t kk0[11], kk1[11], p1s_hi, stream, threshold; /* kk*[r]: key of round r */
} philox_ctx;

FD_AVX512 static inline void ctx_segment(philox_ctx *cx, uint32_t hi)
{
    /* round 1: c0 = hi(M1 * stream) ^ c1 ^ k0 = A in every lane, c1 = lo(M1 * stream) */
    uint32_t A = cx->p1s_hi ^ hi ^ cx->kk0[1];
    uint64_t pa = (uint64_t)FD_PHILOX_M0 * A;
    cx->hi = hi;
    cx->d2 = _mm512_set1_epi32((int)((uint32_t)(pa >> 32) ^ cx->kk1[2]));
    cx->e3 = _mm512_set1_epi32((int)((uint32_t)pa ^ cx->kk1[3]));
}

FD_AVX512 static void ctx_init(philox_ctx *cx, uint32_t k0, uint32_t k1, uint32_t stream,
                               uint32_t threshold, uint32_t hi)
{
    cx->kk0[1] = k0;
    cx->kk1[1] = k1;
    for (int r = 2; r <= 10; r++) {
        cx->kk0[r] = cx->kk0[r - 1] + FD_PHILOX_W0;
        cx->kk1[r] = cx->kk1[r - 1] + FD_PHILOX_W1;
    }
    uint64_t p1s = (uint64_t)FD_PHILOX_M1 * stream;
    cx->p1s_hi = (uint32_t)(p1s >> 32);
    cx->stream = stream;
    cx->threshold = threshold;
    cx->m0 = _mm512_set1_epi64((long long)FD_PHILOX_M0);
    cx->m1 = _mm512_set1_epi64((long long)FD_PHILOX_M1);
    /* the two vectors of a group: blocks {0,1,4,5,8,9,12,13} and {2,3,6,7,10,11,14,15}, so
     * that vshufps of the pair puts four consecutive blocks in each 128-bit lane */
    for (int v = 0; v < 2; v++) {
        uint64_t j[8];
        for (int i = 0; i < 8; i++)
            j[i] = (uint64_t)FD_PHILOX_M0 * (uint64_t)(4 * (i / 2) + (i & 1) + 2 * v);
        cx->mj[v] = _mm512_setr_epi64((long long)j[0], (long long)j[1], (long long)j[2],
                                      (long long)j[3], (long long)j[4], (long long)j[5],
                                      (long long)j[6], (long long)j[7]);
    }
    cx->k1_1 = _mm512_set1_epi32((int)cx->kk1[1]);
    cx->k0_2 = _mm512_set1_epi32((int)((uint32_t)p1s ^ cx->kk0[2]));
    cx->k0_3 = _mm512_set1_epi32((int)cx->kk0[3]);
    for (int r = 4; r <= 9; r++) {
        cx->rk[2 * (r - 4)] = _mm512_set1_epi32((int)cx->kk0[r]);
        cx->rk[2 * (r - 4) + 1] = _mm512_set1_epi32((int)cx->kk1[r]);
    }
    cx->kf0 = _mm512_set1_epi32((int)cx->kk0[10]);
    cx->kf1 = _mm512_set1_epi32((int)cx->kk1[10]);
    cx->t = _mm512_set1_epi32((int)threshold);
    ctx_segment(cx, hi);
}

typedef struct {
    __m512i c0, c1, c2, c3;
} oct;

#define XOR3(a, b, c) _mm512_ternarylogic_epi32(a, b, c, 0x96)
#define HI_SRL(p) _mm512_srli_epi64(p, 32)
#define HI_SHUF(p) _mm512_shuffle_epi32(p, 0xF5) /* dwords 1,1,3,3 */

/* Rounds 1-3 (P = M0 * lo32(block) in every lane; c0 after round 1 is the constant A). */
#define R123(q, P, mj)                                                                         \
    do {                                                                                       \
        __m512i p0_ = _mm512_add_epi64(P, mj), p1_;                                            \
        __m512i c2_ = _mm512_xor_si512(HI_SRL(p0_), cx->k1_1);                                 \
        p1_ = _mm512_mul_epu32(c2_, cx->m1);                                                   \
        q.c0 = _mm512_xor_si512(HI_SHUF(p1_), cx->k0_2);                                       \
        q.c1 = p1_;                                                                            \
        q.c2 = _mm512_xor_si512(p0_, cx->d2);                                                  \
        p0_ = _mm512_mul_epu32(q.c0, cx->m0);                                                  \
        p1_ = _mm512_mul_epu32(q.c2, cx->m1);                                                  \
        q.c0 = XOR3(HI_SRL(p1_), q.c1, cx->k0_3);                                              \
        q.c1 = p1_;                                                                            \
        q.c2 = _mm512_xor_si512(HI_SHUF(p0_), cx->e3);                                         \
        q.c3 = p0_;                                                                            \
    } while (0)

#define RN(q, K0, K1)                                                                          \
    do {                                                                                       \
        __m512i p0_ = _mm512_mul_epu32(q.c0, cx->m0), p1_ = _mm512_mul_epu32(q.c2, cx->m1);    \
        q.c0 = XOR3(HI_SRL(p1_), q.c1, K0);                                                    \
        q.c1 = p1_;                                                                            \
        q.c2 = XOR3(HI_SHUF(p0_), q.c3, K1);                                                   \
        q.c3 = p0_;                                                                            \
    } while (0)

#define SHUF(a, b, imm)                                                                        \
    _mm512_castps_si512(                                                                       \
        _mm512_shuffle_ps(_mm512_castsi512_ps(a), _mm512_castsi512_ps(b), imm))

/* Round 10 of a group's two vectors and its 64 keep bits (element 4j + k = word k of block j). */
FD_AVX512 static inline uint64_t final64(const philox_ctx *cx, oct a, oct b)
{
    __m512i p0a = _mm512_mul_epu32(a.c0, cx->m0), p1a = _mm512_mul_epu32(a.c2, cx->m1);
    __m512i p0b = _mm512_mul_epu32(b.c0, cx->m0), p1b = _mm512_mul_epu32(b.c2, cx->m1);
    __m512i w0 = XOR3(SHUF(p1a, p1b, 0xDD), SHUF(a.c1, b.c1, 0x88), cx->kf0);
    __m512i w2 = XOR3(SHUF(p0a, p0b, 0xDD), SHUF(a.c3, b.c3, 0x88), cx->kf1);
    __m512i w1 = SHUF(p1a, p1b, 0x88), w3 = SHUF(p0a, p0b, 0x88);
    uint64_t m0 = _mm512_cmpge_epu32_mask(w0, cx->t), m1 = _mm512_cmpge_epu32_mask(w1, cx->t);
    uint64_t m2 = _mm512_cmpge_epu32_mask(w2, cx->t), m3 = _mm512_cmpge_epu32_mask(w3, cx->t);
    return _pdep_u64(m0, 0x1111111111111111ull) | _pdep_u64(m1, 0x2222222222222222ull) |
           _pdep_u64(m2, 0x4444444444444444ull) | _pdep_u64(m3, 0x8888888888888888ull);
}

FD_AVX512 __attribute__((noinline, cold)) static uint64_t keep64_carry(const philox_ctx *cx,
                                                                    uint64_t blk)
{
    uint64_t word = 0;
    for (unsigned j = 0; j < 16; j++) {
        uint64_t bj = blk + j;
        uint32_t c[4] = {(uint32_t)bj, (uint32_t)(bj >> 32), cx->stream, 0};
        fd_philox4x32_10(c, cx->kk0[1], cx->kk1[1]);
        for (unsigned k = 0; k < 4; k++)
            word |= (uint64_t)(c[k] >= cx->threshold) << (4 * j + k);
    }
    return word;
}

/* The 64 keep bits of one group, blocks blk .. blk+15, any counters. */
FD_AVX512 static inline __attribute__((always_inline)) uint64_t keep64(philox_ctx *cx,
                                                                         uint64_t blk)
{
    if (__builtin_expect((uint32_t)blk > 0xFFFFFFF0u, 0)) /* the low word wraps in the group */
        return keep64_carry(cx, blk);
    if (__builtin_expect((uint32_t)(blk >> 32) != cx->hi, 0))
        ctx_segment(cx, (uint32_t)(blk >> 32));
    __m512i P = _mm512_set1_epi64((long long)((uint64_t)FD_PHILOX_M0 * (uint32_t)blk));
    oct a, b;
    R123(a, P, cx->mj[0]);
    R123(b, P, cx->mj[1]);
#pragma GCC unroll 6
    for (int r = 0; r < 6; r++) {
        RN(a, cx->rk[2 * r], cx->rk[2 * r + 1]);
        RN(b, cx->rk[2 * r], cx->rk[2 * r + 1]);
    }
    return final64(cx, a, b);
}

FD_AVX512 __attribute__((noinline, cold)) static uint64_t keep64_cold(philox_ctx *cx, uint64_t blk)
{
    return keep64(cx, blk);
}

/* Two consecutive groups (blocks blk .. blk+31) interleaved: out[0], out[1]. */
FD_AVX512 static inline __attribute__((always_inline)) void keep128(philox_ctx *cx, uint64_t blk,
                                                                      uint64_t out[2])
{
    if (__builtin_expect((uint32_t)blk > 0xFFFFFFE0u, 0)) { /* a carry in the 32 blocks */
        out[0] = keep64_cold(cx, blk);
        out[1] = keep64_cold(cx, blk + 16);
        return;
    }
    if (__builtin_expect((uint32_t)(blk >> 32) != cx->hi, 0))
        ctx_segment(cx, (uint32_t)(blk >> 32));
    __m512i P = _mm512_set1_epi64((long long)((uint64_t)FD_PHILOX_M0 * (uint32_t)blk));
    __m512i Q = _mm512_add_epi64(P, _mm512_set1_epi64((long long)(16ull * FD_PHILOX_M0)));
    oct a, b, c, d;
    R123(a, P, cx->mj[0]);
    R123(b, P, cx->mj[1]);
    R123(c, Q, cx->mj[0]);
    R123(d, Q, cx->mj[1]);
#pragma GCC unroll 6
    for (int r = 0; r < 6; r++) {
        RN(a, cx->rk[2 * r], cx->rk[2 * r + 1]);
        RN(b, cx->rk[2 * r], cx->rk[2 * r + 1]);
        RN(c, cx->rk[2 * r], cx->rk[2 * r + 1]);
        RN(d, cx->rk[2 * r], cx->rk[2 * r + 1]);
    }
    out[0] = final64(cx, a, b);
    out[1] = final64(cx, c, d);
}

FD_AVX512 static void keep_bits_avx512(uint64_t *bits, size_t ngroups, uint64_t block,
                                       uint32_t k0, uint32_t k1, uint32_t stream,
                                       uint32_t threshold)
{
    philox_ctx cx;
    ctx_init(&cx, k0, k1, stream, threshold, (uint32_t)(block >> 32));
    size_t w = 0;
    for (; w + 2 <= ngroups; w += 2, block += 32)
        keep128(&cx, block, bits + w);
    if (w < ngroups)
        bits[w] = keep64(&cx, block);
}

/* ---- raw words (structured kernels) ---- */

/* Round 10 of a group's two vectors, the 64 words of blocks blk .. blk+15 stored in order
 * (out[4j + k] = word k of block j): the four word vectors (word k of blocks 0..15) transposed
 * with unpacks within 128-bit lanes, then a 4x4 transpose of the lanes. */
FD_AVX512 static inline void final_words(const philox_ctx *cx, oct a, oct b, uint32_t *out)
{
    __m512i p0a = _mm512_mul_epu32(a.c0, cx->m0), p1a = _mm512_mul_epu32(a.c2, cx->m1);
    __m512i p0b = _mm512_mul_epu32(b.c0, cx->m0), p1b = _mm512_mul_epu32(b.c2, cx->m1);
    __m512i w0 = XOR3(SHUF(p1a, p1b, 0xDD), SHUF(a.c1, b.c1, 0x88), cx->kf0);
    __m512i w2 = XOR3(SHUF(p0a, p0b, 0xDD), SHUF(a.c3, b.c3, 0x88), cx->kf1);
    __m512i w1 = SHUF(p1a, p1b, 0x88), w3 = SHUF(p0a, p0b, 0x88);
    __m512i lo01 = _mm512_unpacklo_epi32(w0, w1), hi01 = _mm512_unpackhi_epi32(w0, w1);
    __m512i lo23 = _mm512_unpacklo_epi32(w2, w3), hi23 = _mm512_unpackhi_epi32(w2, w3);
    __m512i bA = _mm512_unpacklo_epi64(lo01, lo23); /* lane L: block 4L */
    __m512i bB = _mm512_unpackhi_epi64(lo01, lo23); /* 4L + 1 */
    __m512i bC = _mm512_unpacklo_epi64(hi01, hi23); /* 4L + 2 */
    __m512i bD = _mm512_unpackhi_epi64(hi01, hi23); /* 4L + 3 */
    __m512i t0 = _mm512_shuffle_i32x4(bA, bB, 0x44), t1 = _mm512_shuffle_i32x4(bC, bD, 0x44);
    __m512i t2 = _mm512_shuffle_i32x4(bA, bB, 0xEE), t3 = _mm512_shuffle_i32x4(bC, bD, 0xEE);
    _mm512_storeu_si512((void *)out, _mm512_shuffle_i32x4(t0, t1, 0x88));
    _mm512_storeu_si512((void *)(out + 16), _mm512_shuffle_i32x4(t0, t1, 0xDD));
    _mm512_storeu_si512((void *)(out + 32), _mm512_shuffle_i32x4(t2, t3, 0x88));
    _mm512_storeu_si512((void *)(out + 48), _mm512_shuffle_i32x4(t2, t3, 0xDD));
}

FD_AVX512 __attribute__((noinline, cold)) static void words_tail(uint32_t *out, size_t nblocks,
                                                                uint64_t blk, uint32_t k0,
                                                                uint32_t k1, uint32_t stream)
{
    for (size_t j = 0; j < nblocks; j++) {
        uint64_t bj = blk + j;
        uint32_t c[4] = {(uint32_t)bj, (uint32_t)(bj >> 32), stream, 0};
        fd_philox4x32_10(c, k0, k1);
        memcpy(out + 4 * j, c, 16);
    }
}

FD_AVX512 static void words_avx512(uint32_t *out, size_t nblocks, uint64_t blk, uint32_t k0,
                                   uint32_t k1, uint32_t stream)
{
    philox_ctx ctx, *cx = &ctx;
    ctx_init(cx, k0, k1, stream, 0, (uint32_t)(blk >> 32));
    size_t j = 0;
    for (; j + 32 <= nblocks; j += 32, blk += 32, out += 128) {
        if (__builtin_expect((uint32_t)blk > 0xFFFFFFE0u, 0)) { /* the low word wraps */
            words_tail(out, 32, blk, k0, k1, stream);
            continue;
        }
        if (__builtin_expect((uint32_t)(blk >> 32) != cx->hi, 0))
            ctx_segment(cx, (uint32_t)(blk >> 32));
        __m512i P = _mm512_set1_epi64((long long)((uint64_t)FD_PHILOX_M0 * (uint32_t)blk));
        __m512i Q = _mm512_add_epi64(P, _mm512_set1_epi64((long long)(16ull * FD_PHILOX_M0)));
        oct a, b, c, d;
        R123(a, P, cx->mj[0]);
        R123(b, P, cx->mj[1]);
        R123(c, Q, cx->mj[0]);
        R123(d, Q, cx->mj[1]);
#pragma GCC unroll 6
        for (int r = 0; r < 6; r++) {
            RN(a, cx->rk[2 * r], cx->rk[2 * r + 1]);
            RN(b, cx->rk[2 * r], cx->rk[2 * r + 1]);
            RN(c, cx->rk[2 * r], cx->rk[2 * r + 1]);
            RN(d, cx->rk[2 * r], cx->rk[2 * r + 1]);
        }
        final_words(cx, a, b, out);
        final_words(cx, c, d, out + 64);
    }
    if (j + 16 <= nblocks && (uint32_t)blk <= 0xFFFFFFF0u) {
        if ((uint32_t)(blk >> 32) != cx->hi)
            ctx_segment(cx, (uint32_t)(blk >> 32));
        __m512i P = _mm512_set1_epi64((long long)((uint64_t)FD_PHILOX_M0 * (uint32_t)blk));
        oct a, b;
        R123(a, P, cx->mj[0]);
        R123(b, P, cx->mj[1]);
#pragma GCC unroll 6
        for (int r = 0; r < 6; r++) {
            RN(a, cx->rk[2 * r], cx->rk[2 * r + 1]);
            RN(b, cx->rk[2 * r], cx->rk[2 * r + 1]);
        }
        final_words(cx, a, b, out);
        j += 16, blk += 16, out += 64;
    }
    if (j < nblocks)
        words_tail(out, nblocks - j, blk, k0, k1, stream);
}

/* ---- apply ---- */

/* Lanes [0, n) of a vector of `width`, for the tail (masked loads never fault). */
#define TAILMASK(n) ((n) >= 64 ? ~0ull : ((1ull << (n)) - 1))

FD_AVX512 static inline __m512 f32x16(__m512 v, __mmask16 k, __m512 vs, int scaled)
{
    return scaled ? _mm512_maskz_mul_ps(k, v, vs) : _mm512_maskz_mov_ps(k, v);
}

FD_AVX512 static inline __m512d f64x8(__m512d v, __mmask8 k, __m512d vs, int scaled)
{
    return scaled ? _mm512_maskz_mul_pd(k, v, vs) : _mm512_maskz_mov_pd(k, v);
}

FD_AVX512 static inline __m256i f16x16(__m256i h, __mmask16 k, __m512 vs, int scaled)
{
    if (scaled)
        return _mm512_cvtps_ph(_mm512_maskz_mul_ps(k, _mm512_cvtph_ps(h), vs),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm256_maskz_mov_epi16(k, h);
}

FD_AVX512 static inline void group_f32(const float *x, float *y, uint64_t word, __m512 vs,
                                       int scaled)
{
    for (int c = 0; c < 4; c++)
        _mm512_storeu_ps(y + 16 * c, f32x16(_mm512_loadu_ps(x + 16 * c),
                                            (__mmask16)(word >> (16 * c)), vs, scaled));
}

FD_AVX512 static inline void group_f64(const double *x, double *y, uint64_t word, __m512d vs,
                                       int scaled)
{
    for (int c = 0; c < 8; c++)
        _mm512_storeu_pd(y + 8 * c, f64x8(_mm512_loadu_pd(x + 8 * c),
                                          (__mmask8)(word >> (8 * c)), vs, scaled));
}

FD_AVX512 static inline void group_f16(const uint16_t *x, uint16_t *y, uint64_t word, __m512 vs,
                                       int scaled)
{
    for (int c = 0; c < 4; c++) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(x + 16 * c));
        _mm256_storeu_si256((__m256i *)(y + 16 * c),
                            f16x16(h, (__mmask16)(word >> (16 * c)), vs, scaled));
    }
}

FD_AVX512 static void apply_f32_avx512(const float *x, float *y, const uint64_t *bits, size_t n,
                                       float s, int scaled)
{
    const __m512 vs = _mm512_set1_ps(s);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 live = (__mmask16)TAILMASK(n - i);
        __mmask16 k = (__mmask16)(bits[i >> 6] >> (i & 63));
        __m512 v = _mm512_maskz_loadu_ps(live, x + i);
        _mm512_mask_storeu_ps(y + i, live, f32x16(v, k, vs, scaled));
    }
}

FD_AVX512 static void apply_f64_avx512(const double *x, double *y, const uint64_t *bits, size_t n,
                                       double s, int scaled)
{
    const __m512d vs = _mm512_set1_pd(s);
    for (size_t i = 0; i < n; i += 8) {
        __mmask8 live = (__mmask8)TAILMASK(n - i);
        __mmask8 k = (__mmask8)(bits[i >> 6] >> (i & 63));
        __m512d v = _mm512_maskz_loadu_pd(live, x + i);
        _mm512_mask_storeu_pd(y + i, live, f64x8(v, k, vs, scaled));
    }
}

FD_AVX512 static void apply_f16_avx512(const uint16_t *x, uint16_t *y, const uint64_t *bits,
                                       size_t n, float s, int scaled)
{
    const __m512 vs = _mm512_set1_ps(s);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 live = (__mmask16)TAILMASK(n - i);
        __mmask16 k = (__mmask16)(bits[i >> 6] >> (i & 63));
        __m256i h = _mm256_maskz_loadu_epi16(live, x + i);
        _mm256_mask_storeu_epi16(y + i, live, f16x16(h, k, vs, scaled));
    }
}

/* ---- alpha dropout: y = keep ? x * a + b : d ---- */

FD_AVX512 static inline __m512 affine_f32x16(__m512 v, __mmask16 k, __m512 va, __m512 vb,
                                             __m512 vd)
{
    return _mm512_mask_blend_ps(k, vd, _mm512_add_ps(_mm512_mul_ps(v, va), vb));
}

FD_AVX512 static inline __m512d affine_f64x8(__m512d v, __mmask8 k, __m512d va, __m512d vb,
                                             __m512d vd)
{
    return _mm512_mask_blend_pd(k, vd, _mm512_add_pd(_mm512_mul_pd(v, va), vb));
}

FD_AVX512 static inline __m256i affine_f16x16(__m256i h, __mmask16 k, __m512 va, __m512 vb,
                                              __m512 vd)
{
    return _mm512_cvtps_ph(affine_f32x16(_mm512_cvtph_ps(h), k, va, vb, vd),
                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

FD_AVX512 static inline void affine_group_f32(const float *x, float *y, uint64_t word, __m512 va,
                                              __m512 vb, __m512 vd)
{
    for (int c = 0; c < 4; c++)
        _mm512_storeu_ps(y + 16 * c, affine_f32x16(_mm512_loadu_ps(x + 16 * c),
                                                   (__mmask16)(word >> (16 * c)), va, vb, vd));
}

FD_AVX512 static inline void affine_group_f64(const double *x, double *y, uint64_t word,
                                              __m512d va, __m512d vb, __m512d vd)
{
    for (int c = 0; c < 8; c++)
        _mm512_storeu_pd(y + 8 * c, affine_f64x8(_mm512_loadu_pd(x + 8 * c),
                                                 (__mmask8)(word >> (8 * c)), va, vb, vd));
}

FD_AVX512 static inline void affine_group_f16(const uint16_t *x, uint16_t *y, uint64_t word,
                                              __m512 va, __m512 vb, __m512 vd)
{
    for (int c = 0; c < 4; c++) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(x + 16 * c));
        _mm256_storeu_si256((__m256i *)(y + 16 * c),
                            affine_f16x16(h, (__mmask16)(word >> (16 * c)), va, vb, vd));
    }
}

/* The partial last group (n < 64 elements, keep bits in bits[0]): masked loads and stores. */
FD_AVX512 static void affine_tail_f32(const float *x, float *y, const uint64_t *bits, size_t n,
                                      __m512 va, __m512 vb, __m512 vd)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 live = (__mmask16)TAILMASK(n - i);
        __m512 v = _mm512_maskz_loadu_ps(live, x + i);
        _mm512_mask_storeu_ps(y + i, live,
                              affine_f32x16(v, (__mmask16)(bits[0] >> i), va, vb, vd));
    }
}

FD_AVX512 static void affine_tail_f64(const double *x, double *y, const uint64_t *bits, size_t n,
                                      __m512d va, __m512d vb, __m512d vd)
{
    for (size_t i = 0; i < n; i += 8) {
        __mmask8 live = (__mmask8)TAILMASK(n - i);
        __m512d v = _mm512_maskz_loadu_pd(live, x + i);
        _mm512_mask_storeu_pd(y + i, live, affine_f64x8(v, (__mmask8)(bits[0] >> i), va, vb, vd));
    }
}

FD_AVX512 static void affine_tail_f16(const uint16_t *x, uint16_t *y, const uint64_t *bits,
                                      size_t n, __m512 va, __m512 vb, __m512 vd)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 live = (__mmask16)TAILMASK(n - i);
        __m256i h = _mm256_maskz_loadu_epi16(live, x + i);
        _mm256_mask_storeu_epi16(y + i, live,
                                 affine_f16x16(h, (__mmask16)(bits[0] >> i), va, vb, vd));
    }
}

/* ---- fused kernels: two groups' bits, then their 128 elements ---- */

/* Raw group g holds keep-bit stream bits 64g .. 64g+63 (blocks run->block + 16g ..); with
 * r != 0 the run's word w straddles raw groups w and w+1. */
#define SHIFTED(lo, hi) (r ? ((lo) >> r) | ((hi) << (64 - r)) : (lo))

/* GROUP(x, y, word) applies keep word `word` to 64 elements, TAIL(x, y, bits, m) the last
 * m <= 64 (bits[0] holds their keep bits). */
#define FUSED_LOOP(GROUP, TAIL)                                                                \
    philox_ctx cx;                                                                             \
    ctx_init(&cx, run->k0, run->k1, run->stream, run->threshold, (uint32_t)(run->block >> 32)); \
    const unsigned r = run->r;                                                                 \
    const size_t nw = (n + 63) / 64, nraw = (n + r + 63) / 64;                                 \
    const uint64_t blk = run->block;                                                           \
    uint64_t cur = keep64(&cx, blk); /* raw group w */                                         \
    size_t w = 0;                                                                              \
    for (; w + 2 <= nw; w += 2) {                                                              \
        uint64_t nx[2] = {0, 0}; /* raw groups w+1, w+2 */                                     \
        if (w + 2 < nraw)                                                                      \
            keep128(&cx, blk + 16 * (w + 1), nx);                                              \
        else if (w + 1 < nraw)                                                                 \
            nx[0] = keep64(&cx, blk + 16 * (w + 1));                                           \
        uint64_t w0 = SHIFTED(cur, nx[0]), w1 = SHIFTED(nx[0], nx[1]);                         \
        cur = nx[1];                                                                           \
        bits[w] = w0;                                                                          \
        bits[w + 1] = w1;                                                                      \
        GROUP(x + 64 * w, y + 64 * w, w0);                                                     \
        if (64 * w + 128 > n) { /* the second word is the partial last one */                  \
            TAIL(x + 64 * w + 64, y + 64 * w + 64, bits + w + 1, n - 64 * w - 64);             \
            return;                                                                            \
        }                                                                                      \
        GROUP(x + 64 * w + 64, y + 64 * w + 64, w1);                                           \
    }                                                                                          \
    if (w < nw) { /* one word left */                                                          \
        uint64_t nx = w + 1 < nraw ? keep64(&cx, blk + 16 * (w + 1)) : 0;                      \
        bits[w] = SHIFTED(cur, nx);                                                            \
        TAIL(x + 64 * w, y + 64 * w, bits + w, n - 64 * w);                                    \
    }

FD_AVX512 static void fused_f32_avx512(const float *x, float *y, uint64_t *bits, size_t n,
                                       const fd_philox_run *run, float s, int scaled)
{
    const __m512 vs = _mm512_set1_ps(s);
#define GROUP(xp, yp, wd) (scaled ? group_f32(xp, yp, wd, vs, 1) : group_f32(xp, yp, wd, vs, 0))
#define TAIL(xp, yp, bp, m) apply_f32_avx512(xp, yp, bp, m, s, scaled)
    FUSED_LOOP(GROUP, TAIL)
#undef GROUP
#undef TAIL
}

FD_AVX512 static void fused_f64_avx512(const double *x, double *y, uint64_t *bits, size_t n,
                                       const fd_philox_run *run, double s, int scaled)
{
    const __m512d vs = _mm512_set1_pd(s);
#define GROUP(xp, yp, wd) (scaled ? group_f64(xp, yp, wd, vs, 1) : group_f64(xp, yp, wd, vs, 0))
#define TAIL(xp, yp, bp, m) apply_f64_avx512(xp, yp, bp, m, s, scaled)
    FUSED_LOOP(GROUP, TAIL)
#undef GROUP
#undef TAIL
}

FD_AVX512 static void fused_f16_avx512(const uint16_t *x, uint16_t *y, uint64_t *bits, size_t n,
                                       const fd_philox_run *run, float s, int scaled)
{
    const __m512 vs = _mm512_set1_ps(s);
#define GROUP(xp, yp, wd) (scaled ? group_f16(xp, yp, wd, vs, 1) : group_f16(xp, yp, wd, vs, 0))
#define TAIL(xp, yp, bp, m) apply_f16_avx512(xp, yp, bp, m, s, scaled)
    FUSED_LOOP(GROUP, TAIL)
#undef GROUP
#undef TAIL
}

FD_AVX512 static void affine_f32_avx512(const float *x, float *y, uint64_t *bits, size_t n,
                                        const fd_philox_run *run, float a, float b, float d)
{
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b), vd = _mm512_set1_ps(d);
#define GROUP(xp, yp, wd) affine_group_f32(xp, yp, wd, va, vb, vd)
#define TAIL(xp, yp, bp, m) affine_tail_f32(xp, yp, bp, m, va, vb, vd)
    FUSED_LOOP(GROUP, TAIL)
#undef GROUP
#undef TAIL
}

FD_AVX512 static void affine_f64_avx512(const double *x, double *y, uint64_t *bits, size_t n,
                                        const fd_philox_run *run, double a, double b, double d)
{
    const __m512d va = _mm512_set1_pd(a), vb = _mm512_set1_pd(b), vd = _mm512_set1_pd(d);
#define GROUP(xp, yp, wd) affine_group_f64(xp, yp, wd, va, vb, vd)
#define TAIL(xp, yp, bp, m) affine_tail_f64(xp, yp, bp, m, va, vb, vd)
    FUSED_LOOP(GROUP, TAIL)
#undef GROUP
#undef TAIL
}

FD_AVX512 static void affine_f16_avx512(const uint16_t *x, uint16_t *y, uint64_t *bits, size_t n,
                                        const fd_philox_run *run, float a, float b, float d)
{
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b), vd = _mm512_set1_ps(d);
#define GROUP(xp, yp, wd) affine_group_f16(xp, yp, wd, va, vb, vd)
#define TAIL(xp, yp, bp, m) affine_tail_f16(xp, yp, bp, m, va, vb, vd)
    FUSED_LOOP(GROUP, TAIL)
#undef GROUP
#undef TAIL
}

const fd_kernels fd_kernels_avx512 = {
    .keep_bits = keep_bits_avx512,
    .apply_f32 = apply_f32_avx512,
    .apply_f64 = apply_f64_avx512,
    .apply_f16 = apply_f16_avx512,
    .fused_f32 = fused_f32_avx512,
    .fused_f64 = fused_f64_avx512,
    .fused_f16 = fused_f16_avx512,
    .affine_f32 = affine_f32_avx512,
    .affine_f64 = affine_f64_avx512,
    .affine_f16 = affine_f16_avx512,
    .words = words_avx512,
};
#endif
