/* Strided N-d views shared by the drivers (csrc/strided.c). */
#ifndef FASTDROP_STRIDED_H
#define FASTDROP_STRIDED_H

#include <stddef.h>

#include "fastdrop.h"

#define FD_TILE 2048          /* elements per tile: 64-aligned, fits L1 with its buffers */
#define FD_CHUNK (16 * FD_TILE) /* elements per parallel work item */

/* A view with its dimensions merged where memory allows (like NumPy's iterator coalescing). */
typedef struct {
    char *data;
    int ndim;
    ptrdiff_t shape[64];
    ptrdiff_t strides[64];
    int contiguous; /* one run of elements of itemsize, aligned to it */
    size_t itemsize; /* bytes per element (sets a panel's height) */
} fd_strided;

void fd_strided_init(fd_strided *v, const fd_view *src, size_t itemsize);
/* Copy elements [i0, i0+n) in C order between the view and a packed buffer. */
void fd_strided_copy(const fd_strided *v, size_t i0, size_t n, char *buf, size_t es, int gather);
/* Panel length (elements, an FD_TILE multiple) for transposed-like views, else 0. */
size_t fd_panel_len(const fd_strided *v);
/* Copy flat elements [pa, pb) (at most one panel) between the view and buf, column-blocked. */
void fd_panel_copy(const fd_strided *v, size_t pa, size_t pb, char *buf, size_t es, int gather);

#endif
