/* DropBlock: the keep mask from per-position seeds, zeroing in O(elements). */
#include <stdlib.h>
#include <string.h>

#include "fastdrop.h"
#include "driver.h"
#include "kernels.h"
#include "parallel.h"
#include "strided.h"
#include "structured.h"


#define TILE FD_TILE
#define CHUNK FD_CHUNK

#include "bits.h"

/* ------------------------------------------------------------------------------------------
 * DropBlock.
 * ---------------------------------------------------------------------------------------- */

/* v |= v << L over a bit vector of nw words (bits move to higher indices; beyond nw dropped). */
static void shl_or(uint64_t *v, size_t nw, size_t L)
{
    size_t q = L >> 6;
    unsigned r = (unsigned)(L & 63);
    for (size_t w = nw; w-- > q;) {
        uint64_t s = v[w - q] << r;
        if (r && w - q > 0)
            s |= v[w - q - 1] >> (64 - r);
        v[w] |= s;
    }
}

/* Trailing window: v[c] <- OR of v[c-k+1 .. c] (by doubling: O(nw log k)). */
static void window_bits(uint64_t *v, size_t nw, size_t k)
{
    size_t m = 1;
    while (2 * m <= k) {
        shl_or(v, nw, m);
        m *= 2;
    }
    if (k > m)
        shl_or(v, nw, k - m);
}

/* Leading window of one word: bit j <- OR of bits j .. j+k-1 (bits past 63 read as 0). */
static inline uint64_t lead_window(uint64_t v, size_t k)
{
    size_t m = 1;
    while (2 * m <= k) {
        v |= v >> m;
        m *= 2;
    }
    if (k > m)
        v |= v >> (k - m);
    return v;
}

/* rows i >= sh (nw words at base + i*stride) |= row i - sh; descending, so in place. */
static void rows_or(uint64_t *base, size_t nrows, size_t stride, size_t nw, size_t sh)
{
    if (nw == 1) {
        for (size_t i = nrows; i-- > sh;)
            base[i * stride] |= base[(i - sh) * stride];
        return;
    }
    for (size_t i = nrows; i-- > sh;) {
        uint64_t *dst = base + i * stride;
        const uint64_t *src = base + (i - sh) * stride;
        for (size_t w = 0; w < nw; w++)
            dst[w] |= src[w];
    }
}

/* The trailing window along rows: row i <- OR of rows i-k+1 .. i. */
static void window_rows(uint64_t *base, size_t nrows, size_t stride, size_t nw, size_t k)
{
    size_t m = 1;
    while (2 * m <= k) {
        rows_or(base, nrows, stride, nw, m);
        m *= 2;
    }
    if (k > m)
        rows_or(base, nrows, stride, nw, k - m);
}

uint64_t fd_count_bits(const uint8_t *mask, size_t n)
{
    uint64_t c = 0;
    size_t nfull = n / 64;
    for (size_t w = 0; w < nfull; w++) {
        uint64_t v;
        memcpy(&v, mask + 8 * w, 8);
        c += popcount64(v);
    }
    for (size_t i = nfull * 64; i < n; i++)
        c += (mask[i >> 3] >> (i & 7)) & 1;
    return c;
}

/* Geometry of one DropBlock call (per axis a = D, H, W). */
typedef struct {
    size_t S[3], K[3], G[3], O[3], E[3];
    size_t P, Gn, pw, nw, nwx, slab;
    int narrow; /* rows of one word: G[2] + K[2] - 1 <= 64 (so S[2] <= 64) */
} dbgeom;

/* Per-thread scratch of the plane builder. */
typedef struct {
    uint64_t *B;    /* (E0 * slab + 1) words: rows in output-W coordinates, (E0, E1) layout */
    uint64_t *row;  /* nwx + 2 words: one extended seed row */
    uint64_t *rows; /* S0 * S1 + 1 words: the plane's dropped rows (narrow maps) */
    size_t *nz;     /* G0 * G1 + 1: indices of rows holding seeds (narrow maps) */
    fd_popcount_fn count; /* set bits of a word array (the ISA table's) */
} dbscratch;

static size_t bit_length(size_t v)
{
    size_t b = 0;
    while (v) {
        b++;
        v >>= 1;
    }
    return b;
}

