/* Loops written once as plain C that gcc vectorises for each target (included by every file
 * of csrc/isa/ with FD_TARGET set): the roofline's float32 / float64 scaled copy (gcc also
 * aligns the stores, which NumPy's arrays are not, so these beat a plain SIMD loop) and
 * Gaussian dropout's per-tile work. Needs the file's words entry (ENTRY(words)) and a float16
 * noise loop noise_f16(x, y, z, n, s) (y = x * (1 + s * z) rounded to half). Defines
 * ENTRY(scale_copy_f32), ENTRY(scale_copy_f64) and ENTRY(gauss_tile) (kernels.h). */
#ifndef FASTDROP_AUTOVEC_INL_H
#define FASTDROP_AUTOVEC_INL_H

#include "structured.h" /* FD_STREAM_GAUSSIAN */

#ifndef FD_TARGET_COPY /* the file may compile the roofline for another vector width */
#define FD_TARGET_COPY FD_TARGET
#endif

FD_TARGET_COPY static void ENTRY(scale_copy_f32)(const float *x, float *y, size_t n, float s)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] * s;
}

FD_TARGET_COPY static void ENTRY(scale_copy_f64)(const double *x, double *y, size_t n, double s)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] * s;
}

/* ---- Gaussian dropout ---- */

#define SUB 1024 /* elements per pass (a multiple of 32): its words stay in L1 */

/* ------------------------------------------------------------------------------------------
 * Normals from Philox words (the contract transform; fastdrop.reference.standard_normals
 * mirrors every operation in the same order). Element g has the contract word W(g) on stream
 * FD_STREAM_GAUSSIAN; elements 32k+i and 32k+16+i (i < 16) are a Box-Muller pair from
 * (U, A) = (W(32k+i), W(32k+16+i)) (whole vectors at 4, 8 or 16 lanes: no shuffles), all in
 * float32 with IEEE +, -, *, sqrt and exact integer/bit steps, no FMA:
 *   v  = float(U >> 16) * 2^16 + float((U & 0xFFFF) + 1)   = U + 1 rounded once
 *   v  = 2^(e+32) * m from v's bits, m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact);
 *        e == 0 (u >= sqrt(1/2)): f = float(~U) * -2^-32 instead (u - 1 rounded once)
 *   r2 = e * (-2 ln 2) - 2 * log1p(f),  log1p(f) = f + f*f * Q(f)      (r2 = -2 ln u)
 *   t  = float(A << 2 as int32) * 2^-31 in [-1, 1], q = A >> 30 (quadrant)
 *   (s, c) = (sin, cos)(pi/4 * t) by polynomials in t; (C, S) = (c, s) turned by q * pi/2
 *   z(32k+i) = sqrt(r2) * C, z(32k+16+i) = sqrt(r2) * S
 * Polynomials by Estrin's scheme (fastdrop.reference: contract_log1p, contract_sincos).
 * ---------------------------------------------------------------------------------------- */
#define LQ0 -0x1.00006p-1f /* log1p(f) = f + f*f * Q(f), Q of degree 6 */
#define LQ1 0x1.5559fp-2f
#define LQ2 -0x1.ff7476p-3f
#define LQ3 0x1.976dd4p-3f
#define LQ4 -0x1.6049b6p-3f
#define LQ5 0x1.4d64dp-3f
#define LQ6 -0x1.a7da9ep-4f
#define SP1 0x1.921fb4p-1f /* sin(pi/4 t) = t * S(t*t) */
#define SP3 -0x1.4abba8p-4f
#define SP5 0x1.465a3ep-9f
#define SP7 -0x1.2cf5d4p-15f
#define CP2 -0x1.3bd3a2p-2f /* cos(pi/4 t) = 1 + t*t * C(t*t) */
#define CP4 0x1.03b162p-6f
#define CP6 -0x1.4ea9e8p-12f
#define M2LN2 -0x1.62e430p+0f   /* float32(-2 ln 2) */

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
    /* v = 2^(e+32) * m, m in [sqrt(1/2), sqrt(2)) (musl's logf split: exponent bits of
     * v / sqrt(1/2), float32(sqrt(1/2)) = 0x3F3504F3; v >= 1, so no sign to care about) */
    uint32_t vt = f2u(v) - 0x3F3504F3u;
    int32_t e = (int32_t)(vt >> 23) - 32;
    float f = u2f(f2u(v) - (vt & 0xFF800000u)) - 1.0f;
    /* u >= sqrt(1/2): ~U < 2^31 there, so the signed conversion is exact-rounded */
    float fnear = (float)(int32_t)~wu * -0x1p-32f;
    uint32_t near = 0u - (uint32_t)(e == 0); /* a bit select: no branch, so gcc vectorises */
    f = u2f((f2u(fnear) & near) | (f2u(f) & ~near));
    /* Estrin's scheme: the same operations in every path, a short dependency chain */
    float f2 = f * f, f4 = f2 * f2;
    float q03 = (LQ0 + LQ1 * f) + (LQ2 + LQ3 * f) * f2;
    float q46 = (LQ4 + LQ5 * f) + LQ6 * f2;
    float lg = f + f2 * (q03 + q46 * f4);
    float r = __builtin_sqrtf((float)e * M2LN2 + lg * -2.0f);
    /* angle: quadrant A >> 30 and phi = pi/4 * t, t = (A << 2 as int32) * 2^-31 in [-1, 1] */
    float t = (float)(int32_t)(wa << 2) * 0x1p-31f;
    float t2 = t * t, t4 = t2 * t2;
    float sn = t * ((SP1 + SP3 * t2) + (SP5 + SP7 * t2) * t4);
    float cs = 1.0f + t2 * ((CP2 + CP4 * t2) + CP6 * t4);
    /* quadrant q: (C, S) = (c, s), (-s, c), (-c, -s), (s, -c) */
    uint32_t swap = (uint32_t)((int32_t)(wa << 1) >> 31); /* all ones for odd q */
    uint32_t negc = (wa + 0x40000000u) & 0x80000000u, negs = wa & 0x80000000u;
    uint32_t snb = f2u(sn), csb = f2u(cs);
    float cc = u2f(((snb & swap) | (csb & ~swap)) ^ negc);
    float ss = u2f(((csb & swap) | (snb & ~swap)) ^ negs);
    *z0 = r * cc;
    *z1 = r * ss;
}

