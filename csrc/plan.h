/* How a whole-array operation runs (csrc/plan.c): which ISA path, and whether its output is
 * written with non-temporal (streaming) stores. Neither ever changes a bit of the result.
 *
 * Built in: the chosen ISA path (fd_kernels_current) and streaming stores for contiguous
 * outputs of at least fd_stream_threshold() bytes (Gaussian noise: never). A measured plan (fastdrop.tune) may replace
 * either per operation class, dtype and size class; a path forced by FASTDROP_ISA or
 * fastdrop.set_isa wins over the plan's path. */
#ifndef FASTDROP_PLAN_H
#define FASTDROP_PLAN_H

#include <stddef.h>

#include "fastdrop.h"
#include "kernels.h"

/* Operation classes: they differ in what a tile reads and computes. */
typedef enum {
    FD_OPC_DRAW = 0,   /* keep bits drawn and applied: forward, regenerated backward */
    FD_OPC_STORED = 1, /* keep bits read from a packed mask: backward, reduced masks */
    FD_OPC_AFFINE = 2, /* alpha dropout */
    FD_OPC_NOISE = 3,  /* Gaussian dropout */
    FD_OPC_BITS = 4,   /* keep bits only (dropout_mask) */
    FD_NOPC = 5
} fd_opclass;

/* Size classes by output bytes: < 256 KiB, < 4 MiB, < 32 MiB, larger. */
#define FD_NSIZE 4
int fd_size_class(size_t nbytes);

/* The ISA table and store policy for one call (stream: 1 for non-temporal stores, only on a
 * path that has them; the caller uses them only for a contiguous output). */
const fd_kernels *fd_plan_choose(fd_opclass opc, fd_dtype dtype, size_t nbytes, int *stream);

#endif