/* Packs the rows (S2 <= 64 bits each) of one plane tightly into D (exactly pw words, each
 * written once) and returns the number of set bits. */
static uint64_t pack_rows(const dbgeom *g, const uint64_t *rows, uint64_t *D,
                          fd_popcount_fn count)
{
    const size_t nrows = g->S[0] * g->S[1];
    const unsigned len = (unsigned)g->S[2];
    uint64_t acc = 0;
    unsigned fill = 0; /* bits in acc */
    size_t o = 0;
    for (size_t r = 0; r < nrows; r++) {
        uint64_t v = rows[r];
        acc |= v << fill;
        if (fill + len >= 64) {
            D[o++] = acc;
            acc = fill ? v >> (64 - fill) : 0;
            fill = fill + len - 64;
        } else {
            fill += len;
        }
    }
    if (fill)
        D[o++] = acc;
    return count(D, o);
}

/* The dropped bits of one plane (tight, P bits, in D: pw zeroed words) from its seeds: bits
 * sbit0 .. sbit0 + Gn - 1 of the seed keep bits sw (swn words; a seed where the bit is 0).
 * Every path computes the same set, the union of the clipped blocks of the seeds. Returns the
 * count. */
static uint64_t plane_dropped(const dbgeom *g, const uint64_t *sw, size_t swn, size_t sbit0,
                              uint64_t *D, const dbscratch *w)
{
    const size_t *S = g->S, *K = g->K, *G = g->G, *O = g->O, *E = g->E;
    const size_t nw = g->nw, slab = g->slab;
    uint64_t *B = w->B;
    uint64_t dropped = 0;
    if (g->narrow) {
        /* W pass, one word per row: rows[j] = OR seeds[j + O - K + 1 .. j + O]; with the seeds
         * moved up by K - 1 (G + K - 1 <= 64 bits) that is the leading window at j + O.
         * Seeds are sparse at the usual rates, so the plane's seed bits are scanned a word at a
         * time and only the rows under a word with a seed are looked at: dilated rows go to
         * B[r] (r = dd * G1 + hh), their indices, ascending, to w->nz. */
        size_t nnz = 0, row = 0, rs = 0; /* seed row `row` starts at seed bit rs */
        for (size_t c = 0; c < g->Gn; c += 64) {
            uint64_t v = ~word_bits(sw, swn, sbit0 + c) & low_mask(g->Gn - c);
            if (!v)
                continue;
            size_t lo = c + (size_t)__builtin_ctzll(v), hi = c + 63 - (size_t)__builtin_clzll(v);
            while (rs + G[2] <= lo) { /* to the row of the word's first seed */
                row++;
                rs += G[2];
            }
            for (; rs <= hi; row++, rs += G[2]) { /* the rows up to its last seed */
                uint64_t sv = ~word_bits(sw, swn, sbit0 + rs) & low_mask(G[2]);
                if (sv) {
                    B[row] = (lead_window(sv << (K[2] - 1), K[2]) >> O[2]) & low_mask(S[2]);
                    w->nz[nnz++] = row;
                }
            }
        }
        if (!nnz)
            return 0;
        uint64_t *rows = w->rows;
        size_t sep = (E[0] + G[0]) * E[1] * (bit_length(K[0]) + bit_length(K[1]) + 1);
        if (nnz * K[0] * K[1] <= sep) {
            /* sparse seeds: OR each dilated row into the K0 x K1 plane rows it covers */
            memset(rows, 0, S[0] * S[1] * 8);
            for (size_t i = 0; i < nnz; i++) {
                size_t r = w->nz[i], dd = G[0] > 1 ? r / G[1] : 0, hh = r - dd * G[1];
                uint64_t v = B[r];
                size_t d0 = dd > O[0] ? dd - O[0] : 0, d1 = dd + K[0] - O[0];
                size_t h0 = hh > O[1] ? hh - O[1] : 0, h1 = hh + K[1] - O[1];
                d1 = d1 > S[0] ? S[0] : d1;
                h1 = h1 > S[1] ? S[1] : h1;
                for (size_t d = d0; d < d1; d++)
                    for (size_t h = h0; h < h1; h++)
                        rows[d * S[1] + h] |= v;
            }
        } else {
            /* dense seeds: separable trailing windows over rows laid out (E0, E1) in R */
            uint64_t *R = B + G[0] * G[1]; /* (E0 * E1) words after the packed rows */
            memset(R, 0, E[0] * E[1] * 8);
            for (size_t i = 0; i < nnz; i++) {
                size_t r = w->nz[i], dd = r / G[1];
                R[dd * E[1] + (r - dd * G[1])] = B[r];
            }
            for (size_t dd = 0; dd < G[0]; dd++)
                window_rows(R + dd * E[1], E[1], 1, 1, K[1]);
            window_rows(R, E[0], E[1], E[1], K[0]);
            for (size_t d = 0; d < S[0]; d++)
                for (size_t h = 0; h < S[1]; h++)
                    rows[d * S[1] + h] = R[(d + O[0]) * E[1] + h + O[1]];
        }
        return pack_rows(g, rows, D, w->count);
    }
    int any = 0;
    memset(B, 0, E[0] * slab * 8);
    /* W pass: each seed row dilated along W, into output-W coordinates (rows of B) */
    for (size_t dd = 0; dd < G[0]; dd++)
        for (size_t hh = 0; hh < G[1]; hh++) {
            size_t base = sbit0 + (dd * G[1] + hh) * G[2];
            uint64_t *dst = B + dd * slab + hh * nw, *row = w->row;
            int rowany = 0;
            for (size_t c = 0; c < g->nwx + 1; c++)
                row[c] = 0;
            for (size_t c = 0; c < G[2]; c += 64) {
                unsigned l = G[2] - c < 64 ? (unsigned)(G[2] - c) : 64;
                uint64_t v = ~word_bits(sw, swn, base + c) & low_mask(l);
                if (v) {
                    or_bits(row, c, v, l);
                    rowany = 1;
                }
            }
            if (!rowany)
                continue;
            any = 1;
            window_bits(row, g->nwx, K[2]);
            for (size_t c = 0; c < S[2]; c += 64) {
                unsigned l = S[2] - c < 64 ? (unsigned)(S[2] - c) : 64;
                or_bits(dst, c, word_bits(row, g->nwx, O[2] + c), l);
            }
        }
    if (!any)
        return 0;
    /* H pass, then D pass (trailing windows; output row h reads row h + O) */
    for (size_t dd = 0; dd < G[0]; dd++)
        window_rows(B + dd * slab, E[1], nw, nw, K[1]);
    window_rows(B, E[0], slab, slab, K[0]);
    for (size_t d = 0; d < S[0]; d++)
        for (size_t h = 0; h < S[1]; h++) {
            const uint64_t *src = B + (d + O[0]) * slab + (h + O[1]) * nw;
            size_t pos = (d * S[1] + h) * S[2];
            for (size_t c = 0; c < S[2]; c += 64) {
                unsigned l = S[2] - c < 64 ? (unsigned)(S[2] - c) : 64;
                uint64_t v = src[c >> 6] & low_mask(l);
                if (v) {
                    or_bits(D, pos + c, v, l);
                    dropped += popcount64(v);
                }
            }
        }
    return dropped;
}

