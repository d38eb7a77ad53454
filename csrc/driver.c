/* The one tile driver (see driver.h): dropout's forward, both backwards and mask draws, the
 * broadcast (reduced-mask) variants, alpha dropout and Gaussian noise all run here.
 *
 * A tile is at most FD_TILE elements. Its keep bits come from exactly one source: the Philox
 * contract (drawn by the ISA's kernels, or fused with the arithmetic per 64-element group so
 * the Philox work overlaps the loads and stores), a stored packed mask, or a reduced mask read
 * through a broadcast map; Gaussian noise has none. Strided arrays are gathered into and
 * scattered from a tile buffer (transposed ones through column panels), so there is no
 * temporary the size of the input; flat ranges are cut into fixed 64-aligned chunks between
 * threads, so no two threads share a packed-mask byte and the bits never depend on the thread
 * count. */
#include <stdlib.h>
#include <string.h>

#include "bits.h"
#include "driver.h"
#include "parallel.h"
#include "plan.h"
#include "strided.h"

#define TILE FD_TILE
#ifndef STREAM_PIECE
#define STREAM_PIECE 2048 /* bytes of output per piece of a tile streamed through a buffer */
#endif

/* ------------------------------------------------------------------------------------------
 * Keep-bit sources.
 * ---------------------------------------------------------------------------------------- */
void fd_bmap_init(fd_bmap *m, int ndim, const ptrdiff_t *shape, const ptrdiff_t *rs,
                  const uint8_t *mask, size_t mask_bits)
{
    m->mask = mask;
    m->nbytes = (mask_bits + 7) / 8;
    m->ndim = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1)
            continue;
        if (m->ndim && m->rs[m->ndim - 1] == rs[d] * shape[d]) {
            m->shape[m->ndim - 1] *= shape[d];
            m->rs[m->ndim - 1] = rs[d];
        } else {
            m->shape[m->ndim] = shape[d];
            m->rs[m->ndim] = rs[d];
            m->ndim++;
        }
    }
    if (m->ndim == 0) { /* a single element */
        m->ndim = 1;
        m->shape[0] = 1;
        m->rs[0] = 0;
    }
}

/* Keep bits of flat elements [i0, i0 + n) from the reduced mask, into zeroed bits[]. */
static void bmap_bits(const fd_bmap *m, size_t i0, size_t n, uint64_t *bits)
{
    int nd = m->ndim, in = nd - 1;
    ptrdiff_t idx[64];
    size_t pos = 0, rem = i0;
    memset(bits, 0, ((n + 63) / 64 + 1) * 8);
    for (int d = in; d >= 0; d--) {
        idx[d] = (ptrdiff_t)(rem % (size_t)m->shape[d]);
        rem /= (size_t)m->shape[d];
        pos += (size_t)idx[d] * (size_t)m->rs[d];
    }
    const ptrdiff_t len = m->shape[in], rsi = m->rs[in];
    size_t done = 0;
    while (done < n) {
        size_t run = (size_t)(len - idx[in]);
        if (run > n - done)
            run = n - done;
        if (rsi == 0) { /* one decision for the whole run */
            if ((m->mask[pos >> 3] >> (pos & 7)) & 1)
                set_run(bits, done, run);
        } else if (rsi == 1) { /* a run of consecutive reduced bits */
            for (size_t c = 0; c < run; c += 64) {
                unsigned l = run - c < 64 ? (unsigned)(run - c) : 64;
                or_bits(bits, done + c, load_bits(m->mask, m->nbytes, pos + c), l);
            }
        } else {
            for (size_t c = 0; c < run; c++) {
                size_t q = pos + c * (size_t)rsi;
                bits[(done + c) >> 6] |= (uint64_t)((m->mask[q >> 3] >> (q & 7)) & 1)
                                         << ((done + c) & 63);
            }
        }
        done += run;
        idx[in] += (ptrdiff_t)run;
        pos += run * (size_t)rsi;
        for (int d = in; d > 0 && idx[d] == m->shape[d]; d--) {
            pos -= (size_t)idx[d] * (size_t)m->rs[d];
            idx[d] = 0;
            idx[d - 1]++;
            pos += (size_t)m->rs[d - 1];
        }
    }
}

