/* Structured dropout: one tiled, chunked driver (fd_struct_apply) for every elementwise
 * operation whose keep bits come from the Philox contract, a full packed mask or a broadcast
 * (reduced) packed mask; the Gaussian normal transform; the DropBlock mask builder.
 *
 * Bits: Bernoulli words always come from the core machinery (fd_masked_scale with x = y = NULL
 * draws a packed mask over any index range with the core contract, SIMD included); the
 * per-element arithmetic of SCALE is the core's own apply_* kernels. Every result is a pure
 * function of the element index, so the thread split (fixed CHUNK-aligned ranges) never
 * changes a bit. Packed masks are read as little-endian 64-bit words (x86-64, like the core). */
#include <stdlib.h>
#include <string.h>

#include "fastdrop.h"
#include "kernels.h"
#include "philox.h"
#include "strided.h"
#include "structured.h"

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
 * Bit helpers (bit i of a packed mask = bit i%8 of byte i/8 = bit i%64 of LE word i/64).
 * ---------------------------------------------------------------------------------------- */

/* 64 bits of a packed byte mask starting at bit pos; bits past nbytes read as 0. */
static inline uint64_t load_bits(const uint8_t *m, size_t nbytes, size_t pos)
{
    size_t byte = pos >> 3;
    unsigned sh = (unsigned)(pos & 7);
    uint64_t v = 0;
    if (byte + 8 <= nbytes)
        memcpy(&v, m + byte, 8);
    else if (byte < nbytes)
        memcpy(&v, m + byte, nbytes - byte);
    v >>= sh;
    if (sh && byte + 8 < nbytes)
        v |= (uint64_t)m[byte + 8] << (64 - sh);
    return v;
}

/* 64 bits of a word array starting at bit pos (the caller keeps pos + 64 within nwords words
 * or accepts reading the following word, which must exist). */
static inline uint64_t word_bits(const uint64_t *w, size_t nwords, size_t pos)
{
    size_t i = pos >> 6;
    unsigned sh = (unsigned)(pos & 63);
    uint64_t v = w[i] >> sh;
    if (sh && i + 1 < nwords)
        v |= w[i + 1] << (64 - sh);
    return v;
}

/* dst |= the low len (<= 64) bits of v, placed at bit pos. */
static inline void or_bits(uint64_t *dst, size_t pos, uint64_t v, unsigned len)
{
    if (len < 64)
        v &= (1ull << len) - 1;
    size_t w = pos >> 6;
    unsigned sh = (unsigned)(pos & 63);
    dst[w] |= v << sh;
    if (sh && sh + len > 64)
        dst[w + 1] |= v >> (64 - sh);
}

static void set_run(uint64_t *dst, size_t pos, size_t len)
{
    while (len) {
        unsigned l = len < 64 ? (unsigned)len : 64;
        or_bits(dst, pos, ~0ull, l);
        pos += l;
        len -= l;
    }
}

/* ------------------------------------------------------------------------------------------
 * Broadcast bit map: keep bits of x's flat range from a reduced packed mask.
 * ---------------------------------------------------------------------------------------- */
typedef struct {
    int ndim;
    ptrdiff_t shape[64];
    ptrdiff_t rs[64]; /* bit stride in the reduced mask (0: broadcast) */
    const uint8_t *mask;
    size_t nbytes;
} bmap;

static void bmap_init(bmap *m, int ndim, const ptrdiff_t *shape, const ptrdiff_t *rs,
                      const uint8_t *mask, size_t nbits)
{
    m->mask = mask;
    m->nbytes = (nbits + 7) / 8;
    m->ndim = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1)
            continue;
        if (m->ndim && m->rs[m->ndim - 1] == rs[d] * shape[d]) {
            m->shape[m->ndim - 1] *= shape[d];
            m->rs[m->ndim - 1] = rs[d];
        } else {
            m->shape[m->ndim] = shape[d];
            m->rs[m->ndim] = rs[d];
            m->ndim++;
        }
    }
    if (m->ndim == 0) { /* a single element */
        m->ndim = 1;
        m->shape[0] = 1;
        m->rs[0] = 0;
    }
}

