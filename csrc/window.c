/* fd_masked_scale_window / fd_struct_apply_window: fd_masked_scale and fd_struct_apply
 * (driver.c) on a block (window) of a larger virtual array.
 *
 * The array being processed is the block at `origin` of a virtual C-order array of shape
 * `gshape`; its element with local multi-index j has global index
 *     g = offset + ravel(origin + j, gshape)
 * (docs/contract.md, "Windows"). Trailing dimensions along which the block spans the whole
 * global extent are contiguous in the global index, so they are merged; each remaining "row"
 * of the block (the last non-full dimension and everything after it) is then one contiguous run
 * of global indices starting at offset + G(row start).
 *
 * Rows are runs for the tile driver (driver.h), which does all the arithmetic. A whole-array
 * driver call per row costs ~0.1 us, so rows go one of three ways:
 *   - short rows with Bernoulli bits (run_short_rows): the keep bits of a pass of rows are drawn
 *     with the kernel table into a packed mask (one keep_bits call spanning several rows when
 *     they lie close in the global index), then the pass is one driver call reading the mask;
 *   - rows whose x and y are contiguous, and mask-only rows (run_rows): one fd_run_span each,
 *     Gaussian rows batched into one aligned span per call (noise_row);
 *   - otherwise (strided rows, long rows given threads): each row is a whole-array driver call
 *     (fd_apply) with its global start as the offset.
 *
 * Packed mask: local C order, ceil(n / 8) bytes. A row whose first local element is not a
 * multiple of 8 has its bits drawn into a per-thread buffer and shifted into place. Rows are
 * split between threads in units of 8 rows, so every thread's range starts at a byte-aligned
 * bit and no two threads ever write the same mask byte. The bits never depend on the thread
 * count: each element's bit is a function of its global index only. */
#include <stdlib.h>
#include <string.h>

#include "bits.h"
#include "driver.h"
#include "fastdrop.h"
#include "kernels.h"
#include "parallel.h"
#include "strided.h"
#include "structured.h"


#define MAXDIM 64
/* Rows shorter than this take the short-row path: keep bits first, then one driver call. With
 * data the second pass forgoes the fused kernels' overlap of Philox and memory traffic, which
 * costs about as much as the per-row driver call once rows pass ~200 elements. */
#define SHORT_ROW_MASK 1024
#define SHORT_ROW_DATA 160
#define SPAN_GROUPS 32        /* Philox groups (64 words each) drawn at once across close rows */
#define PASS_ELEMS (1u << 18) /* elements per bits-then-apply pass (its mask stays in cache) */
#define NOISE_SPAN 4096       /* elements of a Gaussian batch buffer (a multiple of 128) */

typedef struct {
    fd_dtype dtype;
    const fd_view *x, *y;
    int r;                     /* rows are indexed by local dims [0, r) */
    int ndim;
    const ptrdiff_t *lshape;
    size_t L;                  /* elements per row */
    uint64_t gstride[MAXDIM];  /* global C-order strides (elements), mod 2^64 */
    uint64_t base;             /* offset + sum(origin * gstride) */
    uint8_t *mask_out;
    const fd_struct_op *op;    /* the operation (op->mask_out unused: rows write mask_out) */
    fd_job job;                /* op prepared for fd_run_span */
    int lean;                  /* rows are spans (fd_run_span, noise_row) */
    int noise_batch;           /* Gaussian rows short enough to batch (noise_row) */
    int noise_close;           /* Gaussian rows close enough to share a batch */
} wjob_t;

/* OR the n bits src[0..n) (bit 0 of src[0] first) into dst at bit position pos.
 * The destination bytes beyond the first must be zero. Unused high bits of src are ignored. */
static void bits_or(uint8_t *dst, size_t pos, const uint8_t *src, size_t n)
{
    if (!n)
        return;
    size_t nb = (n + 7) / 8;
    unsigned s = (unsigned)(pos & 7);
    uint8_t *d = dst + pos / 8;
    unsigned tail = (unsigned)(n & 7);
    if (s == 0) {
        memcpy(d, src, nb);
        if (tail)
            d[nb - 1] &= (uint8_t)((1u << tail) - 1);
        return;
    }
    size_t last = (pos + n - 1) / 8 - pos / 8; /* index of the last destination byte */
    for (size_t k = 0; k < nb; k++) {
        uint8_t v = src[k];
        if (k == nb - 1 && tail)
            v &= (uint8_t)((1u << tail) - 1);
        d[k] |= (uint8_t)(v << s);
        if (k + 1 <= last)
            d[k + 1] |= (uint8_t)(v >> (8 - s));
    }
}