void fd_draw_bits(const fd_kernels *k, const fd_bernoulli *b, uint64_t g0, size_t n,
                  uint64_t *bits)
{
    size_t nw = (n + 63) / 64;
    if (b->drop_all || b->threshold == 0) { /* p == 1 or p < 2^-32: no words needed */
        memset(bits, b->drop_all ? 0 : 0xff, nw * 8);
        return;
    }
    unsigned r = (unsigned)(g0 & 3);
    size_t ngroups = (n + r + 63) / 64;
    bits[ngroups] = 0;
    k->keep_bits(bits, ngroups, g0 >> 2, (uint32_t)b->seed, (uint32_t)(b->seed >> 32), b->stream,
                 b->threshold);
    if (r) /* the run starts r words into its first Philox block: shift the bit stream down */
        for (size_t w = 0; w < nw; w++)
            bits[w] = (bits[w] >> r) | (bits[w + 1] << (64 - r));
}

/* AFFINE with given keep bits (a stored or reduced mask; drawn bits use the fused kernels);
 * st: with the path's streaming stores. */
static void affine_bits(const fd_job *j, const char *xp, char *yp, const uint64_t *bits, size_t n,
                        int st)
{
    const fd_struct_op *op = j->op;
    const fd_kernels *k = j->k;
    switch (j->dtype) {
    case FD_F32:
        (st ? k->affine_bits_stream_f32 : k->affine_bits_f32)((const float *)xp, (float *)yp, bits,
                                                              n, j->a32, j->b32, j->d32);
        break;
    case FD_F64:
        (st ? k->affine_bits_stream_f64 : k->affine_bits_f64)((const double *)xp, (double *)yp,
                                                              bits, n, op->a, op->b, op->d);
        break;
    default:
        (st ? k->affine_bits_stream_f16 : k->affine_bits_f16)((const uint16_t *)xp,
                                                              (uint16_t *)yp, bits, n, j->a32,
                                                              j->b32, j->d32);
    }
}

/* ------------------------------------------------------------------------------------------
 * One tile.
 * ---------------------------------------------------------------------------------------- */
void fd_job_init(fd_job *j, fd_dtype dtype, const fd_struct_op *op, const fd_bmap *bm)
{
    static const size_t sizes[] = {2, 4, 8};
    j->dtype = dtype;
    j->es = sizes[dtype];
    j->op = op;
    j->bm = bm;
    j->k = fd_kernels_current();
    j->stream = 0;
    j->s32 = (float)op->scale;
    j->a32 = (float)op->a;
    j->b32 = (float)op->b;
    j->d32 = (float)op->d;
    j->base = op->op != FD_OP_NOISE && op->bern ? op->bern->offset : op->offset;
}

/* Whether the keep bits are Philox words (not a stored mask, p == 1 or p < 2^-32). */
static int draws_words(const fd_struct_op *op)
{
    return op->bern && !op->bern->drop_all && op->bern->threshold != 0;
}

/* The ISA's fused kernel for this tile: Philox bits and the arithmetic per 64-element group
 * (st: its streaming-store form). Returns 0 when there is none (the tile then draws its bits
 * first). */
