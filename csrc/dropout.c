/* fd_masked_scale: the one driver behind dropout forward, both backwards and mask draws.
 * The flat index range is cut into fixed 64-aligned chunks (so packed-mask bytes never straddle
 * two threads and the bits never depend on the thread count); each chunk is walked in tiles
 * whose keep bits sit in a small stack buffer; strided arrays are gathered into and scattered
 * from a tile buffer, so there is no temporary the size of the input. The forward uses the ISA's
 * fused kernel when it has one: Philox bits and the masked scale 64 elements at a time, so the
 * arithmetic overlaps the memory traffic instead of adding to it. */
#include <stdlib.h>
#include <string.h>

#include "fastdrop.h"
#include "kernels.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define TILE 2048                 /* elements per tile: 64-aligned, fits L1 with its buffers */
#define CHUNK (16 * TILE)         /* elements per parallel work item */
#define PARALLEL_THRESHOLD 65536  /* smaller calls stay on the calling thread */
#define PANEL_MAX (1 << 18)       /* elements in a transposed-layout panel buffer */
#define PANEL_ROWS 16             /* rows per panel: a cache line of float32 rows */
#define PANEL_COLS 8              /* columns per block of a panel copy: short contiguous runs */
#define PANEL_AHEAD 32            /* columns prefetched ahead in a panel copy */
#define PANEL_ROWS_MAX (PANEL_ROWS + TILE / 64 + 2) /* rows one panel can touch */

int fd_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int fd_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

size_t fd_parallel_threshold(void) { return PARALLEL_THRESHOLD; }

/* A view with its dimensions merged where memory allows (like NumPy's iterator coalescing). */
typedef struct {
    char *data;
    int ndim;
    ptrdiff_t shape[64];
    ptrdiff_t strides[64];
    int contiguous; /* one run of elements of itemsize */
} view_t;

static void view_init(view_t *v, const fd_view *src, size_t itemsize)
{
    v->data = src->data;
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
    v->contiguous = v->ndim == 0 || (v->ndim == 1 && v->strides[0] == (ptrdiff_t)itemsize);
}

/* Copy elements [i0, i0+n) in C order between the view and a packed buffer. */
static void strided_copy(const view_t *v, size_t i0, size_t n, char *buf, size_t es, int gather)
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
#define COPY(T)                                                                    \
    for (size_t j = 0; j < run; j++, q += st)                                      \
        if (gather)                                                                \
            ((T *)buf)[j] = *(const T *)q;                                         \
        else                                                                       \
            *(T *)q = ((const T *)buf)[j];                                         \
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
 * Such views are copied a panel of rows at a time, walking down the columns, so every cache
 * line and page is used for 64 bytes' worth of rows at once. Returns the panel length in
 * elements (a TILE multiple), or 0 when the plain tile gather is the right tool. */
static size_t panel_len(const view_t *v, size_t es)
{
    if (v->contiguous || v->ndim < 2)
        return 0;
    ptrdiff_t sr = v->strides[v->ndim - 2], sl = v->strides[v->ndim - 1];
    size_t L = (size_t)v->shape[v->ndim - 1];
    if ((sr < 0 ? -sr : sr) >= (sl < 0 ? -sl : sl) || L < 64)
        return 0;
    size_t len = (PANEL_ROWS * L + TILE - 1) / TILE * TILE;
    return len <= PANEL_MAX ? len : 0;
}

/* Copy flat elements [pa, pb) (at most one panel) between the view and buf, column by column. */
static void panel_copy(const view_t *v, size_t pa, size_t pb, char *buf, size_t es, int gather)
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
    switch (es) {
#define PANEL(T)                                                                           \
    for (size_t cb = 0; cb < L; cb += PANEL_COLS) {                                        \
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
                if (gather)                                                                \
                    bp[c] = *(const T *)m;                                                 \
                else                                                                       \
                    *(T *)m = bp[c];                                                       \
        }                                                                                  \
    }                                                                                      \
    break;
    case 2: PANEL(uint16_t)
    case 4: PANEL(uint32_t)
    default: PANEL(uint64_t)
