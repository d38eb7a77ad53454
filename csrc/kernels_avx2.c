/* AVX2 path (with FMA-free arithmetic, F16C for float16): 8 Philox blocks per vector,
 * two vectors per 64-element group. Compiled with a target attribute, selected at run time. */
#include "kernels.h"
#include "philox.h"

#ifdef FD_X86
#include <immintrin.h>

#define FD_AVX2 __attribute__((target("avx2,f16c")))

/* Philox state of 4 blocks, one per 64-bit lane, each 32-bit word in the low half of its lane
 * (the high halves hold junk that never reaches a result: vpmuludq reads only low halves).
 * This layout takes the 32x32->64 products whole, with no blends to split hi from lo. */
typedef struct {
    __m256i c0, c1, c2, c3;
} philox4;

FD_AVX2 static inline void philox4_start(philox4 *s, __m256i blocks, uint32_t k0, uint32_t k1,
                                         uint64_t p1)
{
    /* Round 1: c2 = stream and c3 = 0 in every lane, so c2 * M1 = p1 is a scalar. */
    __m256i p0 = _mm256_mul_epu32(blocks, _mm256_set1_epi32((int)FD_PHILOX_M0));
    s->c0 = _mm256_xor_si256(_mm256_srli_epi64(blocks, 32),
                             _mm256_set1_epi32((int)((uint32_t)(p1 >> 32) ^ k0)));
    s->c1 = _mm256_set1_epi32((int)(uint32_t)p1);
    s->c2 = _mm256_xor_si256(_mm256_srli_epi64(p0, 32), _mm256_set1_epi32((int)k1));
    s->c3 = p0;
}

FD_AVX2 static inline void philox4_round(philox4 *s, __m256i k0, __m256i k1)
{
    __m256i p0 = _mm256_mul_epu32(s->c0, _mm256_set1_epi32((int)FD_PHILOX_M0));
    __m256i p1 = _mm256_mul_epu32(s->c2, _mm256_set1_epi32((int)FD_PHILOX_M1));
    s->c0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), s->c1), k0);
    s->c1 = p1;
    s->c2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), s->c3), k1);
    s->c3 = p0;
}

/* dropped lanes (t > u, unsigned via the sign flip) of the 8 words a (slots 0,2,4,6) and b. */
FD_AVX2 static inline __m256i dropped8(__m256i a, __m256i b, __m256i tflip)
{
    __m256i v = _mm256_blend_epi32(a, _mm256_slli_epi64(b, 32), 0xAA);
    return _mm256_cmpgt_epi32(tflip, _mm256_xor_si256(v, _mm256_set1_epi32((int)0x80000000u)));
}

/* 64 keep bits for blocks blk..blk+15. Quads a,b hold blocks {0,1,4,5} and {2,3,6,7} (c, d: +8),
 * so that after interleaving a with b each 128-bit lane holds four consecutive blocks. */
FD_AVX2 static inline uint64_t philox_keep64(uint64_t blk, const __m256i *rk, uint32_t k0,
                                             uint32_t k1, uint64_t p1, __m256i tflip)
{
    const __m256i ia = _mm256_setr_epi64x(0, 1, 4, 5), ib = _mm256_setr_epi64x(2, 3, 6, 7);
    const __m256i eight = _mm256_set1_epi64x(8);
    __m256i base = _mm256_set1_epi64x((long long)blk);
    philox4 q[4];
    philox4_start(&q[0], _mm256_add_epi64(base, ia), k0, k1, p1);
    philox4_start(&q[1], _mm256_add_epi64(base, ib), k0, k1, p1);
    philox4_start(&q[2], _mm256_add_epi64(_mm256_add_epi64(base, eight), ia), k0, k1, p1);
    philox4_start(&q[3], _mm256_add_epi64(_mm256_add_epi64(base, eight), ib), k0, k1, p1);
    for (int r = 0; r < FD_PHILOX_ROUNDS - 1; r++)
        for (int j = 0; j < 4; j++)
            philox4_round(&q[j], rk[2 * r], rk[2 * r + 1]);
    /* bytes of lane L after the packs: word k of slot s at 4k + s, slots = blocks {0,2,1,3} */
    const __m256i tr = _mm256_setr_epi8(0, 4, 8, 12, 2, 6, 10, 14, 1, 5, 9, 13, 3, 7, 11, 15, 0, 4,
                                        8, 12, 2, 6, 10, 14, 1, 5, 9, 13, 3, 7, 11, 15);
    uint64_t out = 0;
    for (int h = 0; h < 2; h++) {
        const philox4 *a = &q[2 * h], *b = &q[2 * h + 1];
        __m256i d01 = _mm256_packs_epi32(dropped8(a->c0, b->c0, tflip), dropped8(a->c1, b->c1, tflip));
        __m256i d23 = _mm256_packs_epi32(dropped8(a->c2, b->c2, tflip), dropped8(a->c3, b->c3, tflip));
        __m256i bytes = _mm256_shuffle_epi8(_mm256_packs_epi16(d01, d23), tr);
        out |= (uint64_t)(~(uint32_t)_mm256_movemask_epi8(bytes)) << (32 * h);
    }
    return out;
}

