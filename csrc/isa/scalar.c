/* Portable scalar path: the definition every SIMD path must match. */
#include "kernels.h"
#include "philox.h"

static void keep_bits_scalar(uint64_t *bits, size_t ngroups, uint64_t block, uint32_t k0,
                             uint32_t k1, uint32_t stream, uint32_t threshold)
{
    for (size_t w = 0; w < ngroups; w++)
        bits[w] = fd_philox_keep64(block + 16 * w, k0, k1, stream, threshold);
}

#define BIT(bits, i) (((bits)[(i) >> 6] >> ((i) & 63)) & 1u)

static void apply_f32_scalar(const float *x, float *y, const uint64_t *bits, size_t n, float s,
                             int scaled)
{
    for (size_t i = 0; i < n; i++)
        y[i] = BIT(bits, i) ? (scaled ? x[i] * s : x[i]) : 0.0f;
}

static void apply_f64_scalar(const double *x, double *y, const uint64_t *bits, size_t n, double s,
                             int scaled)
{
    for (size_t i = 0; i < n; i++)
        y[i] = BIT(bits, i) ? (scaled ? x[i] * s : x[i]) : 0.0;
}

static void apply_f16_scalar(const uint16_t *x, uint16_t *y, const uint64_t *bits, size_t n,
                             float s, int scaled)
{
    for (size_t i = 0; i < n; i++)
        y[i] = BIT(bits, i) ? (scaled ? fd_float_to_half(fd_half_to_float(x[i]) * s) : x[i]) : 0;
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
    for (size_t i = 0; i < n; i++)
        y[i] = BIT(bits, i) ? x[i] * a + b : d;
}

static void affine_f64_scalar(const double *x, double *y, uint64_t *bits, size_t n,
                              const fd_philox_run *run, double a, double b, double d)
{
    run_bits_scalar(bits, n, run);
    for (size_t i = 0; i < n; i++)
        y[i] = BIT(bits, i) ? x[i] * a + b : d;
}

static void affine_f16_scalar(const uint16_t *x, uint16_t *y, uint64_t *bits, size_t n,
                              const fd_philox_run *run, float a, float b, float d)
{
    const uint16_t dh = fd_float_to_half(d);
    run_bits_scalar(bits, n, run);
    for (size_t i = 0; i < n; i++)
        y[i] = BIT(bits, i) ? fd_float_to_half(fd_half_to_float(x[i]) * a + b) : dh;
}

const fd_kernels fd_kernels_scalar = {
    .keep_bits = keep_bits_scalar,
    .apply_f32 = apply_f32_scalar,
    .apply_f64 = apply_f64_scalar,
    .apply_f16 = apply_f16_scalar,
    .affine_f32 = affine_f32_scalar,
    .affine_f64 = affine_f64_scalar,
    .affine_f16 = affine_f16_scalar,
    .words = fd_philox_words,
};