#undef PANEL
    }
}

typedef struct {
    fd_dtype dtype;
    size_t es;
    const view_t *x, *y;
    const uint8_t *mask_in;
    uint8_t *mask_out;
    const fd_bernoulli *b;
    int scaled;
    float s32;
    double s64;
    const fd_kernels *k;
} job_t;

/* Keep bits of flat elements [i0, i0+n) (i0 a multiple of 64, n <= TILE) into bits[]. */
static void tile_bits(const job_t *j, size_t i0, size_t n, uint64_t *bits)
{
    size_t nw = (n + 63) / 64;
    if (j->mask_in) {
        memcpy(bits, j->mask_in + i0 / 8, (n + 7) / 8);
        return;
    }
    const fd_bernoulli *b = j->b;
    if (b->drop_all || b->threshold == 0) { /* p == 1 or p < 2^-32: no words needed */
        memset(bits, b->drop_all ? 0 : 0xff, nw * 8);
        return;
    }
    uint64_t g0 = b->offset + i0;
    unsigned r = (unsigned)(g0 & 3);
    size_t ngroups = (n + r + 63) / 64;
    bits[ngroups] = 0;
    j->k->keep_bits(bits, ngroups, g0 >> 2, (uint32_t)b->seed, (uint32_t)(b->seed >> 32),
                    b->stream, b->threshold);
    if (r) /* the run starts r words into its first Philox block: shift the bit stream down */
        for (size_t w = 0; w < nw; w++)
            bits[w] = (bits[w] >> r) | (bits[w + 1] << (64 - r));
}

/* Whether this tile's keep bits come from Philox words (not a given mask, p == 1 or p ~ 0). */
static int draws_words(const job_t *j)
{
    return !j->mask_in && !j->b->drop_all && j->b->threshold != 0;
}

/* The forward with a fused kernel: Philox bits and the masked scale per 64-element group. */
static int fused_apply(const job_t *j, size_t i0, size_t n, const char *xp, char *yp,
                       uint64_t *bits)
{
    const fd_bernoulli *b = j->b;
    uint64_t g0 = b->offset + i0;
    fd_philox_run run = {g0 >> 2, (unsigned)(g0 & 3), (uint32_t)b->seed,
                         (uint32_t)(b->seed >> 32), b->stream, b->threshold};
    switch (j->dtype) {
    case FD_F32:
        if (!j->k->fused_f32)
            return 0;
        j->k->fused_f32((const float *)xp, (float *)yp, bits, n, &run, j->s32, j->scaled);
        return 1;
    case FD_F64:
        if (!j->k->fused_f64)
            return 0;
        j->k->fused_f64((const double *)xp, (double *)yp, bits, n, &run, j->s64, j->scaled);
        return 1;
    default:
        if (!j->k->fused_f16)
            return 0;
        j->k->fused_f16((const uint16_t *)xp, (uint16_t *)yp, bits, n, &run, j->s32, j->scaled);
        return 1;
    }
}

/* xsrc / ydst: the tile's place in a panel buffer, or NULL to use the arrays (or tile buffers). */
static void run_tile(const job_t *j, size_t i0, size_t n, char *xbuf, char *ybuf,
                     const char *xsrc, char *ydst)
{
    uint64_t bits[TILE / 64 + 2];
    const char *xp = NULL;
    char *yp = NULL;
    if (j->x) {
        if (xsrc) {
            xp = xsrc;
        } else if (j->x->contiguous) {
            xp = j->x->data + i0 * j->es;
        } else {
            strided_copy(j->x, i0, n, xbuf, j->es, 1);
            xp = xbuf;
        }
        yp = ydst ? ydst : j->y->contiguous ? j->y->data + i0 * j->es : ybuf;
    }
    int done = j->x && draws_words(j) && fused_apply(j, i0, n, xp, yp, bits);
    if (!done)
        tile_bits(j, i0, n, bits);
    if (j->mask_out) {
        size_t nb = (n + 7) / 8;
        if (n & 63) /* zero the unused high bits of the last word */
            bits[n / 64] &= (1ull << (n & 63)) - 1;
        memcpy(j->mask_out + i0 / 8, bits, nb);
    }
    if (!j->x)
        return;
    if (!done) {
        switch (j->dtype) {
        case FD_F32:
            j->k->apply_f32((const float *)xp, (float *)yp, bits, n, j->s32, j->scaled);
            break;
        case FD_F64:
            j->k->apply_f64((const double *)xp, (double *)yp, bits, n, j->s64, j->scaled);
            break;
        default:
            j->k->apply_f16((const uint16_t *)xp, (uint16_t *)yp, bits, n, j->s32, j->scaled);
        }
    }
    if (!ydst && !j->y->contiguous)
        strided_copy(j->y, i0, n, ybuf, j->es, 0);
}