static void bmap_bits(const bmap *m, size_t i0, size_t n, uint64_t *bits)
{
    int nd = m->ndim, in = nd - 1;
    ptrdiff_t idx[64];
    size_t pos = 0, rem = i0;
    memset(bits, 0, ((n + 63) / 64 + 1) * 8);
    for (int d = in; d >= 0; d--) {
        idx[d] = (ptrdiff_t)(rem % (size_t)m->shape[d]);
        rem /= (size_t)m->shape[d];
        pos += (size_t)idx[d] * (size_t)m->rs[d];
    }
    const ptrdiff_t len = m->shape[in], rsi = m->rs[in];
    size_t done = 0;
    while (done < n) {
        size_t run = (size_t)(len - idx[in]);
        if (run > n - done)
            run = n - done;
        if (rsi == 0) { /* one decision for the whole run */
            if ((m->mask[pos >> 3] >> (pos & 7)) & 1)
                set_run(bits, done, run);
        } else if (rsi == 1) { /* a run of consecutive reduced bits */
            for (size_t c = 0; c < run; c += 64) {
                unsigned l = run - c < 64 ? (unsigned)(run - c) : 64;
                or_bits(bits, done + c, load_bits(m->mask, m->nbytes, pos + c), l);
            }
        } else {
            for (size_t c = 0; c < run; c++) {
                size_t q = pos + c * (size_t)rsi;
                bits[(done + c) >> 6] |= (uint64_t)((m->mask[q >> 3] >> (q & 7)) & 1)
                                         << ((done + c) & 63);
            }
        }
        done += run;
        idx[in] += (ptrdiff_t)run;
        pos += run * (size_t)rsi;
        for (int d = in; d > 0 && idx[d] == m->shape[d]; d--) {
            pos -= (size_t)idx[d] * (size_t)m->rs[d];
            idx[d] = 0;
            idx[d - 1]++;
            pos += (size_t)m->rs[d - 1];
        }
    }
}

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

/* z[i] = normal of global element g0 + i, i < n <= TILE. */
static void tile_normals(const fd_kernels *k, double *z, size_t n, uint64_t g0, uint64_t seed,
                         int wide)
{
    uint32_t words[4 * (TILE / 4 + 2)];
    double zz[TILE + 8];
    uint64_t b0 = g0 >> 2;
    size_t nb = (size_t)(((g0 + n - 1) >> 2) - b0 + 1);
    fill_words(k, words, nb, b0, (uint32_t)seed, (uint32_t)(seed >> 32), FD_STREAM_GAUSSIAN);
    normals(words, 2 * nb, zz, wide);
    memcpy(z, zz + (g0 & 3), n * sizeof(double));
}

void fd_gaussian_normals(double *z, size_t n, uint64_t seed, uint64_t offset, int nthreads)
{
    int wide = wide_isa();
    const fd_kernels *k = fd_kernels_current();
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
            tile_normals(k, z + i, hi - i < TILE ? hi - i : TILE, offset + i, seed, wide);
    }
}

/* ------------------------------------------------------------------------------------------
 * Per-tile arithmetic for AFFINE and NOISE (SCALE is the core's apply_*).
 * ---------------------------------------------------------------------------------------- */
/* Selects are done on the bits (kept: all-ones mask) so the loops have no branches and
 * vectorise; the arithmetic is the same IEEE operations as the reference. */
static inline float sel_f32(uint32_t keep, float v, float d)
{
    uint32_t vb, db, m = 0u - keep;
    memcpy(&vb, &v, 4);
    memcpy(&db, &d, 4);
    vb = (vb & m) | (db & ~m);
    memcpy(&v, &vb, 4);
    return v;
}

static inline double sel_f64(uint64_t keep, double v, double d)
{
    uint64_t vb, db, m = 0ull - keep;
    memcpy(&vb, &v, 8);
    memcpy(&db, &d, 8);
    vb = (vb & m) | (db & ~m);
    memcpy(&v, &vb, 8);
    return v;
}