/* y = x * (1 + s * z) over ngroups whole pair groups (words w), z made on the fly; T is the
 * compute dtype (float64: z converted exactly). A separate in-place copy (x == y) keeps gcc's
 * aliasing check from sending that case to the scalar loop. */
#define FUSED_GROUPS(T, xp, yp, s)                                                           \
    for (size_t q = 0; q < 32 * ngroups; q += 32)                                            \
        for (size_t i = 0; i < 16; i++) {                                                    \
            float z0, z1;                                                                    \
            normal_pair(w[q + i], w[q + 16 + i], &z0, &z1);                                  \
            T x0 = xp[q + i], x1 = xp[q + 16 + i];                                           \
            yp[q + i] = x0 * ((T)1 + s * (T)z0);                                             \
            yp[q + 16 + i] = x1 * ((T)1 + s * (T)z1);                                        \
        }

FD_TARGET static void gauss_normals(const uint32_t *restrict w, size_t ngroups, float *restrict z)
{
    for (size_t q = 0; q < 32 * ngroups; q += 32)
        for (size_t i = 0; i < 16; i++)
            normal_pair(w[q + i], w[q + 16 + i], &z[q + i], &z[q + 16 + i]);
}

FD_TARGET static void gauss_fused_f32(const uint32_t *restrict w, size_t ngroups, const float *x,
                                      float *y, float s)
{
    FUSED_GROUPS(float, x, y, s)
}

FD_TARGET static void gauss_fused_f32_inplace(const uint32_t *restrict w, size_t ngroups, float *y,
                                              float s)
{
    FUSED_GROUPS(float, y, y, s)
}

FD_TARGET static void gauss_fused_f64(const uint32_t *restrict w, size_t ngroups, const double *x,
                                      double *y, double s)
{
    FUSED_GROUPS(double, x, y, s)
}

FD_TARGET static void gauss_fused_f64_inplace(const uint32_t *restrict w, size_t ngroups,
                                              double *y, double s)
{
    FUSED_GROUPS(double, y, y, s)
}

/* y = x * (1 + s * z) in the compute dtype, from normals in a buffer */
FD_TARGET static void noise_f32(const float *x, float *y, const float *restrict z, size_t n,
                                float s)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] * (1.0f + s * z[i]);
}

FD_TARGET static void noise_f64(const double *x, double *y, const float *restrict z, size_t n,
                                double s)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] * (1.0 + s * (double)z[i]);
}

/* One run of elements (a tile): see gauss_tile in kernels.h. */
FD_TARGET static void ENTRY(gauss_tile)(fd_dtype dt, const void *x, void *y, float *z, size_t n,
                                        uint64_t g0, uint64_t seed, double sigma)
{
    _Alignas(64) uint32_t w[SUB + 32];
    _Alignas(64) float zz[SUB + 32];
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (size_t i = 0, m; i < n; i += m) {
        uint64_t g = g0 + i;
        if (!z && dt != FD_F16 && !(g & 31) && n - i >= 32) {
            /* whole pair groups, up to SUB elements: normals made and applied in one loop, so
             * the loads and stores of x and y overlap the arithmetic */
            m = (n - i < SUB ? n - i : SUB) & ~(size_t)31;
            ENTRY(words)(w, m / 4, g >> 2, k0, k1, FD_STREAM_GAUSSIAN);
            if (dt == FD_F32 && x == y)
                gauss_fused_f32_inplace(w, m / 32, (float *)y + i, (float)sigma);
            else if (dt == FD_F32)
                gauss_fused_f32(w, m / 32, (const float *)x + i, (float *)y + i, (float)sigma);
            else if (x == y)
                gauss_fused_f64_inplace(w, m / 32, (double *)y + i, sigma);
            else
                gauss_fused_f64(w, m / 32, (const double *)x + i, (double *)y + i, sigma);
            continue;
        }
        /* otherwise (normals wanted, float16, or up to the next group boundary) the normals of
         * whole groups go through zz */
        size_t room = z || dt == FD_F16 ? SUB - (g & 31) : 32 - (g & 31);
        m = n - i < room ? n - i : room;
        size_t ng = (size_t)(((g + m - 1) >> 5) - (g >> 5) + 1);
        ENTRY(words)(w, 8 * ng, (g >> 5) << 3, k0, k1, FD_STREAM_GAUSSIAN);
        gauss_normals(w, ng, zz);
        const float *zt = zz + (g & 31);
        if (z)
            memcpy(z + i, zt, m * sizeof(float));
        else if (dt == FD_F32)
            noise_f32((const float *)x + i, (float *)y + i, zt, m, (float)sigma);
        else if (dt == FD_F64)
            noise_f64((const double *)x + i, (double *)y + i, zt, m, sigma);
        else
            noise_f16((const uint16_t *)x + i, (uint16_t *)y + i, zt, m, (float)sigma);
    }
}

#endif
