/* Strided N-d views: dimension coalescing, and C-order gather / scatter of element ranges
 * between a view and a packed buffer (plain runs, or panels for transposed-like layouts).
 * Shared by every driver, so there is one definition of how arrays are walked. */
#include <stdlib.h>
#include <string.h>

#include "strided.h"
#include "kernels.h"


#define PANEL_BUF_MAX (1 << 21)   /* bytes in a transposed-layout panel buffer */
#define PANEL_BYTES 256           /* bytes of each column per panel: 4 whole cache lines */
#define PANEL_BYTES_MIN 64        /* ... and at least one, for wide rows */
#define PANEL_COLS 8              /* columns per block of a panel copy: short contiguous runs */
#define PANEL_AHEAD 32            /* columns prefetched ahead in a scalar panel copy */
#define PANEL_ROWS_MAX (PANEL_BYTES / 2 + FD_TILE / 64 + 2) /* rows one panel can touch */

void fd_strided_init(fd_strided *v, const fd_view *src, size_t itemsize)
{
    v->data = src->data;
    v->itemsize = itemsize;
    v->ndim = 0;
    for (int d = 0; d < src->ndim; d++) {
        if (src->shape[d] == 1)
            continue;
        if (v->ndim && v->strides[v->ndim - 1] == src->strides[d] * src->shape[d]) {
            v->shape[v->ndim - 1] *= src->shape[d];
            v->strides[v->ndim - 1] = src->strides[d];
        } else {
            v->shape[v->ndim] = src->shape[d];
            v->strides[v->ndim] = src->strides[d];
            v->ndim++;
        }
    }
    if (v->ndim == 0) { /* a single element: one run of one */
        v->ndim = 1;
        v->shape[0] = 1;
        v->strides[0] = (ptrdiff_t)itemsize;
    }
    /* the kernels take contiguous data as typed pointers: only when aligned to the element (a
     * NumPy view can start at any byte; it then goes through the tile buffers) */
    v->contiguous = v->ndim == 1 && v->strides[0] == (ptrdiff_t)itemsize &&
                    (uintptr_t)v->data % itemsize == 0;
}

/* Copy elements [i0, i0+n) in C order between the view and a packed buffer. */
void fd_strided_copy(const fd_strided *v, size_t i0, size_t n, char *buf, size_t es, int gather)
{
    int nd = v->ndim;
    ptrdiff_t idx[64];
    char *p = v->data;
    size_t rem = i0;
    for (int d = nd - 1; d >= 0; d--) {
        idx[d] = (ptrdiff_t)(rem % (size_t)v->shape[d]);
        rem /= (size_t)v->shape[d];
        p += idx[d] * v->strides[d];
    }
    ptrdiff_t len = v->shape[nd - 1], st = v->strides[nd - 1];
    while (n) {
        size_t run = (size_t)(len - idx[nd - 1]);
        if (run > n)
            run = n;
        char *q = p;
        switch (es) {
/* the array side through memcpy: its elements need not be aligned (a plain move either way) */
#define COPY(T)                                                                    \
    for (size_t j = 0; j < run; j++, q += st)                                      \
        if (gather)                                                                \
            memcpy((T *)buf + j, q, sizeof(T));                                    \
        else                                                                       \
            memcpy(q, (const T *)buf + j, sizeof(T));                              \
    break;
        case 2: COPY(uint16_t)
        case 4: COPY(uint32_t)
        default: COPY(uint64_t)
#undef COPY
        }
        buf += run * es;
        n -= run;
        p += (ptrdiff_t)run * st;
        idx[nd - 1] += (ptrdiff_t)run;
        for (int d = nd - 1; d > 0 && idx[d] == v->shape[d]; d--) { /* carry */
            p -= idx[d] * v->strides[d];
            idx[d] = 0;
            idx[d - 1]++;
            p += v->strides[d - 1];
        }
    }
}

/* Transposed-like layouts (the C-order rows are far apart in memory, neighbouring rows are
 * close): gathering a tile along a row touches one page per element and thrashes the TLB.
 * Such views are copied a panel of rows at a time, walking down the columns, so every page is
 * used for 256 bytes' worth of rows at once: four adjacent cache lines per column keep the
 * hardware prefetcher streaming (on Zen 4, one line per column ran the SIMD gather at half
 * the speed). Returns the panel length in elements (a FD_TILE multiple), or 0 when the plain
 * tile gather is the right tool. */
size_t fd_panel_len(const fd_strided *v)
{
    if (v->contiguous || v->ndim < 2)
        return 0;
    ptrdiff_t sr = v->strides[v->ndim - 2], sl = v->strides[v->ndim - 1];
    size_t L = (size_t)v->shape[v->ndim - 1];
    if ((sr < 0 ? -sr : sr) >= (sl < 0 ? -sl : sl) || L < 64)
        return 0;
    size_t es = v->itemsize, rows = PANEL_BYTES / es;
    while (rows > PANEL_BYTES_MIN / es && rows * L * es > PANEL_BUF_MAX)
        rows /= 2;
    size_t len = (rows * L + FD_TILE - 1) / FD_TILE * FD_TILE;
    return len * es <= PANEL_BUF_MAX ? len : 0;
}

/* The SIMD share of a panel copy: the run of whole rows lying es apart in memory (every row
 * of a plain transposed view, minus a partial first or last one), in groups of the transpose's
 * block side h and whole blocks of h columns. Raises lo[] of the rows it copied past what it
 * did; returns the first column the scalar copy needs (a PANEL_COLS multiple). */
