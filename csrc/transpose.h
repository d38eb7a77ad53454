/* SIMD block transposes for the panel copies of csrc/strided.c (csrc/transpose.c). */
#ifndef FASTDROP_TRANSPOSE_H
#define FASTDROP_TRANSPOSE_H

#include <stddef.h>

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

/* The transpose for elements of es bytes on the current SIMD path (fd_isa_get()), with its
 * block side in *h, or NULL (scalar path, or no kernel for es). */
fd_transpose_fn fd_transpose_get(size_t es, size_t *h);

#endif
