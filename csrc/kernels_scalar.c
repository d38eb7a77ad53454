/* Portable scalar path: the definition every SIMD path must match. */
#include "kernels.h"
#include "philox.h"

static void keep_bits_scalar(uint64_t *bits, size_t ngroups, uint64_t block, uint32_t k0,
                             uint32_t k1, uint32_t stream, uint32_t threshold)
{
    for (size_t w = 0; w < ngroups; w++) {
        uint64_t word = 0;
        for (unsigned j = 0; j < 16; j++) {
            uint64_t blk = block + 16 * w + j;
            uint32_t c[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), stream, 0};
            fd_philox4x32_10(c, k0, k1);
            for (unsigned k = 0; k < 4; k++)
                word |= (uint64_t)(c[k] >= threshold) << (4 * j + k);
        }
        bits[w] = word;
    }
}

static void words_scalar(uint32_t *out, size_t nblocks, uint64_t first_block, uint32_t k0,
                         uint32_t k1, uint32_t stream)
{
    for (size_t j = 0; j < nblocks; j++) {
        uint64_t blk = first_block + j;
        uint32_t c[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), stream, 0};
        fd_philox4x32_10(c, k0, k1);
        memcpy(out + 4 * j, c, 16);
    }
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

const fd_kernels fd_kernels_scalar = {keep_bits_scalar, apply_f32_scalar, apply_f64_scalar,
                                      apply_f16_scalar, NULL, NULL, NULL, words_scalar};