FD_AVX2 static void keep_bits_avx2(uint64_t *bits, size_t ngroups, uint64_t block, uint32_t k0,
                                   uint32_t k1, uint32_t stream, uint32_t threshold)
{
    const __m256i tflip = _mm256_set1_epi32((int)(threshold ^ 0x80000000u));
    __m256i rk[2 * (FD_PHILOX_ROUNDS - 1)]; /* keys of rounds 2..10 */
    uint32_t q0 = k0, q1 = k1;
    for (int r = 0; r < FD_PHILOX_ROUNDS - 1; r++) {
        q0 += FD_PHILOX_W0;
        q1 += FD_PHILOX_W1;
        rk[2 * r] = _mm256_set1_epi32((int)q0);
        rk[2 * r + 1] = _mm256_set1_epi32((int)q1);
    }
    uint64_t p1 = (uint64_t)FD_PHILOX_M1 * stream;
    for (size_t w = 0; w < ngroups; w++, block += 16)
        bits[w] = philox_keep64(block, rk, k0, k1, p1, tflip);
}

/* All-ones lanes where bit j of byte `b` is set (8 lanes). */
FD_AVX2 static inline __m256i lanes_from_byte(uint32_t b)
{
    const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)b), sel), sel);
}

/* All-ones 64-bit lanes where bit j of the nibble `b` is set (4 lanes). */
FD_AVX2 static inline __m256i lanes_from_nibble(uint32_t b)
{
    const __m256i sel = _mm256_setr_epi64x(1, 2, 4, 8);
    return _mm256_cmpeq_epi64(_mm256_and_si256(_mm256_set1_epi64x(b), sel), sel);
}

#define BIT(bits, i) (((bits)[(i) >> 6] >> ((i) & 63)) & 1u)

FD_AVX2 static void apply_f32_avx2(const float *x, float *y, const uint64_t *bits, size_t n,
                                   float s, int scaled)
{
    const __m256 vs = _mm256_set1_ps(scaled ? s : 1.0f);
    size_t i = 0;
    if (scaled) {
        for (; i + 8 <= n; i += 8) {
            __m256 m = _mm256_castsi256_ps(lanes_from_byte((uint32_t)(bits[i >> 6] >> (i & 63))));
            _mm256_storeu_ps(y + i, _mm256_and_ps(m, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs)));
        }
    } else {
        for (; i + 8 <= n; i += 8) {
            __m256 m = _mm256_castsi256_ps(lanes_from_byte((uint32_t)(bits[i >> 6] >> (i & 63))));
            _mm256_storeu_ps(y + i, _mm256_and_ps(m, _mm256_loadu_ps(x + i)));
        }
    }
    for (; i < n; i++)
        y[i] = BIT(bits, i) ? (scaled ? x[i] * s : x[i]) : 0.0f;
}

FD_AVX2 static void apply_f64_avx2(const double *x, double *y, const uint64_t *bits, size_t n,
                                   double s, int scaled)
{
    const __m256d vs = _mm256_set1_pd(scaled ? s : 1.0);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d m = _mm256_castsi256_pd(lanes_from_nibble((uint32_t)(bits[i >> 6] >> (i & 63))));
        __m256d v = _mm256_loadu_pd(x + i);
        if (scaled)
            v = _mm256_mul_pd(v, vs);
        _mm256_storeu_pd(y + i, _mm256_and_pd(m, v));
    }
    for (; i < n; i++)
        y[i] = BIT(bits, i) ? (scaled ? x[i] * s : x[i]) : 0.0;
}

FD_AVX2 static void apply_f16_avx2(const uint16_t *x, uint16_t *y, const uint64_t *bits, size_t n,
                                   float s, int scaled)
{
    const __m256 vs = _mm256_set1_ps(s);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i m = lanes_from_byte((uint32_t)(bits[i >> 6] >> (i & 63)));
        __m128i h = _mm_loadu_si128((const __m128i *)(x + i));
        if (scaled) {
            __m256 v = _mm256_mul_ps(_mm256_cvtph_ps(h), vs);
            h = _mm256_cvtps_ph(_mm256_and_ps(_mm256_castsi256_ps(m), v),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        } else {
            /* narrow the 32-bit lane mask to 16-bit lanes */
            __m128i m16 = _mm_packs_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
            h = _mm_and_si128(m16, h);
        }
        _mm_storeu_si128((__m128i *)(y + i), h);
    }
    for (; i < n; i++)
        y[i] = BIT(bits, i) ? (scaled ? fd_float_to_half(fd_half_to_float(x[i]) * s) : x[i]) : 0;
}

const fd_kernels fd_kernels_avx2 = {keep_bits_avx2, apply_f32_avx2, apply_f64_avx2,
                                    apply_f16_avx2};
#endif