static int fused_tile(const fd_job *j, uint64_t g0, size_t n, const char *xp, char *yp,
                      uint64_t *bits, int st)
{
    const fd_struct_op *op = j->op;
    const fd_bernoulli *b = op->bern;
    const fd_kernels *k = j->k;
    fd_philox_run run = {g0 >> 2, (unsigned)(g0 & 3), (uint32_t)b->seed,
                         (uint32_t)(b->seed >> 32), b->stream, b->threshold};
    if (op->op == FD_OP_AFFINE) {
        if (j->dtype == FD_F32)
            (st ? k->affine_stream_f32 : k->affine_f32)((const float *)xp, (float *)yp, bits, n,
                                                        &run, j->a32, j->b32, j->d32);
        else if (j->dtype == FD_F64)
            (st ? k->affine_stream_f64 : k->affine_f64)((const double *)xp, (double *)yp, bits, n,
                                                        &run, op->a, op->b, op->d);
        else
            (st ? k->affine_stream_f16 : k->affine_f16)((const uint16_t *)xp, (uint16_t *)yp, bits,
                                                        n, &run, j->a32, j->b32, j->d32);
        return 1;
    }
    switch (j->dtype) {
    case FD_F32:
        if (!k->fused_f32)
            return 0;
        (st ? k->fused_stream_f32 : k->fused_f32)((const float *)xp, (float *)yp, bits, n, &run,
                                                  j->s32, op->scaled);
        return 1;
    case FD_F64:
        if (!k->fused_f64)
            return 0;
        (st ? k->fused_stream_f64 : k->fused_f64)((const double *)xp, (double *)yp, bits, n, &run,
                                                  op->scale, op->scaled);
        return 1;
    default:
        if (!k->fused_f16)
            return 0;
        (st ? k->fused_stream_f16 : k->fused_f16)((const uint16_t *)xp, (uint16_t *)yp, bits, n,
                                                  &run, j->s32, op->scaled);
        return 1;
    }
}

/* Tile of local elements [i0, i0 + n) (n <= TILE), global index g0 for element i0, contiguous
 * data at xp / yp (NULL: bits only); mout receives its packed keep bits (bit 0 first) or NULL.
 * st: y written with the path's streaming kernels (kernels.h: *_stream). */
static void compute_tile(const fd_job *j, size_t i0, uint64_t g0, size_t n, const char *xp,
                         char *yp, uint8_t *mout, int st)
{
    const fd_struct_op *op = j->op;
    uint64_t bits[TILE / 64 + 2];
    if (op->op == FD_OP_NOISE) {
        j->k->gauss_tile(j->dtype, xp, yp, NULL, n, g0, op->seed, op->sigma);
        return;
    }
    int done = xp && draws_words(op) && fused_tile(j, g0, n, xp, yp, bits, st);
    if (!done) {
        if (j->bm)
            bmap_bits(j->bm, i0, n, bits);
        else if (op->mask)
            memcpy(bits, op->mask + i0 / 8, (n + 7) / 8);
        else
            fd_draw_bits(j->k, op->bern, g0, n, bits);
    }
    if (mout) {
        if (n & 63) /* zero the unused high bits of the last word */
            bits[n / 64] &= (1ull << (n & 63)) - 1;
        memcpy(mout, bits, (n + 7) / 8);
    }
    if (!xp || done)
        return;
    if (op->op == FD_OP_AFFINE) {
        affine_bits(j, xp, yp, bits, n, st);
        return;
    }
    const fd_kernels *k = j->k;
    switch (j->dtype) {
    case FD_F32:
        (st ? k->apply_stream_f32 : k->apply_f32)((const float *)xp, (float *)yp, bits, n, j->s32,
                                                  op->scaled);
        break;
    case FD_F64:
        (st ? k->apply_stream_f64 : k->apply_f64)((const double *)xp, (double *)yp, bits, n,
                                                  op->scale, op->scaled);
        break;
    default:
        (st ? k->apply_stream_f16 : k->apply_f16)((const uint16_t *)xp, (uint16_t *)yp, bits, n,
                                                  j->s32, op->scaled);
    }
}

/* Whether the path streams this op's stores as it goes (else through a buffer). */
static int streams_in_kernel(const fd_job *j)
{
    return j->op->op != FD_OP_NOISE && j->k->fused_stream_f32 && j->k->apply_stream_f32 &&
           j->k->affine_stream_f32 && j->k->affine_bits_stream_f32;
}

