/* The ISA layer's interface: one table of per-ISA functions (fd_kernels), filled by each file of
 * csrc/isa/ and chosen at run time by csrc/isa/dispatch.c (fd_kernels_current(), the only
 * reader of the chosen ISA). Every entry must give the same bits on every ISA (the tests check
 * each path against fastdrop.reference; tests/simde/run.sh checks the SIMD tables against the
 * scalar one, which is the definition):
 *   name:        the path's name (fd_isa_name, FASTDROP_ISA, fastdrop.set_isa);
 *   supported:   whether this CPU runs the path; NULL: not in this build (then every other
 *                entry is NULL too);
 *   keep_bits:   64 * ngroups keep bits for the global elements 4*block .. 4*block + 64*ngroups - 1
 *                (bit j of bits[w] is element 4*block + 64*w + j), stream and threshold as given;
 *   apply_*:     y[i] = bit i of bits ? x[i] * s : +0 for i < n (scaled == 0: y[i] = x[i] when
 *                kept);
 *   fused_*:     (optional; NULL: the driver runs keep_bits, then apply_*) both at once, a
 *                64-element group at a time, so the Philox arithmetic overlaps the loads and
 *                stores: element i of the run uses raw keep bit run->r + i of the keep_bits
 *                stream that starts at block run->block; bits[0 .. ceil(n/64)) receive the run's
 *                keep bits (bit i of bits[i/64]; bits past n in the last word are unspecified)
 *                and y[i] is as for apply_*;
 *   affine_*:    alpha dropout, fused like fused_* (same keep bits, same bits[] output):
 *                y[i] = keep ? x[i] * a + b : d, two roundings and no FMA (float16: computed in
 *                float32, then rounded once to half). Never NULL; called only when the bits are
 *                drawn (run->threshold > 0);
 *   affine_bits_*: the same arithmetic with the keep bits given (bit i of bits);
 *   words:       the raw Philox words of blocks first_block .. first_block + nblocks - 1, 4 per
 *                block in order (out[4*j + k] = word k of block first_block + j), any counters
 *                (the low counter word may wrap); used by the structured kernels (Gaussian
 *                normals), which need the words themselves rather than keep bits;
 *   gauss_tile:  Gaussian dropout over one tile (csrc/isa/autovec-inl.h): z != NULL: z[i] =
 *                the contract's float32 normal of global element g0 + i; else
 *                y = x * (1 + sigma * z) (fd_gaussian_apply, gaussian.h);
 *   scale_copy_*: the roofline, y[i] = x[i] * s (float16: computed in float32);
 *   stream_copy_*: the same with non-temporal (streaming) stores, which bypass the caches: the
 *              limit for an output larger than the last-level cache (NULL: none on this path);
 *   stream_bytes: copies nbytes from src to dst (not overlapping), whole 64-byte lines of dst
 *              with non-temporal stores (fastest when src and dst are equal modulo 64), the
 *              partial lines at either end with regular ones; stream_fence orders them before
 *              later stores (called once per thread, after its last streaming store). NULL: none;
 *   fused_stream_*, apply_stream_*, affine_stream_*, affine_bits_stream_*: (optional; NULL: the
 *              driver makes the tile in a buffer and streams it out with stream_bytes) the
 *              same kernels writing y with streaming stores as they go, y aligned to its
 *              element only (the partial vectors at either end are stored plainly);
 *   popcount_words: the number of set bits of v[0 .. nw);
 *   transpose[]: block transposes for the panel copies of transposed views (csrc/strided.c),
 *                by element size 2, 4, 8 bytes: fn copies a grid of h x h blocks (fd_tgrid);
 *                fn NULL: none (the scalar path). Pure data movement. */
#ifndef FASTDROP_KERNELS_H
#define FASTDROP_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fastdrop.h"

typedef void (*fd_keep_bits_fn)(uint64_t *bits, size_t ngroups, uint64_t block, uint32_t k0,
                                uint32_t k1, uint32_t stream, uint32_t threshold);
typedef void (*fd_apply_f32_fn)(const float *x, float *y, const uint64_t *bits, size_t n,
                                float s, int scaled);