#define TILE_LOOPS(attr, sfx)                                                                \
    attr static void affine_f32_##sfx(const float *x, float *y, const uint64_t *bits,        \
                                      size_t n, float a, float b, float d)                   \
    {                                                                                        \
        size_t i = 0;                                                                        \
        for (; i + 32 <= n; i += 32) {                                                       \
            uint32_t h = (uint32_t)(bits[i >> 6] >> (i & 32));                               \
            for (unsigned j = 0; j < 32; j++)                                                \
                y[i + j] = sel_f32((h >> j) & 1u, x[i + j] * a + b, d);                      \
        }                                                                                    \
        for (; i < n; i++)                                                                   \
            y[i] = sel_f32((uint32_t)(bits[i >> 6] >> (i & 63)) & 1u, x[i] * a + b, d);      \
    }                                                                                        \
    attr static void affine_f64_##sfx(const double *x, double *y, const uint64_t *bits,      \
                                      size_t n, double a, double b, double d)                \
    {                                                                                        \
        size_t i = 0;                                                                        \
        for (; i + 64 <= n; i += 64) {                                                       \
            uint64_t m = bits[i >> 6];                                                       \
            for (unsigned j = 0; j < 64; j++)                                                \
                y[i + j] = sel_f64((m >> j) & 1u, x[i + j] * a + b, d);                      \
        }                                                                                    \
        for (; i < n; i++)                                                                   \
            y[i] = sel_f64((bits[i >> 6] >> (i & 63)) & 1u, x[i] * a + b, d);                \
    }                                                                                        \
    attr static void noise_f32_##sfx(const float *x, float *y, const double *z, size_t n,    \
                                     double sigma)                                           \
    {                                                                                        \
        for (size_t i = 0; i < n; i++)                                                       \
            y[i] = x[i] * (float)(1.0 + sigma * z[i]);                                       \
    }                                                                                        \
    attr static void noise_f64_##sfx(const double *x, double *y, const double *z, size_t n,  \
                                     double sigma)                                           \
    {                                                                                        \
        for (size_t i = 0; i < n; i++)                                                       \
            y[i] = x[i] * (1.0 + sigma * z[i]);                                              \
    }

TILE_LOOPS(, base)
#ifdef FD_SX86
TILE_LOOPS(FD_AVX2_ATTR, avx2)
#endif

static void affine_f16(const uint16_t *x, uint16_t *y, const uint64_t *bits, size_t n, float a,
                       float b, float d)
{
    uint16_t dh = fd_float_to_half(d);
    for (size_t i = 0; i < n; i++)
        y[i] = ((bits[i >> 6] >> (i & 63)) & 1) ? fd_float_to_half(fd_half_to_float(x[i]) * a + b)
                                                : dh;
}

static void noise_f16(const uint16_t *x, uint16_t *y, const double *z, size_t n, double sigma)
{
    for (size_t i = 0; i < n; i++)
        y[i] = fd_float_to_half(fd_half_to_float(x[i]) * (float)(1.0 + sigma * z[i]));
}

/* ------------------------------------------------------------------------------------------
 * The driver.
 * ---------------------------------------------------------------------------------------- */
typedef struct {
    fd_dtype dtype;
    size_t es, n;
    const fd_strided *x, *y;
    const fd_struct_op *op;
    const bmap *bm;
    const fd_kernels *k;
    int wide;
    float s32, a32, b32, d32;
} sjob;

static void tile_keep(const sjob *j, size_t i0, size_t n, uint64_t *bits)
{
    const fd_struct_op *op = j->op;
    if (j->bm) {
        bmap_bits(j->bm, i0, n, bits);
    } else if (op->mask) {
        memcpy(bits, op->mask + i0 / 8, (n + 7) / 8);
    } else {
        fd_bernoulli b = *op->bern;
        b.offset += i0;
        fd_masked_scale(FD_F32, NULL, NULL, n, NULL, (uint8_t *)bits, &b, 0, 0.0, 1);
        if (op->mask_out)
            memcpy(op->mask_out + i0 / 8, bits, (n + 7) / 8);
    }
}

