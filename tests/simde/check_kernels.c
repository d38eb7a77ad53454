/* Bit-for-bit check of one SIMD kernel table (FD_CHECK_KERNELS: fd_kernels_avx512 by default,
 * built against SIMDe by run.sh or natively; or fd_kernels_<isa> of any csrc/isa/<isa>.c; a
 * path the CPU does not run is skipped) against the portable scalar
 * table (csrc/isa/scalar.c), which the Python tests pin to fastdrop.reference. Covers every
 * entry: keep_bits, apply_*, fused_*, affine_*, affine_bits_*, words, gauss_tile,
 * scale_copy_*, stream_copy_*, stream_bytes, popcount_words (against the scalar table) and the transposes (against a plain
 * loop), on many sizes (n not a multiple of 16 or 64), run offsets r = 0..3, thresholds, keys,
 * streams, special values (NaN, inf, subnormal, -0), in-place calls and Philox block counters
 * crossing 2^32 (carry into the high counter word). Exit status 1 on a mismatch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#ifndef FD_CHECK_KERNELS
#define FD_CHECK_KERNELS fd_kernels_avx512
#endif
#define FD_STR2(x) #x
#define FD_STR(x) FD_STR2(x)
extern const fd_kernels FD_CHECK_KERNELS, fd_kernels_scalar;

static const fd_kernels *K, *S;
static long nchecks, nfail;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void fail(const char *what, const char *fmt, unsigned long long a, unsigned long long b,
                 unsigned long long c, unsigned long long d)
{
    if (nfail++ < 20) {
        printf("MISMATCH %s: ", what);
        printf(fmt, a, b, c, d);
        printf("\n");
    }
}

static const uint32_t thresholds[] = {1, 0x80000000u, 0xFFFFFFFFu, 0x4CCCCCCDu, 0xE6666666u,
                                      0x00000100u, 0};

/* block counters worth testing: small, just below / across 2^32, large */
static uint64_t pick_block(int i)
{
    switch (i % 8) {
    case 0: return rnd() % 1000;
    case 1: return 0xFFFFFFFFull - rnd() % 80;        /* crosses 2^32 within a few groups */
    case 2: return 0x100000000ull - 16 * (rnd() % 6); /* groups that end exactly at 2^32 */
    case 3: return 0x2FFFFFFFFull - rnd() % 300;      /* a later carry (hi 2 -> 3) */
    case 4: return (rnd() >> 2) - 100000;             /* anywhere below 2^62 */
    case 5: return (1ull << 62) - 16 * 80 - rnd() % 64; /* the top of the element range */
    default: return rnd() >> 34;
    }
}

static void check_keep_bits(void)
{
    static uint64_t a[2048 + 1], b[2048 + 1];
    for (int it = 0; it < 3000; it++) {
        size_t ng = it < 200 ? (size_t)(it % 70) : (size_t)(rnd() % (it % 50 ? 70 : 2048));
        uint64_t block = pick_block(it);
        uint32_t t = thresholds[it % 7] ? thresholds[it % 7] : (uint32_t)rnd() | 1;
        uint32_t k0 = (uint32_t)rnd(), k1 = (uint32_t)rnd(), stream = it % 3 ? (uint32_t)rnd() : 0;
        memset(a, 0xA5, sizeof a);
        memset(b, 0xA5, sizeof b);
        K->keep_bits(a, ng, block, k0, k1, stream, t);
        S->keep_bits(b, ng, block, k0, k1, stream, t);
        nchecks++;
        if (memcmp(a, b, sizeof a))
            fail("keep_bits", "ngroups=%llu block=%#llx threshold=%#llx stream=%#llx", ng, block,
                 t, stream);
    }
}

