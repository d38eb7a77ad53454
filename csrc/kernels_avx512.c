/* AVX-512 path (F + BW + VL, BMI2 for the bit interleave): 16 Philox blocks per vector, one
 * vector per 64-element group, two groups interleaved for instruction-level parallelism.
 * Compiled with a target attribute, selected at run time. */
#include "kernels.h"
#include "philox.h"

#ifdef FD_X86
#include <immintrin.h>

#define FD_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,bmi2,f16c,avx2")))

FD_AVX512 static inline void mulhilo16(__m512i a, __m512i m, __m512i *hi, __m512i *lo)
{
    __m512i even = _mm512_mul_epu32(a, m);
    __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
    *lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
    *hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
}

typedef struct {
    __m512i c0, c1, c2, c3;
} philox16;

FD_AVX512 static inline void counters16(philox16 *s, uint64_t blk, uint32_t k0, uint32_t k1,
                                        uint32_t stream)
{
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i c0 = _mm512_add_epi32(_mm512_set1_epi32((int)(uint32_t)blk), iota);
    /* carry into c1 where the low word wrapped */
    __mmask16 carry = _mm512_cmplt_epu32_mask(c0, iota);
    __m512i c1 = _mm512_mask_add_epi32(_mm512_set1_epi32((int)(uint32_t)(blk >> 32)), carry,
                                       _mm512_set1_epi32((int)(uint32_t)(blk >> 32)),
                                       _mm512_set1_epi32(1));
    /* Round 1: c2 = stream and c3 = 0 are the same in every lane. */
    const __m512i M0 = _mm512_set1_epi32((int)FD_PHILOX_M0);
    uint64_t p1 = (uint64_t)FD_PHILOX_M1 * stream;
    __m512i hi0, lo0;
    mulhilo16(c0, M0, &hi0, &lo0);
    s->c0 = _mm512_xor_si512(c1, _mm512_set1_epi32((int)((uint32_t)(p1 >> 32) ^ k0)));
    s->c1 = _mm512_set1_epi32((int)(uint32_t)p1);
    s->c2 = _mm512_xor_si512(hi0, _mm512_set1_epi32((int)k1));
    s->c3 = lo0;
}

FD_AVX512 static inline void round16(philox16 *s, __m512i k0, __m512i k1)
{
    const __m512i M0 = _mm512_set1_epi32((int)FD_PHILOX_M0);
    const __m512i M1 = _mm512_set1_epi32((int)FD_PHILOX_M1);
    __m512i hi0, lo0, hi1, lo1;
    mulhilo16(s->c0, M0, &hi0, &lo0);
    mulhilo16(s->c2, M1, &hi1, &lo1);
    s->c0 = _mm512_ternarylogic_epi32(hi1, s->c1, k0, 0x96); /* three-way xor */
    s->c1 = lo1;
    s->c2 = _mm512_ternarylogic_epi32(hi0, s->c3, k1, 0x96);
    s->c3 = lo0;
}

/* Element 4j+k of the group is word k of block j: interleave the four 16-bit compare masks. */
FD_AVX512 static inline uint64_t keep64(const philox16 *s, __m512i t)
{
    uint64_t m0 = _mm512_cmpge_epu32_mask(s->c0, t), m1 = _mm512_cmpge_epu32_mask(s->c1, t);
    uint64_t m2 = _mm512_cmpge_epu32_mask(s->c2, t), m3 = _mm512_cmpge_epu32_mask(s->c3, t);
    return _pdep_u64(m0, 0x1111111111111111ull) | _pdep_u64(m1, 0x2222222222222222ull) |
           _pdep_u64(m2, 0x4444444444444444ull) | _pdep_u64(m3, 0x8888888888888888ull);
}

FD_AVX512 static void keep_bits_avx512(uint64_t *bits, size_t ngroups, uint64_t block,
                                       uint32_t k0, uint32_t k1, uint32_t stream,
                                       uint32_t threshold)
{
    const __m512i t = _mm512_set1_epi32((int)threshold);
    size_t w = 0;
    for (; w + 2 <= ngroups; w += 2, block += 32) {
        philox16 a, b;
        counters16(&a, block, k0, k1, stream);
        counters16(&b, block + 16, k0, k1, stream);
        uint32_t q0 = k0, q1 = k1;
        for (int r = 1; r < FD_PHILOX_ROUNDS; r++) {
            q0 += FD_PHILOX_W0;
            q1 += FD_PHILOX_W1;
            __m512i v0 = _mm512_set1_epi32((int)q0), v1 = _mm512_set1_epi32((int)q1);
            round16(&a, v0, v1);
            round16(&b, v0, v1);
        }
        bits[w] = keep64(&a, t);
        bits[w + 1] = keep64(&b, t);
    }
    if (w < ngroups) {
        philox16 a;
        counters16(&a, block, k0, k1, stream);
        uint32_t q0 = k0, q1 = k1;
        for (int r = 1; r < FD_PHILOX_ROUNDS; r++) {
            q0 += FD_PHILOX_W0;
            q1 += FD_PHILOX_W1;
            round16(&a, _mm512_set1_epi32((int)q0), _mm512_set1_epi32((int)q1));
        }
        bits[w] = keep64(&a, t);
    }
}

/* Lanes [0, n) of a vector of `width`, for the tail (masked loads never fault). */
#define TAILMASK(n) ((n) >= 64 ? ~0ull : ((1ull << (n)) - 1))

FD_AVX512 static void apply_f32_avx512(const float *x, float *y, const uint64_t *bits, size_t n,
                                       float s, int scaled)
{
    const __m512 vs = _mm512_set1_ps(s);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 live = (__mmask16)TAILMASK(n - i);
        __mmask16 k = (__mmask16)(bits[i >> 6] >> (i & 63));
        __m512 v = _mm512_maskz_loadu_ps(live, x + i);
        v = scaled ? _mm512_maskz_mul_ps(k, v, vs) : _mm512_maskz_mov_ps(k, v);
        _mm512_mask_storeu_ps(y + i, live, v);
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
        v = scaled ? _mm512_maskz_mul_pd(k, v, vs) : _mm512_maskz_mov_pd(k, v);
        _mm512_mask_storeu_pd(y + i, live, v);
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
        if (scaled) {
            __m512 v = _mm512_maskz_mul_ps(k, _mm512_cvtph_ps(h), vs);
            h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        } else {
            h = _mm256_maskz_mov_epi16(k, h);
        }
        _mm256_mask_storeu_epi16(y + i, live, h);
    }
}

const fd_kernels fd_kernels_avx512 = {keep_bits_avx512, apply_f32_avx512, apply_f64_avx512,
                                      apply_f16_avx512};
#endif