static void run_tile(const sjob *j, size_t i0, size_t n, char *xbuf, char *ybuf)
{
    const fd_struct_op *op = j->op;
    uint64_t bits[TWORDS + 2];
    double z[TILE];
    if (op->op == FD_OP_NOISE)
        tile_normals(j->k, z, n, op->offset + i0, op->seed, j->wide);
    else
        tile_keep(j, i0, n, bits);
    const char *xp;
    char *yp;
    if (j->x->contiguous) {
        xp = j->x->data + i0 * j->es;
    } else {
        fd_strided_copy(j->x, i0, n, xbuf, j->es, 1);
        xp = xbuf;
    }
    yp = j->y->contiguous ? j->y->data + i0 * j->es : ybuf;
    switch (op->op) {
    case FD_OP_SCALE:
        if (j->dtype == FD_F32)
            j->k->apply_f32((const float *)xp, (float *)yp, bits, n, j->s32, op->scaled);
        else if (j->dtype == FD_F64)
            j->k->apply_f64((const double *)xp, (double *)yp, bits, n, op->scale, op->scaled);
        else
            j->k->apply_f16((const uint16_t *)xp, (uint16_t *)yp, bits, n, j->s32, op->scaled);
        break;
    case FD_OP_AFFINE:
        if (j->dtype == FD_F32) {
#ifdef FD_SX86
            if (j->wide)
                affine_f32_avx2((const float *)xp, (float *)yp, bits, n, j->a32, j->b32, j->d32);
            else
#endif
                affine_f32_base((const float *)xp, (float *)yp, bits, n, j->a32, j->b32, j->d32);
        } else if (j->dtype == FD_F64) {
#ifdef FD_SX86
            if (j->wide)
                affine_f64_avx2((const double *)xp, (double *)yp, bits, n, op->a, op->b, op->d);
            else
#endif
                affine_f64_base((const double *)xp, (double *)yp, bits, n, op->a, op->b, op->d);
        } else {
            affine_f16((const uint16_t *)xp, (uint16_t *)yp, bits, n, j->a32, j->b32, j->d32);
        }
        break;
    default: /* NOISE */
        if (j->dtype == FD_F32) {
#ifdef FD_SX86
            if (j->wide)
                noise_f32_avx2((const float *)xp, (float *)yp, z, n, op->sigma);
            else
#endif
                noise_f32_base((const float *)xp, (float *)yp, z, n, op->sigma);
        } else if (j->dtype == FD_F64) {
#ifdef FD_SX86
            if (j->wide)
                noise_f64_avx2((const double *)xp, (double *)yp, z, n, op->sigma);
            else
#endif
                noise_f64_base((const double *)xp, (double *)yp, z, n, op->sigma);
        } else {
            noise_f16((const uint16_t *)xp, (uint16_t *)yp, z, n, op->sigma);
        }
    }
    if (!j->y->contiguous)
        fd_strided_copy(j->y, i0, n, ybuf, j->es, 0);
}

static void run_chunk(const sjob *j, size_t c0, size_t c1)
{
    _Alignas(64) char xbuf[TILE * 8], ybuf[TILE * 8];
    for (size_t i = c0; i < c1; i += TILE)
        run_tile(j, i, (c1 - i < TILE) ? c1 - i : TILE, xbuf, ybuf);
}

static void run_chunk_ctx(const void *j, size_t c0, size_t c1) { run_chunk(j, c0, c1); }