/* test data: normal, huge, tiny and subnormal values, +-0, +-inf, NaNs with payloads */
static void fill(void *p, size_t n, size_t es)
{
    unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rnd();
        switch (es) {
        case 4: {
            static const uint32_t sp[] = {0, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00001u,
                                          0x7f800001u, 0x00000001u, 0x7f7fffffu, 0x3f800000u};
            uint32_t v = (uint32_t)r;
            if (r >> 60 == 0)
                v = sp[(r >> 32) % 9];
            else if (r >> 60 < 12) { /* ordinary floats */
                float f = (float)((int32_t)v) / 65536.0f;
                memcpy(&v, &f, 4);
            }
            memcpy(c + 4 * i, &v, 4);
            break;
        }
        case 8: {
            static const uint64_t sp[] = {0, 0x8000000000000000ull, 0x7ff0000000000000ull,
                                          0x7ff8000000000001ull, 1, 0x7fefffffffffffffull};
            uint64_t v = r;
            if (r >> 60 == 0)
                v = sp[(r >> 32) % 6];
            else if (r >> 60 < 12) {
                double f = (double)((int64_t)r) / 1e9;
                memcpy(&v, &f, 8);
            }
            memcpy(c + 8 * i, &v, 8);
            break;
        }
        default: {
            static const uint16_t sp[] = {0, 0x8000, 0x7c00, 0xfc00, 0x7e01, 0x7c01, 0x0001,
                                          0x03ff, 0x7bff, 0x3c00};
            uint16_t v = (uint16_t)r;
            if (r >> 60 < 3)
                v = sp[(r >> 32) % 10];
            memcpy(c + 2 * i, &v, 2);
        }
        }
    }
}

static const double scales[] = {2.0, 1.0 / 0.9, 1.0 / 0.3, 1e30, 1.5e-5};

static void run_apply(const fd_kernels *k, int dt, const void *x, void *y, const uint64_t *bits,
                      size_t n, double s, int scaled)
{
    if (dt == 4)
        k->apply_f32(x, y, bits, n, (float)s, scaled);
    else if (dt == 8)
        k->apply_f64(x, y, bits, n, s, scaled);
    else
        k->apply_f16(x, y, bits, n, (float)s, scaled);
}

static void check_apply(void)
{
    static const int dts[] = {4, 8, 2};
    for (int it = 0; it < 6000; it++) {
        int dt = dts[it % 3];
        size_t n = it < 1800 ? (size_t)(it / 3) : (size_t)(rnd() % (it % 7 ? 300 : 5000));
        int scaled = (it / 3) % 2 == 0, inplace = it % 5 == 0;
        double s = scales[it % 5];
        size_t nw = (n + 63) / 64 + 1;
        uint64_t *bits = malloc(nw * 8);
        for (size_t w = 0; w < nw; w++) {
            uint64_t r = rnd();
            bits[w] = it % 11 == 0 ? ~0ull : it % 13 == 0 ? 0 : r;
        }
        /* exact-size buffers, so AddressSanitizer sees any access past n */
        char *x = malloc(n * dt + 1), *ya = malloc(n * dt + 1), *yb = malloc(n * dt + 1);
        fill(x, n, (size_t)dt);
        if (inplace) {
            memcpy(ya, x, n * dt);
            run_apply(K, dt, ya, ya, bits, n, s, scaled);
        } else {
            memset(ya, 0x5A, n * dt);
            run_apply(K, dt, x, ya, bits, n, s, scaled);
        }
        run_apply(S, dt, x, yb, bits, n, s, scaled);
        nchecks++;
        if (memcmp(ya, yb, n * dt))
            fail("apply", "dtype bytes=%llu n=%llu scaled=%llu inplace=%llu", dt, n, scaled,
                 inplace);
        free(x), free(ya), free(yb), free(bits);
    }
}


/* The sizes and Philox runs check_fused and check_affine share (case `it`). */
static size_t random_n(int it)
{
    return it < 1500 ? (size_t)(it / 3) + 1 : 1 + (size_t)(rnd() % (it % 7 ? 300 : 2048));
}

static fd_philox_run random_run(int it)
{
    fd_philox_run run;
    run.block = pick_block(it / 3);
    run.r = (unsigned)((it / 3) % 4);
    run.threshold = thresholds[it % 7] ? thresholds[it % 7] : (uint32_t)rnd() | 1;
    run.k0 = (uint32_t)rnd();
    run.k1 = (uint32_t)rnd();
    run.stream = it % 4 ? (uint32_t)rnd() : 0;
    return run;
}

/* What the driver does without a fused kernel: scalar keep_bits, shift by r, scalar apply. */
static void ref_fused(int dt, const void *x, void *y, uint64_t *bits, size_t n,
                      const fd_philox_run *run, double s, int scaled)
{
    size_t ng = (n + run->r + 63) / 64, nw = (n + 63) / 64;
    uint64_t *raw = calloc(ng + 1, 8);
    S->keep_bits(raw, ng, run->block, run->k0, run->k1, run->stream, run->threshold);
    for (size_t w = 0; w < nw; w++)
        bits[w] = run->r ? (raw[w] >> run->r) | (raw[w + 1] << (64 - run->r)) : raw[w];
    free(raw);
    run_apply(S, dt, x, y, bits, n, s, scaled);
}

