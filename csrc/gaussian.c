/* Gaussian dropout: the contract transform from Philox words to float32 standard normals, and
 * y = x * (1 + s * z) fused per tile (no normals array is materialised). */
#include <stdlib.h>
#include <string.h>

#include "fastdrop.h"
#include "kernels.h"
#include "philox.h"
#include "strided.h"
#include "structured.h"
#include "gaussian.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define TILE FD_TILE
#define CHUNK FD_CHUNK

#if defined(__GNUC__) && (defined(__x86_64__) || defined(_M_X64))
#define FD_GX86 1
#define FD_AVX2_ATTR __attribute__((target("avx2,f16c")))
#define FD_AVX512_ATTR                                                                       \
    __attribute__((target("avx512f,avx512bw,avx512vl,bmi2,f16c,avx2,prefer-vector-width=512")))
#endif

/* ------------------------------------------------------------------------------------------
 * Normals from Philox words (the contract transform; fastdrop.reference.standard_normals
 * mirrors every operation in the same order). Element g has the contract word W(g) on stream
 * FD_STREAM_GAUSSIAN; elements 2k and 2k+1 are a Box-Muller pair from (U, A) = (W(2k),
 * W(2k+1)), all in float32 with IEEE +, -, *, sqrt and exact integer/bit steps, no FMA:
 *   v  = float(U >> 16) * 2^16 + float((U & 0xFFFF) + 1)   = U + 1 rounded once
 *   v  = 2^(e+32) * m from v's bits, m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact);
 *        e == 0 (u >= sqrt(1/2)): f = float(~U) * -2^-32 instead (u - 1 rounded once)
 *   r2 = e * (-2 ln 2) - 2 * log1p(f),  log1p(f) = f + f*f * Q(f)      (r2 = -2 ln u)
 *   t  = float(A & (2^29 - 1)) * 2^-29 in [0, 1], o = A >> 29 (octant)
 *   (s, c) = (sin, cos)(pi/4 * t) by polynomials in t; (C, S) the octant image of (c, s)
 *   z(2k) = sqrt(r2) * C, z(2k+1) = sqrt(r2) * S
 * ---------------------------------------------------------------------------------------- */
#define LQ0 -0x1.fffff4p-2f
#define LQ1 0x1.5556e8p-2f
#define LQ2 -0x1.0006c6p-2f
#define LQ3 0x1.98da1ep-3f
#define LQ4 -0x1.52fb0ap-3f
#define LQ5 0x1.30d15ep-3f
#define LQ6 -0x1.27766ap-3f
#define LQ7 0x1.6fcd36p-4f
#define SP1 0x1.921fb4p-1f
#define SP3 -0x1.4abba8p-4f
#define SP5 0x1.465a3ep-9f
#define SP7 -0x1.2cf5d4p-15f
#define CP2 -0x1.3bd3ccp-2f
#define CP4 0x1.03c1dep-6f
#define CP6 -0x1.55c664p-12f
#define CP8 0x1.d9f7bcp-19f
#define M2LN2 -0x1.62e430p+0f   /* float32(-2 ln 2) */
#define SQRT2_MANT 0x3504F3u    /* significand field of float32(sqrt(2)) */

static inline uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Written once, inlined into each target's loop so that gcc vectorises it per ISA. */
static inline __attribute__((always_inline)) void normal_pair(uint32_t wu, uint32_t wa,
                                                              float *z0, float *z1)
{
    /* radius: r2 = -2 ln((U + 1) * 2^-32) */
    float v = (float)(int32_t)(wu >> 16) * 65536.0f + (float)(int32_t)((wu & 0xFFFFu) + 1);
    uint32_t vb = f2u(v), mant = vb & 0x7FFFFFu;
    uint32_t big = mant >= SQRT2_MANT;
    int32_t e = (int32_t)((vb >> 23) + big) - (127 + 32);
    float f = u2f(mant | (0x3F800000u - (big << 23))) - 1.0f;
    /* u >= sqrt(1/2): ~U < 2^31 there, so the signed conversion is exact-rounded */
    float fnear = (float)(int32_t)~wu * -0x1p-32f;
    uint32_t near = 0u - (uint32_t)(e == 0); /* a bit select: no branch, so gcc vectorises */
    f = u2f((f2u(fnear) & near) | (f2u(f) & ~near));
    float q = LQ6 + f * LQ7;
    q = LQ5 + f * q;
    q = LQ4 + f * q;
    q = LQ3 + f * q;
    q = LQ2 + f * q;
    q = LQ1 + f * q;
    q = LQ0 + f * q;
    float lg = f + (f * f) * q;
    float r = __builtin_sqrtf((float)e * M2LN2 + lg * -2.0f);
    /* angle: octant o and t = phi / (pi/4) in [0, 1] */
    uint32_t o = wa >> 29;
    float t = (float)(int32_t)(wa & 0x1FFFFFFFu) * 0x1p-29f;
    float t2 = t * t;
    float sn = t * (SP1 + t2 * (SP3 + t2 * (SP5 + t2 * SP7)));
    float cs = 1.0f + t2 * (CP2 + t2 * (CP4 + t2 * (CP6 + t2 * CP8)));
    uint32_t swap = 0u - (((o + 1) >> 1) & 1u); /* all ones: swap */
    uint32_t negc = ((o + 2) >> 2) << 31, negs = (o >> 2) << 31; /* sign bits (bit 0 only) */
    uint32_t snb = f2u(sn), csb = f2u(cs);
    float cc = u2f(((snb & swap) | (csb & ~swap)) ^ negc);
    float ss = u2f(((csb & swap) | (snb & ~swap)) ^ negs);
    *z0 = r * cc;
    *z1 = r * ss;
}