int fd_struct_apply(fd_dtype dtype, const fd_view *x, const fd_view *y, const fd_struct_op *op,
                    int nthreads)
{
    static const size_t sizes[] = {2, 4, 8};
    if ((unsigned)dtype > FD_F64 || !x || !y || x->ndim > 64 || y->ndim > 64 || x->ndim != y->ndim)
        return -1;
    if (op->op != FD_OP_NOISE && !op->bern && !op->mask)
        return -1;
    size_t n = 1;
    for (int d = 0; d < x->ndim; d++)
        n *= (size_t)x->shape[d];
    fd_strided xv, yv;
    bmap bm;
    fd_strided_init(&xv, x, sizes[dtype]);
    fd_strided_init(&yv, y, sizes[dtype]);
    sjob j = {dtype, sizes[dtype], n, &xv, &yv, op, NULL, fd_kernels_current(), wide_isa(),
              (float)op->scale, (float)op->a, (float)op->b, (float)op->d};
    if (op->op != FD_OP_NOISE && !op->bern && op->rstrides) {
        bmap_init(&bm, x->ndim, x->shape, op->rstrides, op->mask, op->mask_bits);
        j.bm = &bm;
    }
    fd_parallel_chunks(n, nthreads, run_chunk_ctx, &j);
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * DropBlock.
 * ---------------------------------------------------------------------------------------- */

static inline unsigned popcount64(uint64_t v)
{
    v = v - ((v >> 1) & 0x5555555555555555ull);
    v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
    v = (v + (v >> 4)) & 0x0F0F0F0F0F0F0F0Full;
    return (unsigned)((v * 0x0101010101010101ull) >> 56);
}

static inline uint64_t low_mask(size_t l) { return l >= 64 ? ~0ull : (1ull << l) - 1; }

/* v |= v << L over a bit vector of nw words (bits move to higher indices; beyond nw dropped). */
static void shl_or(uint64_t *v, size_t nw, size_t L)
{
    size_t q = L >> 6;
    unsigned r = (unsigned)(L & 63);
    for (size_t w = nw; w-- > q;) {
        uint64_t s = v[w - q] << r;
        if (r && w - q > 0)
            s |= v[w - q - 1] >> (64 - r);
        v[w] |= s;
    }
}

/* Trailing window: v[c] <- OR of v[c-k+1 .. c] (by doubling: O(nw log k)). */
static void window_bits(uint64_t *v, size_t nw, size_t k)
{
    size_t m = 1;
    while (2 * m <= k) {
        shl_or(v, nw, m);
        m *= 2;
    }
    if (k > m)
        shl_or(v, nw, k - m);
}

/* Leading window of one word: bit j <- OR of bits j .. j+k-1 (bits past 63 read as 0). */
static inline uint64_t lead_window(uint64_t v, size_t k)
{
    size_t m = 1;
    while (2 * m <= k) {
        v |= v >> m;
        m *= 2;
    }
    if (k > m)
        v |= v >> (k - m);
    return v;
}

/* rows i >= sh (nw words at base + i*stride) |= row i - sh; descending, so in place. */
static void rows_or(uint64_t *base, size_t nrows, size_t stride, size_t nw, size_t sh)
{
    if (nw == 1) {
        for (size_t i = nrows; i-- > sh;)
            base[i * stride] |= base[(i - sh) * stride];
        return;
    }
    for (size_t i = nrows; i-- > sh;) {
        uint64_t *dst = base + i * stride;
        const uint64_t *src = base + (i - sh) * stride;
        for (size_t w = 0; w < nw; w++)
            dst[w] |= src[w];
    }
}

/* The trailing window along rows: row i <- OR of rows i-k+1 .. i. */
static void window_rows(uint64_t *base, size_t nrows, size_t stride, size_t nw, size_t k)
{
    size_t m = 1;
    while (2 * m <= k) {
        rows_or(base, nrows, stride, nw, m);
        m *= 2;
    }
    if (k > m)
        rows_or(base, nrows, stride, nw, k - m);
}

uint64_t fd_count_bits(const uint8_t *mask, size_t n)
{
    uint64_t c = 0;
    size_t nfull = n / 64;
    for (size_t w = 0; w < nfull; w++) {
        uint64_t v;
        memcpy(&v, mask + 8 * w, 8);
        c += popcount64(v);
    }
    for (size_t i = nfull * 64; i < n; i++)
        c += (mask[i >> 3] >> (i & 7)) & 1;
    return c;
}

/* Geometry of one DropBlock call (per axis a = D, H, W). */
typedef struct {
    size_t S[3], K[3], G[3], O[3], E[3];
    size_t P, Gn, pw, nw, nwx, slab;
    int narrow; /* rows of one word: G[2] + K[2] - 1 <= 64 (so S[2] <= 64) */
} dbgeom;

/* Per-thread scratch of the plane builder. */
typedef struct {
    uint64_t *B;    /* (E0 * slab + 1) words: rows in output-W coordinates, (E0, E1) layout */
    uint64_t *row;  /* nwx + 2 words: one extended seed row */
    uint64_t *out;  /* S0 * S1 + 1 words: output rows (narrow maps) */
    size_t *nz;     /* G0 * G1 + 1: indices of rows holding seeds (narrow maps) */
} dbscratch;

static size_t bit_length(size_t v)
{
    size_t b = 0;
    while (v) {
        b++;
        v >>= 1;
    }
    return b;
}

/* The dropped bits of one plane (tight, P bits, in D: pw zeroed words) from its seeds: bits
 * sbit0 .. sbit0 + Gn - 1 of the packed keep mask sb (a seed where the bit is 0). Every path
 * computes the same set, the union of the clipped blocks of the seeds. Returns the count. */
static uint64_t plane_dropped(const dbgeom *g, const uint8_t *sb, size_t sbytes, size_t sbit0,
                              uint64_t *D, const dbscratch *w)
{
    const size_t *S = g->S, *K = g->K, *G = g->G, *O = g->O, *E = g->E;
    const size_t nw = g->nw, slab = g->slab;
    uint64_t *B = w->B;
    uint64_t dropped = 0;
    if (g->narrow) {
        /* W pass, one word per row: out[j] = OR seeds[j + O - K + 1 .. j + O]; with the seeds
         * moved up by K - 1 (G + K - 1 <= 64 bits) that is the leading window at j + O.
         * Dilated rows go to w->out[r] (r = dd * G1 + hh), their indices to w->nz. */
        size_t nnz = 0;
        for (size_t r = 0; r < G[0] * G[1]; r++) {
            uint64_t v = ~load_bits(sb, sbytes, sbit0 + r * G[2]) & low_mask(G[2]);
            if (v) {
                B[r] = (lead_window(v << (K[2] - 1), K[2]) >> O[2]) & low_mask(S[2]);
                w->nz[nnz++] = r;
            }
        }
        if (!nnz)
            return 0;
        uint64_t *out = w->out;
        size_t sep = (E[0] + G[0]) * E[1] * (bit_length(K[0]) + bit_length(K[1]) + 1);
        if (nnz * K[0] * K[1] <= sep) {
            /* sparse seeds: OR each dilated row into the K0 x K1 output rows it covers */
            memset(out, 0, S[0] * S[1] * 8);
            for (size_t i = 0; i < nnz; i++) {
                size_t r = w->nz[i], dd = r / G[1], hh = r - dd * G[1];
                uint64_t v = B[r];
                size_t d0 = dd > O[0] ? dd - O[0] : 0, d1 = dd + K[0] - O[0];
                size_t h0 = hh > O[1] ? hh - O[1] : 0, h1 = hh + K[1] - O[1];
                d1 = d1 > S[0] ? S[0] : d1;
                h1 = h1 > S[1] ? S[1] : h1;
                for (size_t d = d0; d < d1; d++)
                    for (size_t h = h0; h < h1; h++)
                        out[d * S[1] + h] |= v;
            }
        } else {
            /* dense seeds: separable trailing windows over rows laid out (E0, E1) in out2 */
            uint64_t *R = B + G[0] * G[1]; /* (E0 * E1) words after the packed rows */
            memset(R, 0, E[0] * E[1] * 8);
            for (size_t i = 0; i < nnz; i++) {
                size_t r = w->nz[i], dd = r / G[1];
                R[dd * E[1] + (r - dd * G[1])] = B[r];
            }
            for (size_t dd = 0; dd < G[0]; dd++)
                window_rows(R + dd * E[1], E[1], 1, 1, K[1]);
            window_rows(R, E[0], E[1], E[1], K[0]);
            for (size_t d = 0; d < S[0]; d++)
                for (size_t h = 0; h < S[1]; h++)
                    out[d * S[1] + h] = R[(d + O[0]) * E[1] + h + O[1]];
        }
        for (size_t r = 0; r < S[0] * S[1]; r++) {
            or_bits(D, r * S[2], out[r], (unsigned)S[2]);
            dropped += popcount64(out[r]);
        }
        return dropped;
    }
    int any = 0;
    memset(B, 0, E[0] * slab * 8);
    /* W pass: each seed row dilated along W, into output-W coordinates (rows of B) */
    for (size_t dd = 0; dd < G[0]; dd++)
        for (size_t hh = 0; hh < G[1]; hh++) {
            size_t base = sbit0 + (dd * G[1] + hh) * G[2];
            uint64_t *dst = B + dd * slab + hh * nw, *row = w->row;
            int rowany = 0;
            for (size_t c = 0; c < g->nwx + 1; c++)
                row[c] = 0;
            for (size_t c = 0; c < G[2]; c += 64) {
                unsigned l = G[2] - c < 64 ? (unsigned)(G[2] - c) : 64;
                uint64_t v = ~load_bits(sb, sbytes, base + c) & low_mask(l);
                if (v) {
                    or_bits(row, c, v, l);
                    rowany = 1;
                }
            }
            if (!rowany)
                continue;
            any = 1;
            window_bits(row, g->nwx, K[2]);
            for (size_t c = 0; c < S[2]; c += 64) {
                unsigned l = S[2] - c < 64 ? (unsigned)(S[2] - c) : 64;
                or_bits(dst, c, word_bits(row, g->nwx, O[2] + c), l);
            }
        }
    if (!any)
        return 0;
    /* H pass, then D pass (trailing windows; output row h reads row h + O) */
    for (size_t dd = 0; dd < G[0]; dd++)
        window_rows(B + dd * slab, E[1], nw, nw, K[1]);
    window_rows(B, E[0], slab, slab, K[0]);
    for (size_t d = 0; d < S[0]; d++)
        for (size_t h = 0; h < S[1]; h++) {
            const uint64_t *src = B + (d + O[0]) * slab + (h + O[1]) * nw;
            size_t pos = (d * S[1] + h) * S[2];
            for (size_t c = 0; c < S[2]; c += 64) {
                unsigned l = S[2] - c < 64 ? (unsigned)(S[2] - c) : 64;
                uint64_t v = src[c >> 6] & low_mask(l);
                if (v) {
                    or_bits(D, pos + c, v, l);
                    dropped += popcount64(v);
                }
            }
        }
    return dropped;
}

/* dst (a zeroed word buffer whose bit 0 is global bit b0) gets bits [b0, b1) of the keep
 * mask: channels_first layout, planes of P bits taken (inverted) from T. */
typedef struct {
    size_t N, C, Cs, P, pw;
    const uint64_t *T;
    int share;
} outmap;

static void out_first(const outmap *om, uint64_t *dst, size_t b0, size_t b1)
{
    size_t b = b0;
    while (b < b1) {
        size_t pl = b / om->P, within = b - pl * om->P;
        size_t len = om->P - within;
        if (len > b1 - b)
            len = b1 - b;
        size_t n_ = pl / om->C, c = pl - n_ * om->C;
        const uint64_t *src = om->T + (n_ * om->Cs + (om->share ? 0 : c)) * om->pw;
        for (size_t o = 0; o < len; o += 64) {
            unsigned l = len - o < 64 ? (unsigned)(len - o) : 64;
            or_bits(dst, b - b0 + o, ~word_bits(src, om->pw, within + o), l);
        }
        b += len;
    }
}

static void out_last(const outmap *om, uint64_t *dst, size_t b0, size_t b1)
{
    size_t pos = b0 / om->C, c = b0 - pos * om->C;
    size_t n_ = pos / om->P, within = pos - n_ * om->P;
    for (size_t b = b0; b < b1;) {
        if (om->share) {
            size_t len = om->C - c;
            if (len > b1 - b)
                len = b1 - b;
            const uint64_t *src = om->T + n_ * om->pw;
            if (!((src[within >> 6] >> (within & 63)) & 1))
                set_run(dst, b - b0, len);
            b += len;
            c += len;
        } else {
            const uint64_t *src = om->T + (n_ * om->Cs + c) * om->pw;
            if (!((src[within >> 6] >> (within & 63)) & 1))
                dst[(b - b0) >> 6] |= 1ull << ((b - b0) & 63);
            b++;
            c++;
        }
        if (c == om->C) {
            c = 0;
            if (++within == om->P) {
                within = 0;
                n_++;
            }
        }
    }
}

#define OUT_WORDS 512     /* words per output work item (4 KiB of mask) */
#define SEED_GROUP 32768  /* seeds drawn per fd_masked_scale call (whole planes) */

int fd_dropblock_mask(size_t nbatch, size_t nchan, const size_t sp[3], const size_t kk[3],
                      int valid_only, int share_channels, int channels_last,
                      const fd_bernoulli *seeds, uint8_t *mask_out, uint64_t *kept, int nthreads)
{
    dbgeom g;
    for (int a = 0; a < 3; a++) {
        g.S[a] = sp[a];
        g.K[a] = kk[a] < 1 ? 1 : (kk[a] > sp[a] ? sp[a] : kk[a]);
        g.G[a] = valid_only ? g.S[a] - g.K[a] + 1 : g.S[a];
        g.O[a] = valid_only ? 0 : g.K[a] / 2; /* timm: block from s - k//2 */
        g.E[a] = g.G[a] + g.K[a] - 1;
    }
    size_t Cs = share_channels ? 1 : nchan;
    size_t nplanes = nbatch * Cs;
    g.P = g.S[0] * g.S[1] * g.S[2];
    g.Gn = g.G[0] * g.G[1] * g.G[2];
    size_t n = nbatch * nchan * g.P;
    *kept = 0;
    if (n == 0)
        return 0;
    g.pw = (g.P + 63) / 64;
    g.nw = (g.S[2] + 63) / 64;
    g.nwx = (g.G[2] + g.K[2] - 1 + 63) / 64;
    g.slab = g.E[1] * g.nw;
    g.narrow = g.G[2] + g.K[2] - 1 <= 64;
    /* planes land on whole bytes of the mask: write them directly, else through T */
    int direct = !channels_last && g.P % 8 == 0;
    size_t gp = g.Gn >= SEED_GROUP ? 1 : SEED_GROUP / (g.Gn ? g.Gn : 1); /* planes per draw */
    size_t ngroups = (nplanes + gp - 1) / gp;
    size_t sbytes = (gp * g.Gn + 7) / 8;
    uint64_t *T = NULL;
    if (!direct) {
        T = (uint64_t *)calloc(nplanes * g.pw + 1, 8);
        if (!T)
            return -2;
    }
    if (nthreads < 1 || n < fd_parallel_threshold())
        nthreads = 1;
    if ((size_t)nthreads > ngroups)
        nthreads = (int)ngroups;
    uint64_t dropped = 0;
    int fail = 0;

#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads) if (nthreads > 1) reduction(+ : dropped)
#endif
    {
        size_t nrows = g.G[0] * g.G[1], brows = g.E[0] * g.slab;
        if (g.narrow) /* packed seed rows, then the (E0, E1) rows of the dense path */
            brows = nrows + g.E[0] * g.E[1];
        dbscratch w;
        w.B = (uint64_t *)malloc((brows + 1) * 8);
        w.row = (uint64_t *)malloc((g.nwx + 2) * 8);
        w.out = (uint64_t *)malloc((g.S[0] * g.S[1] + 1) * 8);
        w.nz = (size_t *)malloc((nrows + 1) * sizeof(size_t));
        uint64_t *D = (uint64_t *)malloc((g.pw + 1) * 8);
        uint8_t *sb = (uint8_t *)malloc(sbytes + 8);
        if (!w.B || !w.row || !w.out || !w.nz || !D || !sb) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
            fail = 1;
        } else {
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (size_t gi = 0; gi < ngroups; gi++) {
                size_t p0 = gi * gp, p1 = p0 + gp < nplanes ? p0 + gp : nplanes;
                fd_bernoulli b = *seeds;
                b.offset += (uint64_t)p0 * g.Gn;
                fd_masked_scale(FD_F32, NULL, NULL, (p1 - p0) * g.Gn, NULL, sb, &b, 0, 0.0, 1);
                size_t gb = ((p1 - p0) * g.Gn + 7) / 8;
                for (size_t p = p0; p < p1; p++) {
                    uint64_t *tp = direct ? D : T + p * g.pw;
                    if (direct)
                        memset(D, 0, g.pw * 8);
                    uint64_t dr = plane_dropped(&g, sb, gb, (p - p0) * g.Gn, tp, &w);
                    dropped += dr;
                    if (!direct)
                        continue;
                    /* keep = ~dropped, written to every channel plane this seed plane feeds */
                    for (size_t i = 0; i < g.pw; i++)
                        D[i] = ~D[i];
                    size_t nsample = p / Cs, c0 = share_channels ? 0 : p % Cs;
                    size_t c1 = share_channels ? nchan : c0 + 1;
                    for (size_t c = c0; c < c1; c++)
                        memcpy(mask_out + (nsample * nchan + c) * (g.P / 8), D, g.P / 8);
                }
            }
        }
        free(w.B);
        free(w.row);
        free(w.out);
        free(w.nz);
        free(D);
        free(sb);
    }
    if (fail) {
        free(T);
        return -2;
    }
    if (!direct) {
        /* the packed keep mask in x's C order: fixed word ranges, so no byte is shared */
        outmap om = {nbatch, nchan, Cs, g.P, g.pw, T, share_channels};
        size_t nwords = (n + 63) / 64, nbytes = (n + 7) / 8;
        size_t nitems = (nwords + OUT_WORDS - 1) / OUT_WORDS;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads) if (nthreads > 1)
#endif
        for (size_t it = 0; it < nitems; it++) {
            uint64_t buf[OUT_WORDS + 1];
            size_t w0 = it * OUT_WORDS, w1 = w0 + OUT_WORDS < nwords ? w0 + OUT_WORDS : nwords;
            size_t b0 = w0 * 64, b1 = w1 * 64 < n ? w1 * 64 : n;
            memset(buf, 0, sizeof buf);
            if (channels_last)
                out_last(&om, buf, b0, b1);
            else
                out_first(&om, buf, b0, b1);
            size_t nb = (w1 - w0) * 8;
            if (w0 * 8 + nb > nbytes)
                nb = nbytes - w0 * 8;
            memcpy(mask_out + w0 * 8, buf, nb);
        }
        free(T);
    }
    *kept = (uint64_t)n - dropped * (uint64_t)(share_channels ? nchan : 1);
    return 0;
}