static void check_fused(void)
{
    static const int dts[] = {4, 8, 2};
    int have[3] = {K->fused_f32 != NULL, K->fused_f64 != NULL, K->fused_f16 != NULL};
    if (!have[0] && !have[1] && !have[2]) {
        printf("no fused kernels: skipped\n");
        return;
    }
    for (int it = 0; it < 6000; it++) {
        int di = it % 3, dt = dts[di];
        if (!have[di])
            continue;
        size_t n = random_n(it);
        int scaled = (it / 3) % 2 == 0, inplace = it % 5 == 0;
        double s = scales[it % 5];
        fd_philox_run run = random_run(it);
        size_t nw = (n + 63) / 64;
        uint64_t *ba = malloc(nw * 8), *bb = malloc(nw * 8);
        char *x = malloc(n * dt), *ya = malloc(n * dt), *yb = malloc(n * dt);
        fill(x, n, (size_t)dt);
        const void *xa = x;
        if (inplace) {
            memcpy(ya, x, n * dt);
            xa = ya;
        }
        if (dt == 4)
            K->fused_f32(xa, (float *)ya, ba, n, &run, (float)s, scaled);
        else if (dt == 8)
            K->fused_f64(xa, (double *)ya, ba, n, &run, s, scaled);
        else
            K->fused_f16(xa, (uint16_t *)ya, ba, n, &run, (float)s, scaled);
        ref_fused(dt, x, yb, bb, n, &run, s, scaled);
        if (n & 63) { /* bits past n are unspecified */
            ba[nw - 1] &= (1ull << (n & 63)) - 1;
            bb[nw - 1] &= (1ull << (n & 63)) - 1;
        }
        nchecks++;
        if (memcmp(ba, bb, nw * 8) || memcmp(ya, yb, n * dt))
            fail("fused", "dtype bytes=%llu n=%llu block=%#llx r=%llu", dt, n, run.block, run.r);
        free(ba), free(bb), free(x), free(ya), free(yb);
    }
}

/* alpha dropout's (a, b, d): fastdrop.reference.alpha_constants for two p, then odd values */
static const double affine_abd[][3] = {
    {0.9212845161497115, 0.16197097005757022, -1.457738730518132},  /* p = 0.1 */
    {0.8864048946659319, 0.7791939305180315, -0.7791939305180315},  /* p = 0.5 */
    {0.5, -0.25, 3.0}, {1e30, 1e-30, -0.0}, {1.5e-5, 65504.0, 1.0 / 3.0}};

/* affine_*: against the scalar table's (the definition; the Python tests pin it to the
 * reference), on the same sizes, runs and data as check_fused. */
static void check_affine(void)
{
    static const int dts[] = {4, 8, 2};
    for (int it = 0; it < 6000; it++) {
        int dt = dts[it % 3], inplace = it % 5 == 0;
        size_t n = random_n(it);
        const double *abd = affine_abd[(it / 3) % 5];
        fd_philox_run run = random_run(it);
        size_t nw = (n + 63) / 64;
        uint64_t *ba = malloc(nw * 8), *bb = malloc(nw * 8);
        char *x = malloc(n * dt), *ya = malloc(n * dt), *yb = malloc(n * dt);
        fill(x, n, (size_t)dt);
        const void *xa = x;
        if (inplace) {
            memcpy(ya, x, n * dt);
            xa = ya;
        }
        float a = (float)abd[0], b = (float)abd[1], d = (float)abd[2];
        if (dt == 4) {
            K->affine_f32(xa, (float *)ya, ba, n, &run, a, b, d);
            S->affine_f32((const float *)x, (float *)yb, bb, n, &run, a, b, d);
        } else if (dt == 8) {
            K->affine_f64(xa, (double *)ya, ba, n, &run, abd[0], abd[1], abd[2]);
            S->affine_f64((const double *)x, (double *)yb, bb, n, &run, abd[0], abd[1], abd[2]);
        } else {
            K->affine_f16(xa, (uint16_t *)ya, ba, n, &run, a, b, d);
            S->affine_f16((const uint16_t *)x, (uint16_t *)yb, bb, n, &run, a, b, d);
        }
        if (n & 63) { /* bits past n are unspecified */
            ba[nw - 1] &= (1ull << (n & 63)) - 1;
            bb[nw - 1] &= (1ull << (n & 63)) - 1;
        }
        nchecks++;
        if (memcmp(ba, bb, nw * 8) || memcmp(ya, yb, n * dt))
            fail("affine", "dtype bytes=%llu n=%llu block=%#llx r=%llu", dt, n, run.block, run.r);
        free(ba), free(bb), free(x), free(ya), free(yb);
    }
}