static void noise_f16(const uint16_t *x, uint16_t *y, const float *z, size_t n, float s)
{
    for (size_t i = 0; i < n; i++)
        y[i] = fd_float_to_half(fd_half_to_float(x[i]) * (1.0f + s * z[i]));
}

/* Per target: the normals of npairs pairs (words w, 2 per pair) and the NOISE arithmetic
 * y = x * (1 + s * z) in the compute dtype (float64: z converted exactly). */
#define GAUSS_LOOPS(attr, sfx)                                                               \
    attr static void normals_##sfx(const uint32_t *restrict w, size_t npairs,                \
                                   float *restrict z)                                        \
    {                                                                                        \
        for (size_t j = 0; j < npairs; j++)                                                  \
            normal_pair(w[2 * j], w[2 * j + 1], &z[2 * j], &z[2 * j + 1]);                  \
    }                                                                                        \
    attr static void noise_f32_##sfx(const float *x, float *y, const float *restrict z,      \
                                     size_t n, float s)                                      \
    {                                                                                        \
        for (size_t i = 0; i < n; i++)                                                       \
            y[i] = x[i] * (1.0f + s * z[i]);                                                 \
    }                                                                                        \
    attr static void noise_f64_##sfx(const double *x, double *y, const float *restrict z,    \
                                     size_t n, double s)                                     \
    {                                                                                        \
        for (size_t i = 0; i < n; i++)                                                       \
            y[i] = x[i] * (1.0 + s * (double)z[i]);                                          \
    }                                                                                        \
    attr static void tile_##sfx(const fd_kernels *k, fd_dtype dt, const void *x, void *y,    \
                                float *z, size_t n, uint64_t g0, uint64_t seed, double sigma) \
    {                                                                                        \
        _Alignas(64) uint32_t w[4 * (TILE / 4 + 2)];                                         \
        _Alignas(64) float zz[4 * (TILE / 4 + 2)];                                           \
        uint64_t b0 = g0 >> 2;                                                               \
        size_t nb = (size_t)(((g0 + n - 1) >> 2) - b0 + 1);                                  \
        k->words(w, nb, b0, (uint32_t)seed, (uint32_t)(seed >> 32), FD_STREAM_GAUSSIAN);     \
        normals_##sfx(w, 2 * nb, zz);                                                        \
        const float *zt = zz + (g0 & 3);                                                     \
        if (z)                                                                               \
            memcpy(z, zt, n * sizeof(float));                                                \
        else if (dt == FD_F32)                                                               \
            noise_f32_##sfx((const float *)x, (float *)y, zt, n, (float)sigma);              \
        else if (dt == FD_F64)                                                               \
            noise_f64_##sfx((const double *)x, (double *)y, zt, n, sigma);                   \
        else                                                                                 \
            noise_f16((const uint16_t *)x, (uint16_t *)y, zt, n, (float)sigma);              \
    }

GAUSS_LOOPS(, base)
#ifdef FD_GX86
GAUSS_LOOPS(FD_AVX2_ATTR, avx2)
GAUSS_LOOPS(FD_AVX512_ATTR, avx512)
#endif

/* z != NULL: z[i] = normal of element g0 + i; else y = x * (1 + sigma * z) over the tile. */
static void gauss_tile(fd_dtype dt, const void *x, void *y, float *z, size_t n, uint64_t g0,
                       uint64_t seed, double sigma)
{
    const fd_kernels *k = fd_kernels_current();
    switch (fd_isa_get()) {
#ifdef FD_GX86
    case FD_ISA_AVX512:
        tile_avx512(k, dt, x, y, z, n, g0, seed, sigma);
        return;
    case FD_ISA_AVX2:
        tile_avx2(k, dt, x, y, z, n, g0, seed, sigma);
        return;
#endif
    default:
        tile_base(k, dt, x, y, z, n, g0, seed, sigma);
    }
}

void fd_gaussian_apply(fd_dtype dtype, const void *x, void *y, size_t n, uint64_t g0,
                       uint64_t seed, double sigma)
{
    gauss_tile(dtype, x, y, NULL, n, g0, seed, sigma);
}

void fd_gaussian_normals(float *z, size_t n, uint64_t seed, uint64_t offset, int nthreads)
{
    size_t nchunks = (n + CHUNK - 1) / CHUNK;
    if (nthreads < 1 || n < fd_parallel_threshold())
        nthreads = 1;
    if ((size_t)nthreads > nchunks)
        nthreads = nchunks ? (int)nchunks : 1;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads) if (nthreads > 1)
#endif
    for (size_t c = 0; c < nchunks; c++) {
        size_t lo = c * CHUNK, hi = lo + CHUNK < n ? lo + CHUNK : n;
        for (size_t i = lo; i < hi; i += TILE)
            gauss_tile(FD_F32, NULL, NULL, z + i, hi - i < TILE ? hi - i : TILE, offset + i,
                       seed, 0.0);
    }
}