typedef void (*fd_apply_f64_fn)(const double *x, double *y, const uint64_t *bits, size_t n,
                                double s, int scaled);
typedef void (*fd_apply_f16_fn)(const uint16_t *x, uint16_t *y, const uint64_t *bits, size_t n,
                                float s, int scaled);

/* Keep bits of a run that starts `r` (0..3) words into Philox block `block`. */
typedef struct {
    uint64_t block;
    unsigned r;
    uint32_t k0, k1, stream, threshold; /* threshold > 0: words are drawn */
} fd_philox_run;

typedef void (*fd_fused_f32_fn)(const float *x, float *y, uint64_t *bits, size_t n,
                                const fd_philox_run *run, float s, int scaled);
typedef void (*fd_fused_f64_fn)(const double *x, double *y, uint64_t *bits, size_t n,
                                const fd_philox_run *run, double s, int scaled);
typedef void (*fd_fused_f16_fn)(const uint16_t *x, uint16_t *y, uint64_t *bits, size_t n,
                                const fd_philox_run *run, float s, int scaled);

typedef void (*fd_affine_f32_fn)(const float *x, float *y, uint64_t *bits, size_t n,
                                 const fd_philox_run *run, float a, float b, float d);
typedef void (*fd_affine_f64_fn)(const double *x, double *y, uint64_t *bits, size_t n,
                                 const fd_philox_run *run, double a, double b, double d);
typedef void (*fd_affine_f16_fn)(const uint16_t *x, uint16_t *y, uint64_t *bits, size_t n,
                                 const fd_philox_run *run, float a, float b, float d);

typedef void (*fd_affine_bits_f32_fn)(const float *x, float *y, const uint64_t *bits, size_t n,
                                      float a, float b, float d);
typedef void (*fd_affine_bits_f64_fn)(const double *x, double *y, const uint64_t *bits,
                                      size_t n, double a, double b, double d);
typedef void (*fd_affine_bits_f16_fn)(const uint16_t *x, uint16_t *y, const uint64_t *bits,
                                      size_t n, float a, float b, float d);

typedef void (*fd_words_fn)(uint32_t *out, size_t nblocks, uint64_t first_block, uint32_t k0,
                            uint32_t k1, uint32_t stream);

typedef void (*fd_gauss_tile_fn)(fd_dtype dt, const void *x, void *y, float *z, size_t n,
                                 uint64_t g0, uint64_t seed, double sigma);

typedef void (*fd_scale_copy_f32_fn)(const float *x, float *y, size_t n, float s);
typedef void (*fd_scale_copy_f64_fn)(const double *x, double *y, size_t n, double s);
typedef void (*fd_scale_copy_f16_fn)(const uint16_t *x, uint16_t *y, size_t n, float s);

typedef void (*fd_stream_bytes_fn)(char *dst, const char *src, size_t nbytes);

typedef uint64_t (*fd_popcount_fn)(const uint64_t *v, size_t nw);

/* A grid of ngroups x nblocks square blocks of h x h elements, each copied transposed: block
 * (g, b) reads h rows of h elements at src + g*sgrp + b*sblk (row k at + k*ss) and writes
 * row k of its transpose at dst + g*dgrp + b*dblk + k*ds. Blocks go column-block-major (every
 * group of block b, then b + 1), so the view side's cache lines are used whole at once (no
 * software prefetch: with several lines per column the hardware's keeps up, measured on Zen 4).
 * Pure data movement: the bits never change. */
typedef struct {
    const char *src;
    ptrdiff_t ss, sgrp, sblk;
    char *dst;
    ptrdiff_t ds, dgrp, dblk;
    size_t ngroups, nblocks;
} fd_tgrid;

typedef void (*fd_transpose_fn)(const fd_tgrid *g);

typedef struct {
    fd_transpose_fn fn; /* NULL: no SIMD transpose */
    size_t h;           /* block side */
} fd_transpose;