/* The streaming-store kernels (*_stream) against the scalar path's plain ones, with the output
 * at every element-aligned offset within a cache line (their realignment) and in place, in
 * buffers of the exact size (AddressSanitizer sees any store past either end). */
static void check_stream(void)
{
    static const int dts[] = {4, 8, 2};
    if (!K->apply_stream_f32) {
        printf("no streaming kernels: skipped\n");
        return;
    }
    for (int it = 0; it < 8000; it++) {
        int dt = dts[it % 3], kind = (it / 3) % 4, scaled = (it / 12) % 2 == 0;
        int inplace = it % 7 == 0;
        size_t n = it < 2400 ? (size_t)(it / 12) : (size_t)(rnd() % (it % 5 ? 700 : 5000));
        size_t off = (size_t)(rnd() % 64) / (size_t)dt * (size_t)dt;
        double s = scales[it % 5];
        const double *abd = affine_abd[(it / 3) % 5];
        float a = (float)abd[0], b = (float)abd[1], d = (float)abd[2];
        fd_philox_run run = random_run(it);
        size_t nw = (n + 63) / 64 + 1;
        uint64_t *bits = malloc(nw * 8), *ba = malloc(nw * 8), *bb = malloc(nw * 8);
        for (size_t w = 0; w < nw; w++)
            bits[w] = it % 11 == 0 ? ~0ull : rnd();
        char *x = malloc(n * dt + 1), *buf = malloc(off + n * dt + 1), *yb = malloc(n * dt + 1);
        char *ya = buf + off;
        fill(x, n, (size_t)dt);
        const void *xa = x;
        if (inplace) {
            memcpy(ya, x, n * dt);
            xa = ya;
        }
        if (kind == 0) { /* apply */
            if (dt == 4)
                K->apply_stream_f32(xa, (float *)ya, bits, n, (float)s, scaled);
            else if (dt == 8)
                K->apply_stream_f64(xa, (double *)ya, bits, n, s, scaled);
            else
                K->apply_stream_f16(xa, (uint16_t *)ya, bits, n, (float)s, scaled);
            run_apply(S, dt, x, yb, bits, n, s, scaled);
        } else if (kind == 1) { /* affine_bits */
            if (dt == 4) {
                K->affine_bits_stream_f32(xa, (float *)ya, bits, n, a, b, d);
                S->affine_bits_f32((const float *)x, (float *)yb, bits, n, a, b, d);
            } else if (dt == 8) {
                K->affine_bits_stream_f64(xa, (double *)ya, bits, n, abd[0], abd[1], abd[2]);
                S->affine_bits_f64((const double *)x, (double *)yb, bits, n, abd[0], abd[1], abd[2]);
            } else {
                K->affine_bits_stream_f16(xa, (uint16_t *)ya, bits, n, a, b, d);
                S->affine_bits_f16((const uint16_t *)x, (uint16_t *)yb, bits, n, a, b, d);
            }
        } else if (n) { /* fused and affine: bits drawn (n >= 1) */
            if (kind == 2) {
                if (dt == 4)
                    K->fused_stream_f32(xa, (float *)ya, ba, n, &run, (float)s, scaled);
                else if (dt == 8)
                    K->fused_stream_f64(xa, (double *)ya, ba, n, &run, s, scaled);
                else
                    K->fused_stream_f16(xa, (uint16_t *)ya, ba, n, &run, (float)s, scaled);
                ref_fused(dt, x, yb, bb, n, &run, s, scaled);
            } else if (dt == 4) {
                K->affine_stream_f32(xa, (float *)ya, ba, n, &run, a, b, d);
                S->affine_f32((const float *)x, (float *)yb, bb, n, &run, a, b, d);
            } else if (dt == 8) {
                K->affine_stream_f64(xa, (double *)ya, ba, n, &run, abd[0], abd[1], abd[2]);
                S->affine_f64((const double *)x, (double *)yb, bb, n, &run, abd[0], abd[1], abd[2]);
            } else {
                K->affine_stream_f16(xa, (uint16_t *)ya, ba, n, &run, a, b, d);
                S->affine_f16((const uint16_t *)x, (uint16_t *)yb, bb, n, &run, a, b, d);
            }
            size_t nb = (n + 63) / 64;
            if (n & 63) { /* bits past n are unspecified */
                ba[nb - 1] &= (1ull << (n & 63)) - 1;
                bb[nb - 1] &= (1ull << (n & 63)) - 1;
            }
            nchecks++;
            if (memcmp(ba, bb, nb * 8))
                fail("stream bits", "kind=%llu dtype bytes=%llu n=%llu offset=%llu", kind, dt, n,
                     off);
        }
        K->stream_fence();
        nchecks++;
        if (n && memcmp(ya, yb, n * dt))
            fail("stream", "kind=%llu dtype bytes=%llu n=%llu offset=%llu", kind, dt, n, off);
        free(x), free(buf), free(yb), free(bits), free(ba), free(bb);
    }
}

