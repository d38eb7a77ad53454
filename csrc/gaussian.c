/* Gaussian dropout normals: the contract transform from Philox words to standard normals. */
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
#define TWORDS (TILE / 64)

#if defined(__GNUC__) && (defined(__x86_64__) || defined(_M_X64))
#define FD_SX86 1
#define FD_AVX2_ATTR __attribute__((target("avx2")))
#endif

/* ------------------------------------------------------------------------------------------
 * Gaussian normals from Philox words (the contract transform; fastdrop.reference mirrors
 * every operation in the same order). Element g has the contract word W(g) on stream
 * FD_STREAM_GAUSSIAN (word g mod 4 of block g div 4, as for keep bits); elements 2k and 2k+1
 * form a Box-Muller pair from (U, A) = (W(2k), W(2k+1)):
 *   u  = (U + 1) * 2^-32                                   in (0, 1], exact
 *   r  = sqrt(-2 * log(u))                                 log: fdlibm e_log.c, below
 *   o  = A >> 29 (octant), phi = (A mod 2^29) * (pi/4 * 2^-29)     in [0, pi/4)
 *   (c, s) = (cos(phi), sin(phi)) by fdlibm's k_cos / k_sin polynomials
 *   (C, S) = the octant image of (c, s): o = 0..7 -> (c,s) (s,c) (-s,c) (-c,s) (-c,-s)
 *            (-s,-c) (s,-c) (c,-s)
 *   z(2k) = r * C, z(2k+1) = r * S
 * Only IEEE +, -, *, /, sqrt on float64 (and exact integer/bit steps), no FMA.
 * ---------------------------------------------------------------------------------------- */

/* Out: 4 words per block for blocks first_block .. first_block + nblocks - 1: the kernel
 * table's word generator (SIMD on the AVX2 / AVX-512 paths; the same bits on every path). */
static void fill_words(const fd_kernels *k, uint32_t *out, size_t nblocks, uint64_t first_block,
                       uint32_t k0, uint32_t k1, uint32_t stream)
{
    k->words(out, nblocks, first_block, k0, k1, stream);
}

#define LN2_HI 0x1.62e42fee00000p-1
#define LN2_LO 0x1.a39ef35793c76p-33
#define LG1 0x1.5555555555593p-1
#define LG2 0x1.999999997fa04p-2
#define LG3 0x1.2492494229359p-2
#define LG4 0x1.c71c51d8e78afp-3
#define LG5 0x1.7466496cb03dep-3
#define LG6 0x1.39a09d078c69fp-3
#define LG7 0x1.2f112df3e5244p-3
#define SQRT2 0x1.6a09e667f3bcdp+0
#define SN1 -0x1.5555555555549p-3
#define SN2 0x1.111111110f8a6p-7
#define SN3 -0x1.a01a019c161d5p-13
#define SN4 0x1.71de357b1fe7dp-19
#define SN5 -0x1.ae5e68a2b9cebp-26
#define SN6 0x1.5d93a5acfd57cp-33
#define CS1 0x1.555555555554cp-5
#define CS2 -0x1.6c16c16c15177p-10
#define CS3 0x1.a01a019cb1590p-16
#define CS4 -0x1.27e4f809c52adp-22
#define CS5 0x1.1ee9ebdb4b1c4p-29
#define CS6 -0x1.8fae9be8838d4p-37
#define PIO4_2M29 0x1.921fb54442d18p-30 /* float64(pi/4) * 2^-29 */

/* v < 2^52 as a double, exactly (bit trick: vectorises without 64-bit int conversions). */
static inline double exact_u52(uint64_t v)
{
    uint64_t b = 0x4330000000000000ull | v;
    double d;
    memcpy(&d, &b, 8);
    return d - 0x1p52;
}

static inline double bits_to_double(uint64_t b)
{
    double d;
    memcpy(&d, &b, 8);
    return d;
}