typedef struct {
    const char *name;
    int (*supported)(void);
    fd_keep_bits_fn keep_bits;
    fd_apply_f32_fn apply_f32;
    fd_apply_f64_fn apply_f64;
    fd_apply_f16_fn apply_f16;
    fd_fused_f32_fn fused_f32; /* the fused_* may be NULL */
    fd_fused_f64_fn fused_f64;
    fd_fused_f16_fn fused_f16;
    fd_affine_f32_fn affine_f32;
    fd_affine_f64_fn affine_f64;
    fd_affine_f16_fn affine_f16;
    fd_affine_bits_f32_fn affine_bits_f32;
    fd_affine_bits_f64_fn affine_bits_f64;
    fd_affine_bits_f16_fn affine_bits_f16;
    fd_words_fn words;
    fd_gauss_tile_fn gauss_tile;
    fd_scale_copy_f32_fn scale_copy_f32;
    fd_scale_copy_f64_fn scale_copy_f64;
    fd_scale_copy_f16_fn scale_copy_f16;
    fd_scale_copy_f32_fn stream_copy_f32; /* the stream_copy_* may be NULL */
    fd_scale_copy_f64_fn stream_copy_f64;
    fd_scale_copy_f16_fn stream_copy_f16;
    fd_stream_bytes_fn stream_bytes; /* NULL: no streaming stores on this path */
    void (*stream_fence)(void);
    fd_fused_f32_fn fused_stream_f32; /* the *_stream may be NULL */
    fd_fused_f64_fn fused_stream_f64;
    fd_fused_f16_fn fused_stream_f16;
    fd_apply_f32_fn apply_stream_f32;
    fd_apply_f64_fn apply_stream_f64;
    fd_apply_f16_fn apply_stream_f16;
    fd_affine_f32_fn affine_stream_f32;
    fd_affine_f64_fn affine_stream_f64;
    fd_affine_f16_fn affine_stream_f16;
    fd_affine_bits_f32_fn affine_bits_stream_f32;
    fd_affine_bits_f64_fn affine_bits_stream_f64;
    fd_affine_bits_f16_fn affine_bits_stream_f16;
    fd_popcount_fn popcount_words;
    fd_transpose transpose[3]; /* elements of 2, 4, 8 bytes */
} fd_kernels;

/* The table of the chosen ISA, and of a given supported one (NULL if not) (csrc/isa/dispatch.c). */
const fd_kernels *fd_kernels_current(void);
const fd_kernels *fd_kernels_of(fd_isa isa);

/* IEEE half <-> single, round to nearest even; the same results as F16C and NumPy. */
static inline float fd_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ffu, f;
    if (e == 0x1f) {
        f = sign | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0u); /* NaN comes out quiet */
    } else if (e) {
        f = sign | ((e + 112) << 23) | (m << 13);
    } else if (m) { /* subnormal: normalise */
        int sh = 0;
        while (!(m & 0x400u)) {
            m <<= 1;
            sh++;
        }
        f = sign | ((uint32_t)(113 - sh) << 23) | ((m & 0x3ffu) << 13);
    } else {
        f = sign;
    }
    float out;
    memcpy(&out, &f, 4);
    return out;
}

static inline uint16_t fd_float_to_half(float v)
{
    uint32_t x;
    memcpy(&x, &v, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf, or NaN made quiet keeping the top payload bits */
        return sign | (ax == 0x7f800000u ? 0x7c00u : (uint16_t)(0x7e00u | ((ax >> 13) & 0x3ffu)));
    if (ax >= 0x477ff000u) /* >= 65520 rounds to inf */
        return sign | 0x7c00u;
    if (ax >= 0x38800000u) { /* normal half */
        uint32_t r = ax - 0x38000000u;
        r += 0xfffu + ((r >> 13) & 1u);
        return sign | (uint16_t)(r >> 13);
    }
    if (ax <= 0x33000000u) /* <= 2^-25 rounds to zero */
        return sign;
    uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u, s = 126 - e;
    uint32_t res = m >> s, rem = m & ((1u << s) - 1), half = 1u << (s - 1);
    if (rem > half || (rem == half && (res & 1u)))
        res++;
    return sign | (uint16_t)res;
}

#endif