/* dst (a zeroed word buffer whose bit 0 is global bit b0) gets bits [b0, b1) of the keep
 * mask: channels_first layout, planes of P bits taken (inverted) from T. */
typedef struct {
    size_t N, C, Cs, P, pw;
    const uint64_t *T;
    int share;
} outmap;

static void out_first(const outmap *om, uint64_t *dst, size_t b0, size_t b1)
{
    size_t b = b0;
    while (b < b1) {
        size_t pl = b / om->P, within = b - pl * om->P;
        size_t len = om->P - within;
        if (len > b1 - b)
            len = b1 - b;
        size_t n_ = pl / om->C, c = pl - n_ * om->C;
        const uint64_t *src = om->T + (n_ * om->Cs + (om->share ? 0 : c)) * om->pw;
        for (size_t o = 0; o < len; o += 64) {
            unsigned l = len - o < 64 ? (unsigned)(len - o) : 64;
            or_bits(dst, b - b0 + o, ~word_bits(src, om->pw, within + o), l);
        }
        b += len;
    }
}

static void out_last(const outmap *om, uint64_t *dst, size_t b0, size_t b1)
{
    size_t pos = b0 / om->C, c = b0 - pos * om->C;
    size_t n_ = pos / om->P, within = pos - n_ * om->P;
    for (size_t b = b0; b < b1;) {
        if (om->share) {
            size_t len = om->C - c;
            if (len > b1 - b)
                len = b1 - b;
            const uint64_t *src = om->T + n_ * om->pw;
            if (!((src[within >> 6] >> (within & 63)) & 1))
                set_run(dst, b - b0, len);
            b += len;
            c += len;
        } else {
            const uint64_t *src = om->T + (n_ * om->Cs + c) * om->pw;
            if (!((src[within >> 6] >> (within & 63)) & 1))
                dst[(b - b0) >> 6] |= 1ull << ((b - b0) & 63);
            b++;
            c++;
        }
        if (c == om->C) {
            c = 0;
            if (++within == om->P) {
                within = 0;
                n_++;
            }
        }
    }
}

