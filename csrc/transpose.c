/* SIMD block transposes for the panel gather / scatter of transposed-like views (csrc/strided.c):
 * AVX2 8x8 float32, 4x4 float64 and 16x16 16-bit blocks; AVX-512 16x16 float32 and 8x8 float64
 * (16-bit data uses the AVX2 block there too: 16 rows of 32 bytes). Compiled with per-function
 * target attributes and chosen at run time from fd_isa_get(); the scalar path has none. Only
 * unpacks and lane shuffles: every bit pattern (NaN payloads included) moves unchanged. */
#include "transpose.h"

#include "fastdrop.h"
#include "kernels.h"

#ifdef FD_X86
#include <immintrin.h>

#define FD_AVX2 __attribute__((target("avx2")))
#define FD_AVX512 __attribute__((target("avx512f,avx2")))


/* The grid walk around one inlined block transpose BLOCK(src, ss, dst, ds) of side H. */
#define GRID(name, attr, H, BLOCK)                                                         \
    attr static void name(const fd_tgrid *g)                                               \
    {                                                                                      \
        for (size_t b = 0; b < g->nblocks; b++) {                                          \
            const char *s = g->src + (ptrdiff_t)b * g->sblk;                               \
            char *d = g->dst + (ptrdiff_t)b * g->dblk;                                     \
            for (size_t q = 0; q < g->ngroups; q++, s += g->sgrp, d += g->dgrp)            \
                BLOCK(s, g->ss, d, g->ds);                                                 \
        }                                                                                  \
    }