/* Whether the rows of v (dims [r, ndim)) are contiguous runs of aligned elements of size es
 * (the kernels take them as typed pointers). */
static int rows_contiguous(const fd_view *v, int r, size_t es)
{
    ptrdiff_t want = (ptrdiff_t)es;
    if ((uintptr_t)v->data % es)
        return 0;
    for (int d = v->ndim - 1; d >= r; d--) {
        if (v->shape[d] != 1 && v->strides[d] != want)
            return 0;
        want *= v->shape[d];
    }
    for (int d = 0; d < r; d++) /* every row starts aligned */
        if ((size_t)(v->strides[d] < 0 ? -v->strides[d] : v->strides[d]) % es)
            return 0;
    return 1;
}

/* Gaussian rows with contiguous data, batched: rows close together in the global index are
 * copied into one buffer at their global positions, the noise is applied over the buffer's
 * 128-aligned span in one call (whole 32-block Philox batches: the vector words), and the rows
 * are copied out. The transform is elementwise, so each value is the one of its global index;
 * the gaps between rows are computed and discarded. */
typedef struct {
    char *buf;     /* NOISE_SPAN elements */
    char **ydst;   /* row destinations (at most NOISE_SPAN rows) */
    size_t *pos;   /* row positions in buf */
    uint64_t s0;   /* global index of buf[0], a multiple of 128 */
    size_t used, nrows;
} noise_batch;

static void noise_flush(const wjob_t *w, noise_batch *nb, size_t es)
{
    if (!nb->nrows)
        return;
    size_t len = (nb->used + 127) & ~(size_t)127;
    fd_run_span(&w->job, 0, nb->s0, len, nb->buf, nb->buf, NULL);
    for (size_t k = 0; k < nb->nrows; k++)
        memcpy(nb->ydst[k], nb->buf + nb->pos[k] * es, w->L * es);
    nb->nrows = nb->used = 0;
}

static void noise_row(const wjob_t *w, noise_batch *nb, const char *x, char *y, uint64_t g,
                      size_t es)
{
    if (nb->nrows && (!w->noise_close || g < nb->s0 || g - nb->s0 > NOISE_SPAN - w->L))
        noise_flush(w, nb, es);
    if (!nb->nrows)
        nb->s0 = g & ~(uint64_t)127;
    size_t p = (size_t)(g - nb->s0);
    memcpy(nb->buf + p * es, x, w->L * es);
    nb->ydst[nb->nrows] = y;
    nb->pos[nb->nrows++] = p;
    if (p + w->L > nb->used)
        nb->used = p + w->L;
}