/* affine_bits_*: alpha dropout with the keep bits given, on check_apply's sizes and data. */
static void check_affine_bits(void)
{
    static const int dts[] = {4, 8, 2};
    for (int it = 0; it < 3000; it++) {
        int dt = dts[it % 3], inplace = it % 5 == 0;
        size_t n = it < 900 ? (size_t)(it / 3) : (size_t)(rnd() % (it % 7 ? 300 : 5000));
        const double *abd = affine_abd[(it / 3) % 5];
        size_t nw = (n + 63) / 64 + 1;
        uint64_t *bits = malloc(nw * 8);
        for (size_t w = 0; w < nw; w++)
            bits[w] = it % 11 == 0 ? ~0ull : it % 13 == 0 ? 0 : rnd();
        char *x = malloc(n * dt + 1), *ya = malloc(n * dt + 1), *yb = malloc(n * dt + 1);
        fill(x, n, (size_t)dt);
        const void *xa = x;
        if (inplace) {
            memcpy(ya, x, n * dt);
            xa = ya;
        }
        float a = (float)abd[0], b = (float)abd[1], d = (float)abd[2];
        if (dt == 4) {
            K->affine_bits_f32(xa, (float *)ya, bits, n, a, b, d);
            S->affine_bits_f32((const float *)x, (float *)yb, bits, n, a, b, d);
        } else if (dt == 8) {
            K->affine_bits_f64(xa, (double *)ya, bits, n, abd[0], abd[1], abd[2]);
            S->affine_bits_f64((const double *)x, (double *)yb, bits, n, abd[0], abd[1], abd[2]);
        } else {
            K->affine_bits_f16(xa, (uint16_t *)ya, bits, n, a, b, d);
            S->affine_bits_f16((const uint16_t *)x, (uint16_t *)yb, bits, n, a, b, d);
        }
        nchecks++;
        if (memcmp(ya, yb, n * dt))
            fail("affine_bits", "dtype bytes=%llu n=%llu inplace=%llu%llu", dt, n, inplace, 0);
        free(x), free(ya), free(yb), free(bits);
    }
}

