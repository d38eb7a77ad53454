/* Structured dropout kernels: broadcast masks (spatial, locked, embedding dropout, drop_path),
 * alpha and Gaussian dropout, DropBlock. Plain C on raw pointers; no Python in here.
 * Every function is thread-safe, may be called without the GIL, and gives bits that do not
 * depend on the thread count (docs/contract.md, fastdrop/reference/). The arithmetic runs in
 * the tile driver (driver.c). */
#ifndef FASTDROP_STRUCTURED_H
#define FASTDROP_STRUCTURED_H

#include <stddef.h>
#include <stdint.h>

#include "fastdrop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Philox counter word c2 (the "stream") of the structured operations. Stream 0 (the core
 * contract) is used for every Bernoulli keep mask, reduced (broadcast) or not. */
#define FD_STREAM_DROPBLOCK 1u /* DropBlock seed positions */
#define FD_STREAM_GAUSSIAN 2u  /* Gaussian dropout: float32 Box-Muller normals, one per word */

typedef enum { FD_OP_SCALE = 0, FD_OP_AFFINE = 1, FD_OP_NOISE = 2 } fd_op;

/* One elementwise operation over x (C order), with its keep bits.
 *   SCALE:  y = keep ? x * scale : +0   (scaled == 0: y = keep ? x : +0)
 *   AFFINE: y = keep ? x * a + b : d    (alpha dropout; two roundings, no FMA)
 *   NOISE:  y = x * m, m = 1 + sigma * z in the compute dtype (two roundings), z the contract's
 *           float32 normal of element offset + i on stream FD_STREAM_GAUSSIAN (no keep bits)
 * Scalars are rounded once to the compute dtype (float32 for float16/float32 data).
 * Keep bits (SCALE, AFFINE) come from exactly one source:
 *   bern != NULL:               the Philox contract over x's own C-order index (mask_out, when
 *                               not NULL, receives them packed: ceil(n/8) bytes);
 *   mask, rstrides == NULL:     a packed mask over x's shape (ceil(n/8) bytes);
 *   mask, rstrides != NULL:     a packed *reduced* mask of mask_bits bits; element with
 *                               multi-index (i_0..i_{k-1}) reads bit sum(i_d * rstrides[d])
 *                               (rstrides[d] == 0 on broadcast axes). */
typedef struct {
    fd_op op;
    const fd_bernoulli *bern;
    const uint8_t *mask;
    const ptrdiff_t *rstrides;
    size_t mask_bits;
    uint8_t *mask_out;
    int scaled;
    double scale;
    double a, b, d;
    double sigma;
    uint64_t seed, offset; /* NOISE */
} fd_struct_op;

/* y = op(x); x and y of one dtype and shape (y may be x itself). 0, or -1 for bad arguments. */
int fd_struct_apply(fd_dtype dtype, const fd_view *x, const fd_view *y, const fd_struct_op *op,
                    int nthreads);

/* fd_struct_apply on a window (csrc/window.c): x and y (one shape, x->ndim <= 64 dims) are the
 * block at `origin` of a virtual C-order array of shape `gshape` (docs/contract.md, "Windows").
 * The element with local multi-index j has global index base + ravel(origin + j, gshape),
 * base = op->bern->offset when keep bits come from the contract, else op->offset (NOISE); the
 * keep bits and the normals are those of the global indices, op->mask_out is packed in the
 * block's own C order. Ops that read a stored mask (op->mask, full or reduced) are indexed
 * locally and ignore the window. Bits never depend on nthreads.
 * Returns 0, -1 for bad arguments, -2 when out of memory. */
int fd_struct_apply_window(fd_dtype dtype, const fd_view *x, const fd_view *y,
                           const uint64_t *gshape, const uint64_t *origin,
                           const fd_struct_op *op, int nthreads);

/* The contract's float32 standard normals of global elements offset .. offset + n - 1. */
void fd_gaussian_normals(float *z, size_t n, uint64_t seed, uint64_t offset, int nthreads);

/* DropBlock keep mask over (N, C, D, H, W) (channels_first) or (N, D, H, W, C) (channels_last),
 * 2-D maps as D = 1. sp = (D, H, W), k = block extents already clipped to [1, sp]. Seeds: one
 * Bernoulli word per position of the seed grid (N, C or 1 with share_channels, Gd, Gh, Gw),
 * G = S - k + 1 with valid_only, else S, numbered in that C order whatever the layout, drawn
 * from `seeds` (a seed where the contract says "dropped"). A seed at grid position s zeroes
 * [s, s + k) (valid_only) or [s - k/2, s - k/2 + k) (integer k/2, as timm) clipped to the
 * map, per axis.
 * mask_out: ceil(n/8) bytes, the packed keep mask in x's C order; *kept: kept elements.
 * Returns 0, or -2 when out of memory. */
int fd_dropblock_mask(size_t nbatch, size_t nchan, const size_t sp[3], const size_t k[3],
                      int valid_only, int share_channels, int channels_last,
                      const fd_bernoulli *seeds, uint8_t *mask_out, uint64_t *kept, int nthreads);

/* Number of set bits among the first n bits of a packed mask (exact). */
uint64_t fd_count_bits(const uint8_t *mask, size_t n);

#ifdef __cplusplus
}
#endif
#endif