#define OUT_WORDS 512     /* words per output work item (4 KiB of mask) */
#define SEED_GROUP 32768  /* seeds drawn per fd_draw_bits call (whole planes) */

/* The seed-plane pass: groups of `gp` seed planes, each drawn in one call and dilated into its
 * dropped planes (written to mask_out directly, or to T for the output pass). */
typedef struct {
    const dbgeom *g;
    const fd_bernoulli *seeds;
    const fd_kernels *k;
    uint8_t *mask_out;
    uint64_t *T;
    size_t nplanes, gp, ngroups, swords, Cs, nchan;
    int direct, share_channels;
    uint64_t dropped; /* summed over threads (atomically) */
} planes_job;

static int planes_body(void *arg, int t, int nt)
{
    planes_job *j = (planes_job *)arg;
    const dbgeom *g = j->g;
    size_t nrows = g->G[0] * g->G[1], brows = g->E[0] * g->slab;
    if (g->narrow) /* packed seed rows, then the (E0, E1) rows of the dense path */
        brows = nrows + g->E[0] * g->E[1];
    dbscratch w;
    w.B = (uint64_t *)malloc((brows + 1) * 8);
    w.row = (uint64_t *)malloc((g->nwx + 2) * 8);
    w.nz = (size_t *)malloc((nrows + 1) * sizeof(size_t));
    uint64_t *D = (uint64_t *)malloc((g->pw + 1) * 8);
    w.rows = (uint64_t *)malloc((g->S[0] * g->S[1] + 1) * 8);
    uint64_t *sw = (uint64_t *)malloc((j->swords + 2) * 8); /* seed keep bits (fd_draw_bits) */
    w.count = j->k->popcount_words;
    int rc = 0;
    uint64_t dropped = 0;
    size_t g0, g1;
    fd_share(j->ngroups, t, nt, &g0, &g1);
    if (!w.B || !w.row || !w.rows || !w.nz || !D || !sw)
        rc = -2;
    for (size_t gi = g0; gi < g1 && !rc; gi++) {
        size_t p0 = gi * j->gp, p1 = p0 + j->gp < j->nplanes ? p0 + j->gp : j->nplanes;
        fd_bernoulli b = *j->seeds;
        b.offset += (uint64_t)p0 * g->Gn;
        size_t nseed = (p1 - p0) * g->Gn, gw = (nseed + 63) / 64;
        fd_draw_bits(j->k, &b, b.offset, nseed, sw);
        if (nseed & 63) /* the rest of the last word is 0 */
            sw[gw - 1] &= (1ull << (nseed & 63)) - 1;
        for (size_t p = p0; p < p1; p++) {
            uint64_t *tp = j->direct ? D : j->T + p * g->pw;
            if (j->direct)
                memset(D, 0, g->pw * 8);
            dropped += plane_dropped(g, sw, gw, (p - p0) * g->Gn, tp, &w);
            if (!j->direct)
                continue;
            /* keep = ~dropped, written to every channel plane this seed plane feeds */
            for (size_t i = 0; i < g->pw; i++)
                D[i] = ~D[i];
            size_t nsample = p / j->Cs, c0 = j->share_channels ? 0 : p % j->Cs;
            size_t c1 = j->share_channels ? j->nchan : c0 + 1;
            for (size_t c = c0; c < c1; c++)
                memcpy(j->mask_out + (nsample * j->nchan + c) * (g->P / 8), D, g->P / 8);
        }
    }
    __atomic_fetch_add(&j->dropped, dropped, __ATOMIC_RELAXED);
    free(w.B);
    free(w.row);
    free(w.nz);
    free(D);
    free(w.rows);
    free(sw);
    return rc;
}