static void run_tile(const fd_job *j, size_t i0, uint64_t g0, size_t n, const char *xp, char *yp,
                     uint8_t *mout)
{
    if (!j->stream || !yp) {
        compute_tile(j, i0, g0, n, xp, yp, mout, 0);
        return;
    }
    if (streams_in_kernel(j)) {
        compute_tile(j, i0, g0, n, xp, yp, mout, 1);
        return;
    }
    /* No streaming kernel (Gaussian noise): the tile is made in L1 a piece at a time, at y's
     * offset within a cache line, and each piece streamed out whole lines at a time. */
    _Alignas(64) char buf[STREAM_PIECE + 64];
    char *tb = buf + (uintptr_t)yp % 64;
    const size_t piece = STREAM_PIECE / j->es; /* a multiple of 64 elements */
    for (size_t s = 0; s < n; s += piece) {
        size_t m = n - s < piece ? n - s : piece;
        compute_tile(j, i0 + s, g0 + s, m, xp ? xp + s * j->es : NULL, tb,
                     mout ? mout + s / 8 : NULL, 0);
        j->k->stream_bytes(yp + s * j->es, tb, m * j->es);
    }
}

void fd_run_span(const fd_job *j, size_t i0, uint64_t g0, size_t n, const char *x, char *y,
                 uint8_t *mask_out)
{
    for (size_t i = 0; i < n; i += TILE)
        run_tile(j, i0 + i, g0 + i, n - i < TILE ? n - i : TILE, x ? x + i * j->es : NULL,
                 y ? y + i * j->es : NULL, mask_out ? mask_out + i / 8 : NULL);
}

/* ------------------------------------------------------------------------------------------
 * Whole arrays: chunks, tiles, panels.
 * ---------------------------------------------------------------------------------------- */
typedef struct {
    fd_job job;
    const fd_strided *x, *y; /* NULL: bits only */
} array_job;

/* Tile [i0, i0 + n) of the array; xsrc / ydst: the tile's place in a panel buffer, or NULL to
 * use the arrays directly (contiguous) or through the tile buffers. */
static void array_tile(const array_job *a, size_t i0, size_t n, char *xbuf, char *ybuf,
                       const char *xsrc, char *ydst)
{
    const fd_job *j = &a->job;
    const char *xp = NULL;
    char *yp = NULL;
    if (a->x) {
        if (xsrc) {
            xp = xsrc;
        } else if (a->x->contiguous) {
            xp = a->x->data + i0 * j->es;
        } else {
            fd_strided_copy(a->x, i0, n, xbuf, j->es, 1);
            xp = xbuf;
        }
        yp = ydst ? ydst : a->y->contiguous ? a->y->data + i0 * j->es : ybuf;
    }
    uint8_t *mout = j->op->mask_out ? j->op->mask_out + i0 / 8 : NULL;
    run_tile(j, i0, j->base + i0, n, xp, yp, mout);
    if (a->x && !ydst && !a->y->contiguous)
        fd_strided_copy(a->y, i0, n, ybuf, j->es, 0);
}

