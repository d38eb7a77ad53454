/* Structured dropout: one tiled, chunked driver (fd_struct_apply) for every elementwise
 * operation whose keep bits come from the Philox contract, a full packed mask or a broadcast
 * (reduced) packed mask, or Gaussian noise (gaussian.c). DropBlock masks are built in dropblock.c.
 *
 * Bits: Bernoulli words always come from the core machinery (fd_masked_scale with x = y = NULL
 * draws a packed mask over any index range with the core contract, SIMD included); the
 * per-element arithmetic of SCALE is the core's own apply_* kernels, and AFFINE with drawn
 * bits is the core's fused affine_* kernels (bits and arithmetic in one loop). Every result is
 * a pure function of the element index, so the thread split (fixed CHUNK-aligned ranges) never
 * changes a bit. Packed masks are read as little-endian 64-bit words (x86-64, like the core). */
#include <stdlib.h>
#include <string.h>

#include "fastdrop.h"
#include "kernels.h"
#include "philox.h"
#include "parallel.h"
#include "strided.h"
#include "structured.h"
#include "bits.h"
#include "gaussian.h"


#define TILE FD_TILE
#define CHUNK FD_CHUNK
#define TWORDS (TILE / 64)

/* ------------------------------------------------------------------------------------------
 * Broadcast bit map: keep bits of x's flat range from a reduced packed mask.
 * ---------------------------------------------------------------------------------------- */
typedef struct {
    int ndim;
    ptrdiff_t shape[64];
    ptrdiff_t rs[64]; /* bit stride in the reduced mask (0: broadcast) */
    const uint8_t *mask;
    size_t nbytes;
} bmap;