/* scale_copy_* (the roofline) and popcount_words. */
static void check_scale_copy_popcount(void)
{
    static const int dts[] = {4, 8, 2};
    for (int it = 0; it < 1500; it++) {
        int dt = dts[it % 3];
        size_t n = it < 600 ? (size_t)(it / 3) : (size_t)(rnd() % 3000);
        double s = scales[it % 5];
        char *x = malloc(n * dt + 1), *ya = malloc(n * dt + 1), *yb = malloc(n * dt + 1);
        fill(x, n, (size_t)dt);
        if (dt == 4) {
            K->scale_copy_f32((const float *)x, (float *)ya, n, (float)s);
            S->scale_copy_f32((const float *)x, (float *)yb, n, (float)s);
        } else if (dt == 8) {
            K->scale_copy_f64((const double *)x, (double *)ya, n, s);
            S->scale_copy_f64((const double *)x, (double *)yb, n, s);
        } else {
            K->scale_copy_f16((const uint16_t *)x, (uint16_t *)ya, n, (float)s);
            S->scale_copy_f16((const uint16_t *)x, (uint16_t *)yb, n, (float)s);
        }
        nchecks++;
        if (memcmp(ya, yb, n * dt))
            fail("scale_copy", "dtype bytes=%llu n=%llu%llu%llu", dt, n, 0, 0);
        if (K->stream_copy_f32) { /* streaming stores: the same values, at any output alignment */
            size_t off = (size_t)(it % 17) * dt; /* every alignment of an element-aligned output */
            char *buf = malloc(n * dt + 17 * (size_t)dt), *yc = buf + off;
            if (dt == 4)
                K->stream_copy_f32((const float *)x, (float *)yc, n, (float)s);
            else if (dt == 8)
                K->stream_copy_f64((const double *)x, (double *)yc, n, s);
            else
                K->stream_copy_f16((const uint16_t *)x, (uint16_t *)yc, n, (float)s);
            nchecks++;
            if (memcmp(yc, yb, n * dt))
                fail("stream_copy", "dtype bytes=%llu n=%llu offset=%llu%llu", dt, n, off, 0);
            free(buf);
        }
        if (K->stream_bytes) { /* a tile's bytes streamed out: exactly memcpy, at any offsets */
            size_t nb = n * dt, so = (size_t)(it % 64), d0 = (size_t)(it * 7 % 64);
            char *src = malloc(nb + 64), *dst = malloc(nb + 64);
            memcpy(src + so, x, nb);
            K->stream_bytes(dst + d0, src + so, nb);
            K->stream_fence();
            nchecks++;
            if (memcmp(dst + d0, x, nb))
                fail("stream_bytes", "nbytes=%llu src offset=%llu dst offset=%llu%llu", nb, so,
                     d0, 0);
            free(src), free(dst);
        }
        uint64_t *v = malloc(8 * (n + 1));
        for (size_t i = 0; i < n; i++)
            v[i] = it % 4 == 0 ? ~0ull : rnd() & rnd();
        nchecks++;
        if (K->popcount_words(v, n) != S->popcount_words(v, n))
            fail("popcount_words", "nwords=%llu%llu%llu%llu", n, 0, 0, 0);
        free(x), free(ya), free(yb), free(v);
    }
}

/* gauss_tile: the normals (z) and y = x * (1 + sigma * z) of every dtype, in and out of place,
 * at offsets inside and across the 32-element pair groups, past SUB and up to 2^64. */
static void check_gauss(void)
{
    static const size_t es[] = {2, 4, 8};
    for (int it = 0; it < 1200; it++) {
        size_t n = it < 300 ? (size_t)(it / 3) : (size_t)(rnd() % (it % 5 ? 200 : 5000));
        /* the index space ends at 2^64: g0 + n <= 2^64 */
        uint64_t g0 = it % 7 == 0 ? 0 - n - rnd() % 100 : it % 3 == 0 ? rnd() % 64 : rnd() >> 8;
        uint64_t seed = rnd();
        double sigma = 0.05 + (double)(rnd() >> 11) * 0x1p-53;
        int dt = it % 4 == 3 ? -1 : it % 3, inplace = it % 5 == 0; /* dt -1: normals */
        if (dt < 0) {
            float *za = malloc(n * 4 + 1), *zb = malloc(n * 4 + 1);
            K->gauss_tile(FD_F32, NULL, NULL, za, n, g0, seed, 0.0);
            S->gauss_tile(FD_F32, NULL, NULL, zb, n, g0, seed, 0.0);
            nchecks++;
            if (memcmp(za, zb, n * 4))
                fail("gauss normals", "n=%llu g0=%#llx%llu%llu", n, g0, 0, 0);
            free(za), free(zb);
            continue;
        }
        size_t bytes = n * es[dt];
        unsigned char *x = malloc(bytes + 1), *ya = malloc(bytes + 1), *yb = malloc(bytes + 1);
        for (size_t i = 0; i < bytes; i++)
            x[i] = (unsigned char)rnd();
        const void *xa = x;
        if (inplace) {
            memcpy(ya, x, bytes);
            xa = ya;
        }
        K->gauss_tile((fd_dtype)dt, xa, ya, NULL, n, g0, seed, sigma);
        S->gauss_tile((fd_dtype)dt, x, yb, NULL, n, g0, seed, sigma);
        nchecks++;
        if (memcmp(ya, yb, bytes))
            fail("gauss", "dtype=%llu n=%llu g0=%#llx inplace=%llu", dt, n, g0, inplace);
        free(x), free(ya), free(yb);
    }
}