static void array_chunk(const void *ctx, size_t c0, size_t c1)
{
    const array_job *a = (const array_job *)ctx;
    const size_t es = a->job.es;
    /* 64-byte aligned tile buffers, only touched for strided arrays */
    _Alignas(64) char xbuf[TILE * 8], ybuf[TILE * 8];
    size_t px = a->x ? fd_panel_len(a->x) : 0, py = a->x ? fd_panel_len(a->y) : 0;
    size_t pe = px > py ? px : py;
    char *xpan = px ? malloc(pe * es) : NULL, *ypan = py ? malloc(pe * es) : NULL;
    if ((px && !xpan) || (py && !ypan)) /* no memory for a panel: the tile path still works */
        pe = 0;
    if (!pe) {
        for (size_t i = c0; i < c1; i += TILE)
            array_tile(a, i, (c1 - i < TILE) ? c1 - i : TILE, xbuf, ybuf, NULL, NULL);
    } else {
        /* pe is a TILE multiple, so tiles keep their 64-aligned starts */
        for (size_t pa = c0; pa < c1; pa += pe) {
            size_t pb = (c1 - pa < pe) ? c1 : pa + pe;
            if (xpan)
                fd_panel_copy(a->x, pa, pb, xpan, es, 1);
            for (size_t i = pa; i < pb; i += TILE)
                array_tile(a, i, (pb - i < TILE) ? pb - i : TILE, xbuf, ybuf,
                           xpan ? xpan + (i - pa) * es : NULL,
                           ypan ? ypan + (i - pa) * es : NULL);
            if (ypan)
                fd_panel_copy(a->y, pa, pb, ypan, es, 0);
        }
    }
    free(xpan);
    free(ypan);
    if (a->job.stream)
        a->job.k->stream_fence();
}

int fd_apply(fd_dtype dtype, const fd_view *x, const fd_view *y, size_t n, const fd_struct_op *op,
             int nthreads)
{
    static const size_t sizes[] = {2, 4, 8};
    if ((unsigned)dtype > FD_F64 || !x != !y || (x && (x->ndim > 64 || y->ndim > 64)))
        return -1;
    if (op->op == FD_OP_NOISE ? !x : (!op->bern && !op->mask))
        return -1;
    fd_strided xv, yv;
    fd_bmap bm;
    array_job a = {{0}, NULL, NULL};
    if (!op->bern && op->mask && op->rstrides) {
        if (!x)
            return -1;
        fd_bmap_init(&bm, x->ndim, x->shape, op->rstrides, op->mask, op->mask_bits);
    }
    fd_job_init(&a.job, dtype, op, !op->bern && op->mask && op->rstrides ? &bm : NULL);
    /* the plan: ISA path and store policy (plan.h) */
    fd_opclass opc = !x ? FD_OPC_BITS : op->op == FD_OP_NOISE ? FD_OPC_NOISE
                   : op->op == FD_OP_AFFINE ? FD_OPC_AFFINE : op->bern ? FD_OPC_DRAW : FD_OPC_STORED;
    int stream = 0;
    a.job.k = fd_plan_choose(opc, dtype, x ? n * sizes[dtype] : (n + 7) / 8, &stream);
    if (x) {
        fd_strided_init(&xv, x, sizes[dtype]);
        fd_strided_init(&yv, y, sizes[dtype]);
        a.x = &xv;
        a.y = &yv;
        a.job.stream = stream && yv.contiguous && a.job.k->stream_bytes;
    }
    fd_parallel_chunks(n, FD_CHUNK, nthreads, array_chunk, &a);
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * The public entry points (fastdrop.h, structured.h) as operations.
 * ---------------------------------------------------------------------------------------- */
int fd_masked_scale(fd_dtype dtype, const fd_view *x, const fd_view *y, size_t n,
                    const uint8_t *mask_in, uint8_t *mask_out, const fd_bernoulli *b,
                    int scaled, double scale, int nthreads)
{
    fd_struct_op op;
    memset(&op, 0, sizeof op);
    op.op = FD_OP_SCALE;
    op.bern = mask_in ? NULL : b;
    op.mask = mask_in;
    op.mask_out = mask_out;
    op.scaled = scaled;
    op.scale = scale;
    return fd_apply(dtype, x, y, n, &op, nthreads);
}

int fd_struct_apply(fd_dtype dtype, const fd_view *x, const fd_view *y, const fd_struct_op *op,
                    int nthreads)
{
    if (!x || !y || x->ndim != y->ndim || x->ndim > 64)
        return -1;
    size_t n = 1;
    for (int d = 0; d < x->ndim; d++)
        n *= (size_t)x->shape[d];
    return fd_apply(dtype, x, y, n, op, nthreads);
}
