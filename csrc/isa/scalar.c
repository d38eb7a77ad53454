/* Portable scalar path: plain C, the definition every SIMD path must match bit for bit (the
 * tests pin it to fastdrop.reference). gcc may still vectorise its loops for the baseline ISA.
 * No fused kernels (the driver draws the bits, then applies them) and no block transposes. */
#include "isa.h"
#include "philox.h"
#include "bits.h"

#define FD_SFX _scalar
#define FD_TARGET

static void keep_bits_scalar(uint64_t *bits, size_t ngroups, uint64_t block, uint32_t k0,
                             uint32_t k1, uint32_t stream, uint32_t threshold)
{
    for (size_t w = 0; w < ngroups; w++)
        bits[w] = fd_philox_keep64(block + 16 * w, k0, k1, stream, threshold);
}

static void words_scalar(uint32_t *out, size_t nblocks, uint64_t first_block, uint32_t k0,
                         uint32_t k1, uint32_t stream)
{
    fd_philox_words(out, nblocks, first_block, k0, k1, stream);
}

#define BIT(bits, i) (((bits)[(i) >> 6] >> ((i) & 63)) & 1u)

/* Selects on the bits (kept: all-ones) so that the loops have no branches and vectorise; the
 * arithmetic is the same IEEE operations either way. A select on the bits also passes a
 * signaling NaN through unchanged, where Clang would fold a float `scaled ? x * s : x` into
 * x * (scaled ? s : 1), which quiets it. */
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

static void apply_f32_scalar(const float *x, float *y, const uint64_t *bits, size_t n, float s,
                             int scaled)
{
    if (scaled) {
        for (size_t i = 0; i < n; i++)
            y[i] = sel_f32((uint32_t)BIT(bits, i), x[i] * s, 0.0f);
    } else {
        for (size_t i = 0; i < n; i++)
            y[i] = sel_f32((uint32_t)BIT(bits, i), x[i], 0.0f);
    }
}

static void apply_f64_scalar(const double *x, double *y, const uint64_t *bits, size_t n, double s,
                             int scaled)
{
    if (scaled) {
        for (size_t i = 0; i < n; i++)
            y[i] = sel_f64(BIT(bits, i), x[i] * s, 0.0);
    } else {
        for (size_t i = 0; i < n; i++)
            y[i] = sel_f64(BIT(bits, i), x[i], 0.0);
    }
}

static void apply_f16_scalar(const uint16_t *x, uint16_t *y, const uint64_t *bits, size_t n,
                             float s, int scaled)
{
    for (size_t i = 0; i < n; i++)
        y[i] = BIT(bits, i) ? (scaled ? fd_float_to_half(fd_half_to_float(x[i]) * s) : x[i]) : 0;
}

/* ---- alpha dropout: y = keep ? x * a + b : d ---- */

static void affine_bits_f32_scalar(const float *x, float *y, const uint64_t *bits, size_t n,
                                   float a, float b, float d)
{
    for (size_t i = 0; i < n; i++)
        y[i] = sel_f32((uint32_t)BIT(bits, i), x[i] * a + b, d);
}

static void affine_bits_f64_scalar(const double *x, double *y, const uint64_t *bits, size_t n,
                                   double a, double b, double d)
{
    for (size_t i = 0; i < n; i++)
        y[i] = sel_f64(BIT(bits, i), x[i] * a + b, d);
}

static void affine_bits_f16_scalar(const uint16_t *x, uint16_t *y, const uint64_t *bits,
                                   size_t n, float a, float b, float d)
{
    const uint16_t dh = fd_float_to_half(d);
    for (size_t i = 0; i < n; i++)
        y[i] = BIT(bits, i) ? fd_float_to_half(fd_half_to_float(x[i]) * a + b) : dh;
}

/* The run's keep bits (see fused_* in kernels.h): word w straddles raw groups w and w+1. */
static void run_bits_scalar(uint64_t *bits, size_t n, const fd_philox_run *run)
{
    const unsigned r = run->r;
    const size_t nw = (n + 63) / 64, nraw = (n + r + 63) / 64;
    uint64_t cur, next = 0;
    keep_bits_scalar(&cur, 1, run->block, run->k0, run->k1, run->stream, run->threshold);
    for (size_t w = 0; w < nw; w++) {
        next = 0;
        if (w + 1 < nraw)
            keep_bits_scalar(&next, 1, run->block + 16 * (w + 1), run->k0, run->k1, run->stream,
                             run->threshold);
        bits[w] = r ? (cur >> r) | (next << (64 - r)) : cur;
        cur = next;
    }
}

static void affine_f32_scalar(const float *x, float *y, uint64_t *bits, size_t n,
                              const fd_philox_run *run, float a, float b, float d)
{
    run_bits_scalar(bits, n, run);
    affine_bits_f32_scalar(x, y, bits, n, a, b, d);
}

static void affine_f64_scalar(const double *x, double *y, uint64_t *bits, size_t n,
                              const fd_philox_run *run, double a, double b, double d)
{
    run_bits_scalar(bits, n, run);
    affine_bits_f64_scalar(x, y, bits, n, a, b, d);
}

static void affine_f16_scalar(const uint16_t *x, uint16_t *y, uint64_t *bits, size_t n,
                              const fd_philox_run *run, float a, float b, float d)
{
    run_bits_scalar(bits, n, run);
    affine_bits_f16_scalar(x, y, bits, n, a, b, d);
}

/* ---- the roofline and the popcount ---- */

static void scale_copy_f16_scalar(const uint16_t *x, uint16_t *y, size_t n, float s)
{
    for (size_t i = 0; i < n; i++)
        y[i] = fd_float_to_half(fd_half_to_float(x[i]) * s);
}

static uint64_t popcount_words_scalar(const uint64_t *v, size_t nw)
{
    uint64_t c = 0;
    for (size_t i = 0; i < nw; i++)
        c += popcount64(v[i]);
    return c;
}

/* ---- Gaussian dropout and the float32 / float64 roofline (autovec-inl.h) ---- */

static void noise_f16(const uint16_t *x, uint16_t *y, const float *z, size_t n, float s)
{
    for (size_t i = 0; i < n; i++)
        y[i] = fd_float_to_half(fd_half_to_float(x[i]) * (1.0f + s * z[i]));
}

#include "autovec-inl.h"

static int cpu_any(void) { return 1; }

const fd_kernels fd_kernels_scalar = {
    .name = "scalar",
    .supported = cpu_any,
    .keep_bits = keep_bits_scalar,
    .apply_f32 = apply_f32_scalar,
    .apply_f64 = apply_f64_scalar,
    .apply_f16 = apply_f16_scalar,
    .affine_f32 = affine_f32_scalar,
    .affine_f64 = affine_f64_scalar,
    .affine_f16 = affine_f16_scalar,
    .affine_bits_f32 = affine_bits_f32_scalar,
    .affine_bits_f64 = affine_bits_f64_scalar,
    .affine_bits_f16 = affine_bits_f16_scalar,
    .words = words_scalar,
    .gauss_tile = gauss_tile_scalar,
    .scale_copy_f32 = scale_copy_f32_scalar,
    .scale_copy_f64 = scale_copy_f64_scalar,
    .scale_copy_f16 = scale_copy_f16_scalar,
    .popcount_words = popcount_words_scalar,
};