/* Rows [r0, r1) on the calling thread (each row may use nthreads itself); tmp holds ceil(L/8) bytes (or is NULL: no mask). */
static int run_rows(const wjob_t *w, size_t r0, size_t r1, uint8_t *tmp, int nthreads)
{
    static const size_t sizes[] = {2, 4, 8};
    const int r = w->r, nd = w->ndim;
    const size_t es = sizes[w->dtype];
    noise_batch nb = {0};
    if (w->lean && w->noise_batch && nthreads == 1) {
        nb.buf = calloc(NOISE_SPAN, es); /* zeros: the gaps compute on defined values */
        nb.ydst = malloc(NOISE_SPAN * sizeof *nb.ydst);
        nb.pos = malloc(NOISE_SPAN * sizeof *nb.pos);
        if (!nb.buf || !nb.ydst || !nb.pos) {
            free(nb.buf);
            free(nb.ydst);
            free(nb.pos);
            return -2;
        }
    }
    ptrdiff_t idx[MAXDIM];
    size_t rem = r0;
    for (int d = r - 1; d >= 0; d--) {
        idx[d] = (ptrdiff_t)(rem % (size_t)w->lshape[d]);
        rem /= (size_t)w->lshape[d];
    }
    fd_view xv, yv;
    if (w->x) {
        xv.ndim = nd - r;
        xv.shape = w->x->shape + r;
        xv.strides = w->x->strides + r;
        yv.ndim = nd - r;
        yv.shape = w->y->shape + r;
        yv.strides = w->y->strides + r;
    }
    int rc = 0;
    for (size_t row = r0; row < r1; row++) {
        uint64_t g = w->base;
        char *xd = w->x ? w->x->data : NULL, *yd = w->y ? w->y->data : NULL;
        for (int d = 0; d < r; d++) {
            g += (uint64_t)idx[d] * w->gstride[d];
            if (w->x) {
                xd += idx[d] * w->x->strides[d];
                yd += idx[d] * w->y->strides[d];
            }
        }
        size_t pos = row * w->L;
        uint8_t *mout = NULL;
        if (w->mask_out)
            mout = (pos & 7) ? tmp : w->mask_out + pos / 8;
        if (w->lean && nthreads == 1 && nb.buf) { /* (a row given threads: the driver's split) */
            noise_row(w, &nb, xd, yd, g, es);
        } else if (w->lean && nthreads == 1) {
            fd_run_span(&w->job, pos, g, w->L, xd, yd, mout);
        } else {
            fd_struct_op o = *w->op;
            fd_bernoulli b;
            if (o.bern) {
                b = *o.bern;
                b.offset = g;
                o.bern = &b;
            }
            o.offset = g;
            o.mask_out = mout;
            xv.data = xd;
            yv.data = yd;
            rc = fd_apply(w->dtype, w->x ? &xv : NULL, w->x ? &yv : NULL, w->L, &o, nthreads);
        }
        if (rc)
            break;
        if (mout == tmp && tmp)
            bits_or(w->mask_out, pos, tmp, w->L);
        for (int d = r - 1; d >= 0; d--) { /* next row */
            if (++idx[d] < w->lshape[d])
                break;
            idx[d] = 0;
        }
    }
    if (!rc)
        noise_flush(w, &nb, es);
    free(nb.buf);
    free(nb.ydst);
    free(nb.pos);
    return rc;
}

/* The block's geometry in w (set up except r, L, base, gstride): merge the trailing dims the
 * block spans entirely; r, L and the global start of row 0. */
static void setup_rows(wjob_t *w, const uint64_t *gshape, const uint64_t *origin,
                       uint64_t start)
{
    const int ndim = w->ndim;
    const ptrdiff_t *lshape = w->lshape;
    uint64_t st = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        w->gstride[d] = st;
        st *= gshape[d];
    }
    /* r = the last dim the block does not span: dims [r, ndim) form one contiguous global run
     * (r = -1, the whole global array, is one row of all dims) */
    int r = ndim - 1;
    while (r >= 0 && (uint64_t)lshape[r] == gshape[r])
        r--;
    if (r < 0)
        r = 0;
    w->r = r;
    w->L = ndim ? (size_t)lshape[r] * (size_t)w->gstride[r] : 1;
    w->base = start;
    for (int d = 0; d < ndim; d++)
        w->base += origin[d] * w->gstride[d];
}

/* ------------------------------------------------------------------------------------------
 * Short rows: the driver's fixed cost per call would dominate, so the keep bits of a pass of
 * rows are drawn with the kernel table directly (one keep_bits call for several rows when
 * they lie close together in the global index, else one per row) into a packed mask in local
 * C order, and the pass is then one ordinary driver call reading that mask (mask_in).
 * ---------------------------------------------------------------------------------------- */
typedef struct {
    const wjob_t *w;
    const fd_bernoulli *b; /* bits are drawn: !drop_all, threshold > 0 */
    const fd_kernels *k;
    size_t first;          /* local index of mask bit 0 */
    uint8_t *mask;
    int close;             /* rows close enough that one draw spanning several pays */
} bjob_t;