static void bmap_init(bmap *m, int ndim, const ptrdiff_t *shape, const ptrdiff_t *rs,
                      const uint8_t *mask, size_t nbits)
{
    m->mask = mask;
    m->nbytes = (nbits + 7) / 8;
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

static void bmap_bits(const bmap *m, size_t i0, size_t n, uint64_t *bits)
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

/* ------------------------------------------------------------------------------------------
 * The driver.
 * ---------------------------------------------------------------------------------------- */
typedef struct {
    fd_dtype dtype;
    size_t es, n;
    const fd_strided *x, *y;
    const fd_struct_op *op;
    const bmap *bm;
    const fd_kernels *k;
    float s32, a32, b32, d32;
} sjob;

static void tile_keep(const sjob *j, size_t i0, size_t n, uint64_t *bits)
{
    const fd_struct_op *op = j->op;
    if (j->bm) {
        bmap_bits(j->bm, i0, n, bits);
    } else if (op->mask) {
        memcpy(bits, op->mask + i0 / 8, (n + 7) / 8);
    } else {
        fd_bernoulli b = *op->bern;
        b.offset += i0;
        fd_masked_scale(FD_F32, NULL, NULL, n, NULL, (uint8_t *)bits, &b, 0, 0.0, 1);
        if (op->mask_out)
            memcpy(op->mask_out + i0 / 8, bits, (n + 7) / 8);
    }
}

/* AFFINE with Philox keep bits (not p == 1 or p < 2^-32): the ISA's fused kernel draws each
 * 64-element group's bits and applies them in the same loop, so the loads and stores can overlap
 * the Philox arithmetic and no bit buffer is written and read back. Returns 0 for other tiles. */
static int affine_fused_tile(const sjob *j, size_t i0, size_t n, char *xbuf, char *ybuf)
{
    const fd_struct_op *op = j->op;
    const fd_bernoulli *b = op->bern;
    if (op->op != FD_OP_AFFINE || !b || b->drop_all || b->threshold == 0)
        return 0;
    const char *xp = xbuf;
    char *yp = j->y->contiguous ? j->y->data + i0 * j->es : ybuf;
    if (j->x->contiguous)
        xp = j->x->data + i0 * j->es;
    else
        fd_strided_copy(j->x, i0, n, xbuf, j->es, 1);
    uint64_t bits[TWORDS + 1];
    uint64_t g0 = b->offset + i0;
    fd_philox_run run = {g0 >> 2, (unsigned)(g0 & 3), (uint32_t)b->seed,
                         (uint32_t)(b->seed >> 32), b->stream, b->threshold};
    if (j->dtype == FD_F32)
        j->k->affine_f32((const float *)xp, (float *)yp, bits, n, &run, j->a32, j->b32, j->d32);
    else if (j->dtype == FD_F64)
        j->k->affine_f64((const double *)xp, (double *)yp, bits, n, &run, op->a, op->b, op->d);
    else
        j->k->affine_f16((const uint16_t *)xp, (uint16_t *)yp, bits, n, &run, j->a32, j->b32,
                         j->d32);
    if (op->mask_out) {
        if (n & 63) /* the kernel leaves the last word's bits past n unspecified */
            bits[n / 64] &= (1ull << (n & 63)) - 1;
        memcpy(op->mask_out + i0 / 8, bits, (n + 7) / 8);
    }
    if (!j->y->contiguous)
        fd_strided_copy(j->y, i0, n, ybuf, j->es, 0);
    return 1;
}

static void run_tile(const sjob *j, size_t i0, size_t n, char *xbuf, char *ybuf)
{
    const fd_struct_op *op = j->op;
    uint64_t bits[TWORDS + 2];
    if (affine_fused_tile(j, i0, n, xbuf, ybuf))
        return;
    if (op->op != FD_OP_NOISE)
        tile_keep(j, i0, n, bits);
    const char *xp;
    char *yp;
    if (j->x->contiguous) {
        xp = j->x->data + i0 * j->es;
    } else {
        fd_strided_copy(j->x, i0, n, xbuf, j->es, 1);
        xp = xbuf;
    }
    yp = j->y->contiguous ? j->y->data + i0 * j->es : ybuf;
    switch (op->op) {
    case FD_OP_SCALE:
        if (j->dtype == FD_F32)
            j->k->apply_f32((const float *)xp, (float *)yp, bits, n, j->s32, op->scaled);
        else if (j->dtype == FD_F64)
            j->k->apply_f64((const double *)xp, (double *)yp, bits, n, op->scale, op->scaled);
        else
            j->k->apply_f16((const uint16_t *)xp, (uint16_t *)yp, bits, n, j->s32, op->scaled);
        break;
    case FD_OP_AFFINE:
        if (j->dtype == FD_F32)
            j->k->affine_bits_f32((const float *)xp, (float *)yp, bits, n, j->a32, j->b32, j->d32);
        else if (j->dtype == FD_F64)
            j->k->affine_bits_f64((const double *)xp, (double *)yp, bits, n, op->a, op->b, op->d);
        else
            j->k->affine_bits_f16((const uint16_t *)xp, (uint16_t *)yp, bits, n, j->a32, j->b32,
                                  j->d32);
        break;
    default: /* NOISE: normals generated and applied per tile */
        fd_gaussian_apply(j->dtype, xp, yp, n, op->offset + i0, op->seed, op->sigma);
    }
    if (!j->y->contiguous)
        fd_strided_copy(j->y, i0, n, ybuf, j->es, 0);
}

static void run_chunk(const sjob *j, size_t c0, size_t c1)
{
    _Alignas(64) char xbuf[TILE * 8], ybuf[TILE * 8];
    for (size_t i = c0; i < c1; i += TILE)
        run_tile(j, i, (c1 - i < TILE) ? c1 - i : TILE, xbuf, ybuf);
}

static void run_chunk_ctx(const void *j, size_t c0, size_t c1) { run_chunk(j, c0, c1); }

int fd_struct_apply(fd_dtype dtype, const fd_view *x, const fd_view *y, const fd_struct_op *op,
                    int nthreads)
{
    static const size_t sizes[] = {2, 4, 8};
    if ((unsigned)dtype > FD_F64 || !x || !y || x->ndim > 64 || y->ndim > 64 || x->ndim != y->ndim)
        return -1;
    if (op->op != FD_OP_NOISE && !op->bern && !op->mask)
        return -1;
    size_t n = 1;
    for (int d = 0; d < x->ndim; d++)
        n *= (size_t)x->shape[d];
    fd_strided xv, yv;
    bmap bm;
    fd_strided_init(&xv, x, sizes[dtype]);
    fd_strided_init(&yv, y, sizes[dtype]);
    sjob j = {dtype, sizes[dtype], n, &xv, &yv, op, NULL, fd_kernels_current(),
              (float)op->scale, (float)op->a, (float)op->b, (float)op->d};
    if (op->op != FD_OP_NOISE && !op->bern && op->rstrides) {
        bmap_init(&bm, x->ndim, x->shape, op->rstrides, op->mask, op->mask_bits);
        j.bm = &bm;
    }
    fd_parallel_chunks(n, FD_CHUNK, nthreads, run_chunk_ctx, &j);
    return 0;
}

