/* The tile driver (csrc/driver.c): every elementwise operation of the core runs through it.
 *
 * An operation (fd_struct_op: SCALE, AFFINE or NOISE, with its keep-bit source) is prepared
 * once per call into an fd_job; its elements are then fed to the driver as runs:
 *   - fd_apply: a whole (strided) array, cut into fixed 64-aligned chunks between threads and
 *     walked in tiles (transposed views through column panels);
 *   - fd_run_span: one contiguous run of elements whose global index starts anywhere (the rows
 *     of a window), with no per-call set-up beyond the job.
 * Bits never depend on how the elements are grouped into runs, chunks or threads. */
#ifndef FASTDROP_DRIVER_H
#define FASTDROP_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "fastdrop.h"
#include "kernels.h"
#include "structured.h"

/* A reduced (broadcast) packed mask read at the bit positions of x's elements. */
typedef struct {
    int ndim;
    ptrdiff_t shape[64];
    ptrdiff_t rs[64]; /* bit stride in the reduced mask (0: broadcast) */
    const uint8_t *mask;
    size_t nbytes;
} fd_bmap;

typedef struct {
    fd_dtype dtype;
    size_t es;                /* bytes per element */
    const fd_struct_op *op;
    const fd_bmap *bm;        /* keep bits from a reduced mask, or NULL */
    const fd_kernels *k;      /* the ISA's kernel table */
    int stream;               /* y is written with non-temporal stores (tiles via a buffer) */
    float s32, a32, b32, d32; /* the op's scalars rounded to float32 (float16/float32 data) */
    uint64_t base;            /* global index of flat element 0 (bern->offset, or op->offset) */
} fd_job;

/* Prepare `op` on data of `dtype` (bm: a reduced mask's map, or NULL). */
void fd_job_init(fd_job *j, fd_dtype dtype, const fd_struct_op *op, const fd_bmap *bm);

/* Map a reduced mask of mask_bits bits onto an array of ndim dims of `shape`; rs[d] is the bit
 * stride of axis d in the reduced mask (0 on broadcast axes). */
void fd_bmap_init(fd_bmap *m, int ndim, const ptrdiff_t *shape, const ptrdiff_t *rs,
                  const uint8_t *mask, size_t mask_bits);

/* Elements i0 .. i0 + n - 1 of the operation, contiguous at x and y (both NULL: keep bits
 * only), their Philox keep bits and normals those of global indices g0 .. g0 + n - 1. A stored
 * mask (op->mask, or the job's reduced map) is read at local positions i0 .. i0 + n - 1.
 * mask_out (may be NULL) receives the span's packed keep bits from its own bit 0: ceil(n/8)
 * bytes, bits past n zero. */
void fd_run_span(const fd_job *j, size_t i0, uint64_t g0, size_t n, const char *x, char *y,
                 uint8_t *mask_out);

/* The operation over n elements of x and y (views of one shape and dtype; y may be x; both
 * NULL: keep bits only, into op->mask_out). 0, or -1 for bad arguments. */
int fd_apply(fd_dtype dtype, const fd_view *x, const fd_view *y, size_t n, const fd_struct_op *op,
             int nthreads);

/* n keep bits of the contract `b` for global elements g0 .. g0 + n - 1 into bits[0 .. n/64]
 * (bit i of bits[i / 64]; the rest of the last word unspecified). bits[] needs room for
 * ceil(n / 64) + 2 words: the draw starts at g0's Philox block and spills past n. */
void fd_draw_bits(const fd_kernels *k, const fd_bernoulli *b, uint64_t g0, size_t n,
                  uint64_t *bits);

#endif