/* Keep bits of local elements [i0, i0 + n) (n <= FD_TILE) into bits[0 .. n/64], zero past n. */
static void window_bits(const bjob_t *m, size_t i0, size_t n, uint64_t *bits)
{
    const wjob_t *w = m->w;
    const fd_bernoulli *b = m->b;
    const int r = w->r;
    const size_t L = w->L;
    uint64_t span[SPAN_GROUPS + 1];
    uint64_t s0 = 0, s1 = 0; /* span[] holds the keep bits of global [s0, s1) */
    size_t nspan = 0;
    ptrdiff_t idx[MAXDIM];
    size_t rem = i0 / L, col = i0 % L;
    uint64_t g = w->base;
    for (int d = r - 1; d >= 0; d--) {
        idx[d] = (ptrdiff_t)(rem % (size_t)w->lshape[d]);
        rem /= (size_t)w->lshape[d];
        g += (uint64_t)idx[d] * w->gstride[d];
    }
    memset(bits, 0, ((n + 63) / 64) * 8);
    for (size_t done = 0; done < n;) {
        size_t len = L - col < n - done ? L - col : n - done;
        uint64_t a = g + col;
        /* (a + len wraps to 0 only for the row ending the index space at 2^64) */
        if (!nspan || a < s0 || a + len > s1 || a + len < a) {
            size_t ng = ((a & 3) + len + 63) / 64;
            if (m->close && r > 0) { /* the rest of this tile's rows, up to SPAN_GROUPS */
                size_t rows = (n - done + L - 1) / L;
                size_t want = ((a & 3) + (rows - 1) * w->gstride[r - 1] + L + 63) / 64;
                if (want > ng)
                    ng = want < SPAN_GROUPS ? want : SPAN_GROUPS;
            }
            span[ng] = 0;
            m->k->keep_bits(span, ng, a >> 2, (uint32_t)b->seed, (uint32_t)(b->seed >> 32),
                            b->stream, b->threshold);
            nspan = ng + 1;
            s0 = a & ~(uint64_t)3;
            s1 = s0 + 64 * ng;
        }
        for (size_t c = 0; c < len; c += 64)
            or_bits(bits, done + c, word_bits(span, nspan, (size_t)(a - s0) + c),
                    len - c < 64 ? (unsigned)(len - c) : 64);
        done += len;
        col = 0;
        for (int d = r - 1; d >= 0; d--) { /* next row */
            g += w->gstride[d];
            if (++idx[d] < w->lshape[d])
                break;
            g -= (uint64_t)w->lshape[d] * w->gstride[d];
            idx[d] = 0;
        }
    }
}

static void window_bits_chunk(const void *ctx, size_t lo, size_t hi)
{
    const bjob_t *m = ctx;
    uint64_t bits[FD_TILE / 64 + 1];
    for (size_t i = lo; i < hi; i += FD_TILE) {
        size_t nt = hi - i < FD_TILE ? hi - i : FD_TILE;
        window_bits(m, m->first + i, nt, bits);
        memcpy(m->mask + i / 8, bits, (nt + 7) / 8);
    }
}

/* Indices [i0, i1) of dim 0 (i0 a multiple of 8, so the mask starts on a byte) in passes of
 * `step` (a multiple of 8): each pass draws its packed keep bits (into w->mask_out, else
 * scratch), then runs w's operation on its sub-block reading them. */
static int short_rows_range(const wjob_t *w, const fd_bernoulli *b, size_t e0, size_t i0,
                            size_t i1, size_t step, uint8_t *scratch, int nthreads)
{
    bjob_t m = {w, b, w->job.k, 0, NULL, 0};
    /* one draw across rows costs the global stride between rows in Philox words; one draw per
     * row costs its whole 64-word groups plus about a group's worth of setup */
    m.close = w->gstride[w->r - 1] <= 64 * ((w->L + 3 + 63) / 64) + 64;
    ptrdiff_t shape[MAXDIM];
    fd_view xs, ys;
    if (w->x) {
        memcpy(shape, w->lshape, (size_t)w->ndim * sizeof *shape);
        xs = *w->x;
        ys = *w->y;
        xs.shape = ys.shape = shape;
    }
    int rc = 0;
    for (size_t i = i0; i < i1 && !rc; i += step) {
        size_t cnt = i1 - i < step ? i1 - i : step, lo = i * e0, nel = cnt * e0;
        m.first = lo;
        m.mask = w->mask_out ? w->mask_out + lo / 8 : scratch;
        fd_parallel_chunks(nel, FD_CHUNK, nthreads, window_bits_chunk, &m);
        if (!w->x)
            continue;
        shape[0] = (ptrdiff_t)cnt;
        xs.data = w->x->data + (ptrdiff_t)i * w->x->strides[0];
        ys.data = w->y->data + (ptrdiff_t)i * w->y->strides[0];
        fd_struct_op o = *w->op;
        o.bern = NULL;
        o.mask = m.mask;
        o.rstrides = NULL;
        o.mask_out = NULL;
        rc = fd_apply(w->dtype, &xs, &ys, nel, &o, nthreads);
    }
    return rc;
}