/* transpose[]: grids of h x h blocks between two padded matrices, against a plain loop; the
 * bytes around the blocks must stay as they were. */
static void check_transposes(void)
{
    static const size_t sizes[] = {2, 4, 8};
    for (int t = 0; t < 3; t++) {
        const fd_transpose *tr = &K->transpose[t];
        if (!tr->fn)
            continue;
        size_t es = sizes[t], h = tr->h;
        for (int it = 0; it < 200; it++) {
            size_t ng = rnd() % 4, nb = rnd() % 4;
            /* source: nb*h rows of ng*h elements (+ padding); block (g, b) at rows b*h, columns
             * g*h; destination: ng*h rows of nb*h elements (+ padding) */
            size_t ss = (ng * h + rnd() % 5) * es, ds = (nb * h + rnd() % 5) * es;
            size_t sbytes = nb * h * ss + 1, dbytes = ng * h * ds + 1;
            unsigned char *src = malloc(sbytes), *da = malloc(dbytes), *db = malloc(dbytes);
            for (size_t i = 0; i < sbytes; i++)
                src[i] = (unsigned char)rnd();
            for (size_t i = 0; i < dbytes; i++)
                da[i] = db[i] = (unsigned char)rnd();
            fd_tgrid g = {(const char *)src, (ptrdiff_t)ss, (ptrdiff_t)(h * es),
                          (ptrdiff_t)(h * ss), (char *)da, (ptrdiff_t)ds, (ptrdiff_t)(h * ds),
                          (ptrdiff_t)(h * es), ng, nb};
            tr->fn(&g);
            for (size_t r = 0; r < nb * h; r++) /* element (r, c) of the source to (c, r) */
                for (size_t c = 0; c < ng * h; c++)
                    memcpy(db + c * ds + r * es, src + r * ss + c * es, es);
            nchecks++;
            if (memcmp(da, db, dbytes))
                fail("transpose", "bytes=%llu h=%llu ngroups=%llu nblocks=%llu", es, h, ng, nb);
            free(src), free(da), free(db);
        }
    }
}

/* words: raw Philox words, 4 per block, any block count (tails of 1..31 blocks) and counter,
 * including runs that cross 2^32; a guard word past the end must stay untouched. */
static void check_words(void)
{
    for (int i = 0; i < 3000; i++) {
        size_t nb = i < 100 ? (size_t)i : (size_t)(rnd() % (i % 5 == 0 ? 2100 : 140));
        uint64_t block = pick_block(i);
        uint32_t k0 = (uint32_t)rnd(), k1 = (uint32_t)rnd();
        uint32_t stream = i % 3 == 0 ? 2u : (uint32_t)rnd();
        if (i % 7 == 0)
            k0 = k1 = 0;
        uint32_t *a = malloc(4 * (4 * nb + 1)), *b = malloc(4 * (4 * nb + 1));
        a[4 * nb] = b[4 * nb] = 0xDEADBEEFu;
        K->words(a, nb, block, k0, k1, stream);
        S->words(b, nb, block, k0, k1, stream);
        nchecks++;
        if (memcmp(a, b, 4 * (4 * nb + 1)) || a[4 * nb] != 0xDEADBEEFu)
            fail("words", "nblocks=%llu block=%#llx stream=%#llx k0=%#llx", nb, block, stream, k0);
        free(a), free(b);
    }
}

int main(void)
{
    K = &FD_CHECK_KERNELS;
    S = &fd_kernels_scalar;
    if (!K->supported || !K->supported()) {
        printf("%s: not run by this CPU (or not in this build), skipped\n",
               FD_STR(FD_CHECK_KERNELS));
        return 0;
    }
    check_keep_bits();
    check_apply();
    check_fused();
    check_affine();
    check_words();
    check_affine_bits();
    check_stream();
    check_scale_copy_popcount();
    check_gauss();
    check_transposes();
    if (nfail) {
        printf("FAILED: %ld of %ld checks of %s differ from the scalar path\n", nfail, nchecks,
               FD_STR(FD_CHECK_KERNELS));
        return 1;
    }
    printf("OK: %ld checks, %s bit-identical to the scalar path\n", nchecks,
           FD_STR(FD_CHECK_KERNELS));
    return 0;
}