static void run_chunk(const job_t *j, size_t c0, size_t c1)
{
    /* 64-byte aligned tile buffers, only touched for strided arrays */
    _Alignas(64) char xbuf[TILE * 8], ybuf[TILE * 8];
    size_t px = j->x ? panel_len(j->x, j->es) : 0, py = j->x ? panel_len(j->y, j->es) : 0;
    size_t pe = px > py ? px : py;
    char *xpan = px ? malloc(pe * j->es) : NULL, *ypan = py ? malloc(pe * j->es) : NULL;
    if ((px && !xpan) || (py && !ypan)) /* no memory for a panel: the tile path still works */
        pe = 0;
    if (!pe) {
        for (size_t i = c0; i < c1; i += TILE)
            run_tile(j, i, (c1 - i < TILE) ? c1 - i : TILE, xbuf, ybuf, NULL, NULL);
    } else {
        /* pe is a TILE multiple, so tiles keep their 64-aligned starts */
        for (size_t pa = c0; pa < c1; pa += pe) {
            size_t pb = (c1 - pa < pe) ? c1 : pa + pe;
            if (xpan)
                panel_copy(j->x, pa, pb, xpan, j->es, 1);
            for (size_t i = pa; i < pb; i += TILE)
                run_tile(j, i, (pb - i < TILE) ? pb - i : TILE, xbuf, ybuf,
                         xpan ? xpan + (i - pa) * j->es : NULL,
                         ypan ? ypan + (i - pa) * j->es : NULL);
            if (ypan)
                panel_copy(j->y, pa, pb, ypan, j->es, 0);
        }
    }
    free(xpan);
    free(ypan);
}

int fd_masked_scale(fd_dtype dtype, const fd_view *x, const fd_view *y, size_t n,
                    const uint8_t *mask_in, uint8_t *mask_out, const fd_bernoulli *b,
                    int scaled, double scale, int nthreads)
{
    static const size_t sizes[] = {2, 4, 8};
    if ((unsigned)dtype > FD_F64 || (x && x->ndim > 64) || (y && y->ndim > 64))
        return -1;
    view_t xv, yv;
    job_t j = {dtype, sizes[dtype], NULL, NULL, mask_in, mask_out, b, scaled, (float)scale,
               scale, fd_kernels_current()};
    if (x) {
        view_init(&xv, x, j.es);
        view_init(&yv, y, j.es);
        j.x = &xv;
        j.y = &yv;
    }
    if (n == 0)
        return 0;
    size_t nchunks = (n + CHUNK - 1) / CHUNK;
    if (nthreads < 1 || n < PARALLEL_THRESHOLD)
        nthreads = 1;
    if ((size_t)nthreads > nchunks)
        nthreads = (int)nchunks;
    if (nthreads == 1) {
        run_chunk(&j, 0, n);
        return 0;
    }
#ifdef _OPENMP
    /* One contiguous, CHUNK-aligned range per thread: the split changes timing, never bits. */
#pragma omp parallel num_threads(nthreads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        size_t lo = nchunks * (size_t)t / (size_t)nt * CHUNK;
        size_t hi = nchunks * (size_t)(t + 1) / (size_t)nt * CHUNK;
        if (hi > n)
            hi = n;
        if (lo < hi)
            run_chunk(&j, lo, hi);
    }
#else
    run_chunk(&j, 0, n);
#endif
    return 0;
}