/* Indices [0, count) of a block's leading dimension (or of its rows) cut between `team`
 * threads in units of 8, so that every thread's range starts on a packed-mask byte, each
 * thread with a scratch buffer of `scratch` bytes (none when 0); range(ctx, lo, hi, buf,
 * inner) runs one range, its own work on `inner` threads (1 inside a team). */
typedef int (*range_fn)(const void *ctx, size_t lo, size_t hi, uint8_t *buf, int inner);

typedef struct {
    size_t count, scratch;
    range_fn range;
    const void *ctx;
} eights_job;

static int eights_body(void *arg, int t, int nt)
{
    const eights_job *j = (const eights_job *)arg;
    size_t lo, hi;
    fd_share((j->count + 7) / 8, t, nt, &lo, &hi);
    lo *= 8;
    hi = hi * 8 < j->count ? hi * 8 : j->count;
    if (lo >= hi)
        return 0;
    uint8_t *buf = j->scratch ? malloc(j->scratch) : NULL;
    int rc = j->scratch && !buf ? -2 : j->range(j->ctx, lo, hi, buf, 1);
    free(buf);
    return rc;
}

static int run_in_eights(size_t count, size_t scratch, int team, int inner, range_fn range,
                         const void *ctx)
{
    eights_job j = {count, scratch, range, ctx};
    if (team > 1)
        return fd_parallel(team, eights_body, &j);
    uint8_t *buf = scratch ? malloc(scratch) : NULL;
    if (scratch && !buf)
        return -2;
    int rc = range(ctx, 0, count, buf, inner);
    free(buf);
    return rc;
}

/* Short rows (w set up by setup_rows, r >= 1, bits drawn from b). Threads split dim 0 in units
 * of 8 indices inside one parallel region (a region per pass would cost a scheduler time slice
 * each on a busy machine); a block with fewer than 16 indices on dim 0 runs its passes in order,
 * each pass using the threads. */
typedef struct {
    const wjob_t *w;
    const fd_bernoulli *b;
    size_t e0, step;
} short_rows_job;

static int short_rows_fn(const void *ctx, size_t lo, size_t hi, uint8_t *scratch, int inner)
{
    const short_rows_job *j = (const short_rows_job *)ctx;
    return short_rows_range(j->w, j->b, j->e0, lo, hi, j->step, scratch, inner);
}

static int run_short_rows(const wjob_t *w, const fd_bernoulli *b, size_t n, int nthreads)
{
    const size_t n0 = (size_t)w->lshape[0];
    const size_t e0 = n / n0; /* elements per index of dim 0 */
    size_t step = PASS_ELEMS / e0 & ~(size_t)7;
    if (step < 8)
        step = 8;
    size_t scratch_bytes = w->mask_out ? 0 : (step < n0 ? step : n0) * e0 / 8 + 8;
    nthreads = fd_team_size(n, (size_t)-1, nthreads);
    int team = nthreads > 1 && n0 >= 16 ? fd_team_size(n, (n0 + 7) / 8, nthreads) : 1;
    short_rows_job j = {w, b, e0, step};
    return run_in_eights(n0, scratch_bytes, team, nthreads, short_rows_fn, &j);
}

static int rows_fn(const void *ctx, size_t lo, size_t hi, uint8_t *tmp, int inner)
{
    return run_rows((const wjob_t *)ctx, lo, hi, tmp, inner);
}