FD_AVX2 static inline void f32_8x8(const char *s, ptrdiff_t ss, char *d, ptrdiff_t ds)
{
    __m256 r0 = _mm256_loadu_ps((const float *)(s + 0 * ss));
    __m256 r1 = _mm256_loadu_ps((const float *)(s + 1 * ss));
    __m256 r2 = _mm256_loadu_ps((const float *)(s + 2 * ss));
    __m256 r3 = _mm256_loadu_ps((const float *)(s + 3 * ss));
    __m256 r4 = _mm256_loadu_ps((const float *)(s + 4 * ss));
    __m256 r5 = _mm256_loadu_ps((const float *)(s + 5 * ss));
    __m256 r6 = _mm256_loadu_ps((const float *)(s + 6 * ss));
    __m256 r7 = _mm256_loadu_ps((const float *)(s + 7 * ss));
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    /* u[4k + j]: rows 4k..4k+3 of columns j and j + 4 (one per 128-bit lane) */
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps((float *)(d + 0 * ds), _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps((float *)(d + 1 * ds), _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps((float *)(d + 2 * ds), _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps((float *)(d + 3 * ds), _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps((float *)(d + 4 * ds), _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps((float *)(d + 5 * ds), _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps((float *)(d + 6 * ds), _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps((float *)(d + 7 * ds), _mm256_permute2f128_ps(u3, u7, 0x31));
}

FD_AVX2 static inline void f64_4x4(const char *s, ptrdiff_t ss, char *d, ptrdiff_t ds)
{
    __m256d r0 = _mm256_loadu_pd((const double *)(s + 0 * ss));
    __m256d r1 = _mm256_loadu_pd((const double *)(s + 1 * ss));
    __m256d r2 = _mm256_loadu_pd((const double *)(s + 2 * ss));
    __m256d r3 = _mm256_loadu_pd((const double *)(s + 3 * ss));
    __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
    __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
    _mm256_storeu_pd((double *)(d + 0 * ds), _mm256_permute2f128_pd(t0, t2, 0x20));
    _mm256_storeu_pd((double *)(d + 1 * ds), _mm256_permute2f128_pd(t1, t3, 0x20));
    _mm256_storeu_pd((double *)(d + 2 * ds), _mm256_permute2f128_pd(t0, t2, 0x31));
    _mm256_storeu_pd((double *)(d + 3 * ds), _mm256_permute2f128_pd(t1, t3, 0x31));
}

/* Rows s[0..7] (16 x 16-bit each) to out[j]: column j of the rows in the low 128-bit lane,
 * column j + 8 in the high one (the SSE2 8x8 transpose in each lane). */
FD_AVX2 static inline void u16_8x16_lanes(const char *s, ptrdiff_t ss, __m256i out[8])
{
#define LD(k) _mm256_loadu_si256((const __m256i *)(s + (k) * ss))
    __m256i r0 = LD(0), r1 = LD(1), r2 = LD(2), r3 = LD(3), r4 = LD(4), r5 = LD(5), r6 = LD(6),
            r7 = LD(7);
#undef LD
    __m256i a0 = _mm256_unpacklo_epi16(r0, r1), a1 = _mm256_unpackhi_epi16(r0, r1);
    __m256i a2 = _mm256_unpacklo_epi16(r2, r3), a3 = _mm256_unpackhi_epi16(r2, r3);
    __m256i a4 = _mm256_unpacklo_epi16(r4, r5), a5 = _mm256_unpackhi_epi16(r4, r5);
    __m256i a6 = _mm256_unpacklo_epi16(r6, r7), a7 = _mm256_unpackhi_epi16(r6, r7);
    __m256i b0 = _mm256_unpacklo_epi32(a0, a2), b1 = _mm256_unpackhi_epi32(a0, a2);
    __m256i b2 = _mm256_unpacklo_epi32(a1, a3), b3 = _mm256_unpackhi_epi32(a1, a3);
    __m256i b4 = _mm256_unpacklo_epi32(a4, a6), b5 = _mm256_unpackhi_epi32(a4, a6);
    __m256i b6 = _mm256_unpacklo_epi32(a5, a7), b7 = _mm256_unpackhi_epi32(a5, a7);
    out[0] = _mm256_unpacklo_epi64(b0, b4);
    out[1] = _mm256_unpackhi_epi64(b0, b4);
    out[2] = _mm256_unpacklo_epi64(b1, b5);
    out[3] = _mm256_unpackhi_epi64(b1, b5);
    out[4] = _mm256_unpacklo_epi64(b2, b6);
    out[5] = _mm256_unpackhi_epi64(b2, b6);
    out[6] = _mm256_unpacklo_epi64(b3, b7);
    out[7] = _mm256_unpackhi_epi64(b3, b7);
}

FD_AVX2 static inline void u16_16x16(const char *s, ptrdiff_t ss, char *d, ptrdiff_t ds)
{
    __m256i x[8], y[8];
    u16_8x16_lanes(s, ss, x);
    u16_8x16_lanes(s + 8 * ss, ss, y);
    for (int j = 0; j < 8; j++) {
        _mm256_storeu_si256((__m256i *)(d + j * ds), _mm256_permute2x128_si256(x[j], y[j], 0x20));
        _mm256_storeu_si256((__m256i *)(d + (j + 8) * ds),
                            _mm256_permute2x128_si256(x[j], y[j], 0x31));
    }
}

FD_AVX512 static inline void f32_16x16(const char *s, ptrdiff_t ss, char *d, ptrdiff_t ds)
{
    __m512 r[16], t[16], u[16];
    for (int k = 0; k < 16; k++)
        r[k] = _mm512_loadu_ps((const float *)(s + k * ss));
    for (int k = 0; k < 16; k += 2) {
        t[k] = _mm512_unpacklo_ps(r[k], r[k + 1]);
        t[k + 1] = _mm512_unpackhi_ps(r[k], r[k + 1]);
    }
    /* u[4k + j]: rows 4k..4k+3 of columns j, j + 4, j + 8, j + 12 (one per 128-bit lane) */
    for (int k = 0; k < 16; k += 4) {
        u[k + 0] = _mm512_shuffle_ps(t[k], t[k + 2], 0x44);
        u[k + 1] = _mm512_shuffle_ps(t[k], t[k + 2], 0xEE);
        u[k + 2] = _mm512_shuffle_ps(t[k + 1], t[k + 3], 0x44);
        u[k + 3] = _mm512_shuffle_ps(t[k + 1], t[k + 3], 0xEE);
    }
    for (int j = 0; j < 4; j++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88);  /* lanes 0, 2 */
        __m512 v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);  /* lanes 1, 3 */
        __m512 w0 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
        __m512 w1 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
        _mm512_storeu_ps((float *)(d + (j + 0) * ds), _mm512_shuffle_f32x4(v0, w0, 0x88));
        _mm512_storeu_ps((float *)(d + (j + 8) * ds), _mm512_shuffle_f32x4(v0, w0, 0xDD));
        _mm512_storeu_ps((float *)(d + (j + 4) * ds), _mm512_shuffle_f32x4(v1, w1, 0x88));
        _mm512_storeu_ps((float *)(d + (j + 12) * ds), _mm512_shuffle_f32x4(v1, w1, 0xDD));
    }
}

FD_AVX512 static inline void f64_8x8(const char *s, ptrdiff_t ss, char *d, ptrdiff_t ds)
{
    __m512d r[8], t[8], u[8];
    for (int k = 0; k < 8; k++)
        r[k] = _mm512_loadu_pd((const double *)(s + k * ss));
    for (int k = 0; k < 8; k += 2) {
        t[k] = _mm512_unpacklo_pd(r[k], r[k + 1]);     /* columns 0, 2, 4, 6 */
        t[k + 1] = _mm512_unpackhi_pd(r[k], r[k + 1]); /* columns 1, 3, 5, 7 */
    }
    /* u[4h + j]: rows 4h..4h+3 (two per lane) of columns c and c + 4, c = (0, 2, 1, 3)[j] */
    for (int k = 0; k < 8; k += 4) {
        u[k + 0] = _mm512_shuffle_f64x2(t[k], t[k + 2], 0x88);
        u[k + 1] = _mm512_shuffle_f64x2(t[k], t[k + 2], 0xDD);
        u[k + 2] = _mm512_shuffle_f64x2(t[k + 1], t[k + 3], 0x88);
        u[k + 3] = _mm512_shuffle_f64x2(t[k + 1], t[k + 3], 0xDD);
    }
    static const int col[4] = {0, 2, 1, 3};
    for (int j = 0; j < 4; j++) {
        _mm512_storeu_pd((double *)(d + col[j] * ds), _mm512_shuffle_f64x2(u[j], u[4 + j], 0x88));
        _mm512_storeu_pd((double *)(d + (col[j] + 4) * ds),
                         _mm512_shuffle_f64x2(u[j], u[4 + j], 0xDD));
    }
}

GRID(grid_f32_avx2, FD_AVX2, 8, f32_8x8)
GRID(grid_f64_avx2, FD_AVX2, 4, f64_4x4)
GRID(grid_u16_avx2, FD_AVX2, 16, u16_16x16)
GRID(grid_f32_avx512, FD_AVX512, 16, f32_16x16)
GRID(grid_f64_avx512, FD_AVX512, 8, f64_8x8)
#endif

fd_transpose_fn fd_transpose_get(size_t es, size_t *h)
{
    switch (fd_isa_get()) {
#ifdef FD_X86
    case FD_ISA_AVX512:
        switch (es) {
        case 2: *h = 16; return grid_u16_avx2;
        case 4: *h = 16; return grid_f32_avx512;
        case 8: *h = 8; return grid_f64_avx512;
        }
        return NULL;
    case FD_ISA_AVX2:
        switch (es) {
        case 2: *h = 16; return grid_u16_avx2;
        case 4: *h = 8; return grid_f32_avx2;
        case 8: *h = 4; return grid_f64_avx2;
        }
        return NULL;
#endif
    default:
        return NULL;
    }
}