static size_t panel_simd(const fd_strided *v, char *const *rowp, size_t *lo, const size_t *hi,
                         const ptrdiff_t *boff, size_t nrows, char *buf, size_t es, int gather)
{
    size_t L = (size_t)v->shape[v->ndim - 1];
    const fd_transpose *t = &fd_kernels_current()->transpose[es == 2 ? 0 : es == 4 ? 1 : 2];
    fd_transpose_fn tr = t->fn;
    size_t h = t->h;
    size_t ra = lo[0] ? 1 : 0, rb = hi[nrows - 1] < L ? nrows - 1 : nrows;
    if (!tr || L < h || rb <= ra)
        return 0;
    size_t rows = (rb - ra) / h * h;
    if (!rows)
        return 0;
    for (size_t r = 1; r < rows; r++)
        if (rowp[ra + r] != rowp[ra] + (ptrdiff_t)(r * es))
            return 0;
    ptrdiff_t sl = v->strides[v->ndim - 1], ld = (ptrdiff_t)(L * es), hb = (ptrdiff_t)(h * es);
    char *mem = rowp[ra], *pbuf = buf + boff[ra] * (ptrdiff_t)es;
    fd_tgrid g;
    g.ngroups = rows / h;
    g.nblocks = L / h;
    if (gather) {
        g.src = mem, g.ss = sl, g.sgrp = hb, g.sblk = (ptrdiff_t)h * sl;
        g.dst = pbuf, g.ds = ld, g.dgrp = (ptrdiff_t)h * ld, g.dblk = hb;
    } else {
        g.src = pbuf, g.ss = ld, g.sgrp = (ptrdiff_t)h * ld, g.sblk = hb;
        g.dst = mem, g.ds = sl, g.dgrp = hb, g.dblk = (ptrdiff_t)h * sl;
    }
    tr(&g);
    size_t done = g.nblocks * h;
    for (size_t r = ra; r < ra + rows; r++)
        lo[r] = done;
    size_t c = L;
    for (size_t r = 0; r < nrows; r++)
        if (lo[r] < c)
            c = lo[r];
    return c / PANEL_COLS * PANEL_COLS;
}

/* Copy flat elements [pa, pb) (at most one panel) between the view and buf, column by column. */
void fd_panel_copy(const fd_strided *v, size_t pa, size_t pb, char *buf, size_t es, int gather)
{
    int nd = v->ndim;
    size_t L = (size_t)v->shape[nd - 1], q0 = pa / L, nrows = (pb - 1) / L - q0 + 1;
    ptrdiff_t sl = v->strides[nd - 1], idx[64];
    char *rowp[PANEL_ROWS_MAX];
    size_t lo[PANEL_ROWS_MAX], hi[PANEL_ROWS_MAX];
    ptrdiff_t boff[PANEL_ROWS_MAX];
    char *p = v->data;
    size_t rem = q0;
    for (int d = nd - 2; d >= 0; d--) {
        idx[d] = (ptrdiff_t)(rem % (size_t)v->shape[d]);
        rem /= (size_t)v->shape[d];
        p += idx[d] * v->strides[d];
    }
    for (size_t r = 0; r < nrows; r++) {
        size_t start = (q0 + r) * L;
        rowp[r] = p;
        lo[r] = r == 0 ? pa - start : 0;
        hi[r] = r == nrows - 1 ? pb - start : L;
        boff[r] = (ptrdiff_t)start - (ptrdiff_t)pa;
        idx[nd - 2]++;
        p += v->strides[nd - 2];
        for (int d = nd - 2; d > 0 && idx[d] == v->shape[d]; d--) { /* carry */
            p -= idx[d] * v->strides[d];
            idx[d] = 0;
            idx[d - 1]++;
            p += v->strides[d - 1];
        }
    }
    size_t cstart = panel_simd(v, rowp, lo, hi, boff, nrows, buf, es, gather);
    switch (es) {
#define PANEL(T)                                                                           \
    for (size_t cb = cstart; cb < L; cb += PANEL_COLS) {                                   \
        size_t ce = cb + PANEL_COLS < L ? cb + PANEL_COLS : L;                             \
        /* a far stride defeats the hardware prefetcher: ask for the lines ahead */        \
        for (size_t c = cb + PANEL_AHEAD; c < ce + PANEL_AHEAD && c < L; c++) {            \
            __builtin_prefetch(rowp[0] + (ptrdiff_t)c * sl);                               \
            __builtin_prefetch(rowp[nrows - 1] + (ptrdiff_t)c * sl);                       \
        }                                                                                  \
        for (size_t r = 0; r < nrows; r++) {                                               \
            size_t c0 = cb > lo[r] ? cb : lo[r], c1 = ce < hi[r] ? ce : hi[r];             \
            char *m = rowp[r] + (ptrdiff_t)c0 * sl;                                        \
            T *bp = (T *)buf + boff[r];                                                    \
            for (size_t c = c0; c < c1; c++, m += sl)                                      \
                if (gather) /* (memcpy: the array's elements need not be aligned) */      \
                    memcpy(bp + c, m, sizeof(T));                                          \
                else                                                                       \
                    memcpy(m, bp + c, sizeof(T));                                          \
        }                                                                                  \
    }                                                                                      \
    break;
    case 2: PANEL(uint16_t)
    case 4: PANEL(uint32_t)
    default: PANEL(uint64_t)
#undef PANEL
    }
}