/* Rows of w (set up by setup_rows), split between threads in units of 8 rows. */
static int run_all_rows(wjob_t *w, size_t n, int nthreads)
{
    const size_t es = w->job.es;
    w->lean = !w->x || (rows_contiguous(w->x, w->r, es) && rows_contiguous(w->y, w->r, es));
    if (w->lean && w->op->op == FD_OP_NOISE) {
        w->noise_batch = w->L <= NOISE_SPAN - 128;
        /* a shared batch computes the gaps between rows, a row alone its 128-aligned span */
        w->noise_close = w->r > 0 && w->gstride[w->r - 1] <= w->L + 128;
    }
    size_t R = n / w->L;

    if (w->mask_out) /* rows not starting on a byte are OR-ed in: start from zeros */
        memset(w->mask_out, 0, (n + 7) / 8);
    size_t tmpsz = w->mask_out && (w->L & 7) ? (w->L + 7) / 8 + 8 : 0;
    nthreads = fd_team_size(n, (size_t)-1, nthreads);
    /* few rows (or a small block): rows in order, each row may use threads itself */
    int team = nthreads > 1 && R >= 16 ? fd_team_size(n, (R + 7) / 8, nthreads) : 1;
    return run_in_eights(R, tmpsz, team, nthreads, rows_fn, w);
}

/* op (keep bits from the contract, or NOISE) on the block, as rows of the global index. */
static int run_window(fd_dtype dtype, const fd_view *x, const fd_view *y, int ndim,
                      const ptrdiff_t *lshape, const uint64_t *gshape, const uint64_t *origin,
                      const fd_struct_op *op, uint8_t *mask_out, size_t n, int nthreads)
{
    wjob_t w = {0};
    w.dtype = dtype;
    w.x = x;
    w.y = y;
    w.ndim = ndim;
    w.lshape = lshape;
    w.mask_out = mask_out;
    w.op = op;
    fd_job_init(&w.job, dtype, op, NULL);
    setup_rows(&w, gshape, origin, w.job.base);
    const fd_bernoulli *b = op->op == FD_OP_NOISE ? NULL : op->bern;
    if (b && w.r > 0 && w.L < (x ? SHORT_ROW_DATA : SHORT_ROW_MASK) && !b->drop_all &&
        b->threshold)
        return run_short_rows(&w, b, n, nthreads);
    return run_all_rows(&w, n, nthreads);
}

static int check_window(int ndim, const ptrdiff_t *lshape, const uint64_t *gshape,
                        const uint64_t *origin, size_t *n)
{
    if (ndim < 0 || ndim > MAXDIM)
        return -1;
    *n = 1;
    for (int d = 0; d < ndim; d++) {
        if (lshape[d] < 0 || origin[d] > gshape[d] || (uint64_t)lshape[d] > gshape[d] - origin[d])
            return -1;
        *n *= (size_t)lshape[d];
    }
    return 0;
}

int fd_masked_scale_window(fd_dtype dtype, const fd_view *x, const fd_view *y,
                           const ptrdiff_t *lshape, int ndim, const uint64_t *gshape,
                           const uint64_t *origin, const uint8_t *mask_in, uint8_t *mask_out,
                           const fd_bernoulli *b, int scaled, double scale, int nthreads)
{
    size_t n;
    if ((unsigned)dtype > FD_F64 || check_window(ndim, lshape, gshape, origin, &n))
        return -1;
    /* A stored mask fixes every keep bit: the window does not matter. */
    if (mask_in || n == 0)
        return fd_masked_scale(dtype, x, y, n, mask_in, mask_out, b, scaled, scale, nthreads);
    fd_struct_op op;
    memset(&op, 0, sizeof op);
    op.op = FD_OP_SCALE;
    op.bern = b;
    op.scaled = scaled;
    op.scale = scale;
    return run_window(dtype, x, y, ndim, lshape, gshape, origin, &op, mask_out, n, nthreads);
}

int fd_struct_apply_window(fd_dtype dtype, const fd_view *x, const fd_view *y,
                           const uint64_t *gshape, const uint64_t *origin,
                           const fd_struct_op *op, int nthreads)
{
    size_t n;
    if ((unsigned)dtype > FD_F64 || !x || !y || x->ndim != y->ndim ||
        check_window(x->ndim, x->shape, gshape, origin, &n))
        return -1;
    /* keep bits read from a stored (full or reduced) mask are indexed locally: no window */
    if (n == 0 || (op->op != FD_OP_NOISE && !op->bern))
        return fd_struct_apply(dtype, x, y, op, nthreads);
    return run_window(dtype, x, y, x->ndim, x->shape, gshape, origin, op,
                      op->op == FD_OP_NOISE ? NULL : op->mask_out, n, nthreads);
}