/* The output pass: the packed keep mask in x's C order from T, in fixed word ranges, so no
 * byte is shared between threads. */
typedef struct {
    const outmap *om;
    uint8_t *mask_out;
    size_t n, nwords, nbytes, nitems;
    int channels_last;
} output_job;

static int output_body(void *arg, int t, int nt)
{
    const output_job *j = (const output_job *)arg;
    size_t i0, i1;
    fd_share(j->nitems, t, nt, &i0, &i1);
    for (size_t it = i0; it < i1; it++) {
        uint64_t buf[OUT_WORDS + 1];
        size_t w0 = it * OUT_WORDS, w1 = w0 + OUT_WORDS < j->nwords ? w0 + OUT_WORDS : j->nwords;
        size_t b0 = w0 * 64, b1 = w1 * 64 < j->n ? w1 * 64 : j->n;
        memset(buf, 0, sizeof buf);
        if (j->channels_last)
            out_last(j->om, buf, b0, b1);
        else
            out_first(j->om, buf, b0, b1);
        size_t nb = (w1 - w0) * 8;
        if (w0 * 8 + nb > j->nbytes)
            nb = j->nbytes - w0 * 8;
        memcpy(j->mask_out + w0 * 8, buf, nb);
    }
    return 0;
}

int fd_dropblock_mask(size_t nbatch, size_t nchan, const size_t sp[3], const size_t kk[3],
                      int valid_only, int share_channels, int channels_last,
                      const fd_bernoulli *seeds, uint8_t *mask_out, uint64_t *kept, int nthreads)
{
    dbgeom g;
    for (int a = 0; a < 3; a++) {
        g.S[a] = sp[a];
        g.K[a] = kk[a] < 1 ? 1 : (kk[a] > sp[a] ? sp[a] : kk[a]);
        g.G[a] = valid_only ? g.S[a] - g.K[a] + 1 : g.S[a];
        g.O[a] = valid_only ? 0 : g.K[a] / 2; /* timm: block from s - k//2 */
        g.E[a] = g.G[a] + g.K[a] - 1;
    }
    size_t Cs = share_channels ? 1 : nchan;
    size_t nplanes = nbatch * Cs;
    g.P = g.S[0] * g.S[1] * g.S[2];
    g.Gn = g.G[0] * g.G[1] * g.G[2];
    size_t n = nbatch * nchan * g.P;
    *kept = 0;
    if (n == 0)
        return 0;
    g.pw = (g.P + 63) / 64;
    g.nw = (g.S[2] + 63) / 64;
    g.nwx = (g.G[2] + g.K[2] - 1 + 63) / 64;
    g.slab = g.E[1] * g.nw;
    g.narrow = g.G[2] + g.K[2] - 1 <= 64;
    /* planes land on whole bytes of the mask: write them directly, else through T */
    int direct = !channels_last && g.P % 8 == 0;
    size_t gp = g.Gn >= SEED_GROUP ? 1 : SEED_GROUP / (g.Gn ? g.Gn : 1); /* planes per draw */
    planes_job pj = {&g, seeds, fd_kernels_current(), mask_out, NULL, nplanes, gp, (nplanes + gp - 1) / gp,
                     (gp * g.Gn + 63) / 64, Cs, nchan, direct, share_channels, 0};
    if (!direct) {
        pj.T = (uint64_t *)calloc(nplanes * g.pw + 1, 8);
        if (!pj.T)
            return -2;
    }
    nthreads = fd_team_size(n, pj.ngroups, nthreads);
    if (fd_parallel(nthreads, planes_body, &pj)) {
        free(pj.T);
        return -2;
    }
    if (!direct) {
        outmap om = {nbatch, nchan, Cs, g.P, g.pw, pj.T, share_channels};
        size_t nwords = (n + 63) / 64;
        output_job oj = {&om, mask_out, n, nwords, (n + 7) / 8,
                         (nwords + OUT_WORDS - 1) / OUT_WORDS, channels_last};
        fd_parallel(nthreads, output_body, &oj);
        free(pj.T);
    }
    uint64_t dropped = pj.dropped;
    *kept = (uint64_t)n - dropped * (uint64_t)(share_channels ? nchan : 1);
    return 0;
}

