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
#include "parallel.h"
#include "strided.h"

#define TILE FD_TILE

typedef struct {
    fd_dtype dtype;
    size_t es;
    const fd_strided *x, *y;
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
            fd_strided_copy(j->x, i0, n, xbuf, j->es, 1);
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
        fd_strided_copy(j->y, i0, n, ybuf, j->es, 0);
}

static void run_chunk(const job_t *j, size_t c0, size_t c1)
{
    /* 64-byte aligned tile buffers, only touched for strided arrays */
    _Alignas(64) char xbuf[TILE * 8], ybuf[TILE * 8];
    size_t px = j->x ? fd_panel_len(j->x) : 0, py = j->x ? fd_panel_len(j->y) : 0;
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
                fd_panel_copy(j->x, pa, pb, xpan, j->es, 1);
            for (size_t i = pa; i < pb; i += TILE)
                run_tile(j, i, (pb - i < TILE) ? pb - i : TILE, xbuf, ybuf,
                         xpan ? xpan + (i - pa) * j->es : NULL,
                         ypan ? ypan + (i - pa) * j->es : NULL);
            if (ypan)
                fd_panel_copy(j->y, pa, pb, ypan, j->es, 0);
        }
    }
    free(xpan);
    free(ypan);
}

static void run_chunk_ctx(const void *j, size_t c0, size_t c1) { run_chunk(j, c0, c1); }

int fd_masked_scale(fd_dtype dtype, const fd_view *x, const fd_view *y, size_t n,
                    const uint8_t *mask_in, uint8_t *mask_out, const fd_bernoulli *b,
                    int scaled, double scale, int nthreads)
{
    static const size_t sizes[] = {2, 4, 8};
    if ((unsigned)dtype > FD_F64 || (x && x->ndim > 64) || (y && y->ndim > 64))
        return -1;
    fd_strided xv, yv;
    job_t j = {dtype, sizes[dtype], NULL, NULL, mask_in, mask_out, b, scaled, (float)scale,
               scale, fd_kernels_current()};
    if (x) {
        fd_strided_init(&xv, x, j.es);
        fd_strided_init(&yv, y, j.es);
        j.x = &xv;
        j.y = &yv;
    }
    fd_parallel_chunks(n, FD_CHUNK, nthreads, run_chunk_ctx, &j);
    return 0;
}