#define NORMALS_LOOP(attr, sfx)                                                              \
    attr static void normals_##sfx(const uint32_t *w, size_t npairs, double *z)              \
    {                                                                                        \
        for (size_t j = 0; j < npairs; j++) {                                                \
            uint32_t wu = w[2 * j], wa = w[2 * j + 1];                                       \
            /* u in (0, 1] and its log (fdlibm e_log.c, u normal) */                         \
            double u = exact_u52((uint64_t)wu + 1) * 0x1p-32;                                \
            uint64_t ub;                                                                     \
            memcpy(&ub, &u, 8);                                                              \
            /* u = 2^dk * m, m in [sqrt(2)/2, sqrt(2)): integer selects only */             \
            uint64_t big = (ub & 0x000FFFFFFFFFFFFFull) >= 0x6A09E667F3BCDull;              \
            double dk = exact_u52((ub >> 52) + big) - 1023.0;                               \
            double m = bits_to_double((ub & 0x000FFFFFFFFFFFFFull) |                         \
                                      (0x3FF0000000000000ull - (big << 52)));                \
            double f = m - 1.0;                                                              \
            double s = f / (2.0 + f);                                                        \
            double zz = s * s, ww = zz * zz;                                                 \
            double t1 = ww * (LG2 + ww * (LG4 + ww * LG6));                                  \
            double t2 = zz * (LG1 + ww * (LG3 + ww * (LG5 + ww * LG7)));                     \
            double R = t2 + t1;                                                              \
            double hfsq = 0.5 * f * f;                                                       \
            double lg = dk * LN2_HI - ((hfsq - (s * (hfsq + R) + dk * LN2_LO)) - f);         \
            double r = __builtin_sqrt(-2.0 * lg);                                            \
            /* angle: octant and phi in [0, pi/4) */                                         \
            uint32_t o = wa >> 29;                                                           \
            double phi = exact_u52(wa & 0x1FFFFFFFu) * PIO4_2M29;                            \
            double x2 = phi * phi;                                                           \
            double sr = SN2 + x2 * (SN3 + x2 * (SN4 + x2 * (SN5 + x2 * SN6)));               \
            double sn = phi + (x2 * phi) * (SN1 + x2 * sr);                                  \
            double x4 = x2 * x2;                                                             \
            double cr = x2 * (CS1 + x2 * (CS2 + x2 * CS3)) + x4 * x4 * (CS4 + x2 * (CS5 + x2 * CS6)); \
            double hz = 0.5 * x2;                                                            \
            double cw = 1.0 - hz;                                                            \
            double cs = cw + (((1.0 - cw) - hz) + x2 * cr);                                  \
            uint64_t swap = ((o + 1) >> 1) & 1, negc = ((o + 2) >> 2) & 1, negs = o >> 2;    \
            uint64_t snb, csb;                                                               \
            memcpy(&snb, &sn, 8);                                                            \
            memcpy(&csb, &cs, 8);                                                            \
            uint64_t sel = 0 - swap; /* all ones: swap */                                    \
            double cc = bits_to_double(((snb & sel) | (csb & ~sel)) ^ (negc << 63));         \
            double ss = bits_to_double(((csb & sel) | (snb & ~sel)) ^ (negs << 63));         \
            z[2 * j] = r * cc;                                                               \
            z[2 * j + 1] = r * ss;                                                           \
        }                                                                                    \
    }

NORMALS_LOOP(, base)
#ifdef FD_SX86
NORMALS_LOOP(FD_AVX2_ATTR, avx2)
#endif

static int wide_isa(void) { return fd_isa_get() != FD_ISA_SCALAR; }

static void normals(const uint32_t *w, size_t npairs, double *z, int wide)
{
#ifdef FD_SX86
    if (wide) {
        normals_avx2(w, npairs, z);
        return;
    }
#endif
    (void)wide;
    normals_base(w, npairs, z);
}

/* z[i] = normal of global element g0 + i, i < n <= FD_TILE. */
void fd_gaussian_tile(double *z, size_t n, uint64_t g0, uint64_t seed)
{
    const fd_kernels *k = fd_kernels_current();
    uint32_t words[4 * (TILE / 4 + 2)];
    double zz[TILE + 8];
    uint64_t b0 = g0 >> 2;
    size_t nb = (size_t)(((g0 + n - 1) >> 2) - b0 + 1);
    fill_words(k, words, nb, b0, (uint32_t)seed, (uint32_t)(seed >> 32), FD_STREAM_GAUSSIAN);
    normals(words, 2 * nb, zz, wide_isa());
    memcpy(z, zz + (g0 & 3), n * sizeof(double));
}

void fd_gaussian_normals(double *z, size_t n, uint64_t seed, uint64_t offset, int nthreads)
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
            fd_gaussian_tile(z + i, hi - i < TILE ? hi - i : TILE, offset + i, seed);
    }
}
