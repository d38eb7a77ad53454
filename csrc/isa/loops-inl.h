/* The loops of the SIMD files, written once over each file's primitives (NumPy's dispatch
 * sources and highway's per-target -inl.h are the models). Included by csrc/isa/avx2.c and
 * avx512.c after philox-inl.h and their primitives; defines every table entry but the block
 * transposes (FD_LOOP_ENTRIES lists them; GRID walks a file's block transpose over a grid):
 * keep_bits, words, the fused kernels (FUSED_LOOP), the per-dtype loops of dtype-inl.h (apply,
 * fused, affine, affine_bits), scale_copy_f16, popcount_words, and through autovec-inl.h
 * scale_copy_f32/f64 and gauss_tile. The primitives:
 *
 * Philox (on philox_ctx):
 *   FD_GROUPS (1 or 2) groups a Philox step (more interleaved groups overlap better, as long as
 *   the state fits the registers); P is M0 * lo32(block) in every lane;
 *   keep64_vec(cx, P) -> the 64 keep bits of one group (blocks blk .. blk+15, bit 4j + k = word
 *   k of block j), keep_step_vec(cx, P, out) those of FD_GROUPS groups; words64_vec(cx, P, out)
 *   / words_step_vec(cx, P, out) their raw words (out[4j + k] = word k of block j). None of them
 *   sees a carry into the high counter word, which is cx->hi.
 * Data, W lanes a chunk (WF floats, WD doubles; a chunk of float16 is WF halves):
 *   VF, VD float / double vectors, VH a chunk of halves; MF, MD lane masks;
 *   load_f32/f64/f16, store_f32/f64/f16 (unaligned); with FD_MASKED_MEMORY also
 *   load_part_* / store_part_* (p, k): the first k <= W lanes, the others never touched (else
 *   dtype-inl.h makes them with a buffer, for k < W);
 *   set1_f32/f64, mul_f32/f64, add_f32/f64; h2f / f2h (float16 <-> float32, round to nearest
 *   even: fd_half_to_float / fd_float_to_half);
 *   mask_f32(word, c) / mask_f64(word, c): lanes kept by bits c*W .. c*W + W-1 of word;
 *   vscale_f32/f64(v, m, vs, scaled): m ? (scaled ? v * vs : v) : +0;
 *   blend_f32/f64(m, d, v): m ? v : d;  zero_h(m, h): m ? h : +0 on float16 lanes (no rounding).
 *
 * Every result is the scalar path's (csrc/isa/scalar.c), bit for bit: the same IEEE operations
 * on each lane, selects that keep the exact bits, no FMA. */
#ifndef FASTDROP_LOOPS_INL_H
#define FASTDROP_LOOPS_INL_H

/* ---- Philox steps: carries and the high counter word, around the ISA's vector code ---- */

FD_TARGET static inline VI first_product(uint64_t blk)
{
    return set1_64((uint64_t)FD_PHILOX_M0 * (uint32_t)blk);
}

/* The 64 keep bits of one group, blocks blk .. blk+15, any counters. */
FD_TARGET static inline __attribute__((always_inline)) uint64_t keep64(philox_ctx *cx,
                                                                      uint64_t blk)
{
    if (__builtin_expect((uint32_t)blk > 0xFFFFFFF0u, 0)) /* the low word wraps in the group */
        return keep64_carry(cx, blk);
    if (__builtin_expect((uint32_t)(blk >> 32) != cx->hi, 0))
        ctx_segment(cx, (uint32_t)(blk >> 32));
    return keep64_vec(cx, first_product(blk));
}

FD_TARGET __attribute__((noinline, cold)) static uint64_t keep64_cold(philox_ctx *cx, uint64_t blk)
{
    return keep64(cx, blk);
}

/* FD_GROUPS consecutive groups (blocks blk .. blk + 16 * FD_GROUPS - 1) into out[]. */
FD_TARGET static inline __attribute__((always_inline)) void keep_step(philox_ctx *cx, uint64_t blk,
                                                                     uint64_t *out)
{
    if (__builtin_expect((uint32_t)blk > 0u - 16u * FD_GROUPS, 0)) { /* a carry in the step */
        for (int g = 0; g < FD_GROUPS; g++)
            out[g] = keep64_cold(cx, blk + 16 * g);
        return;
    }
    if (__builtin_expect((uint32_t)(blk >> 32) != cx->hi, 0))
        ctx_segment(cx, (uint32_t)(blk >> 32));
    keep_step_vec(cx, first_product(blk), out);
}

FD_TARGET static void ENTRY(keep_bits)(uint64_t *bits, size_t ngroups, uint64_t block, uint32_t k0,
                                       uint32_t k1, uint32_t stream, uint32_t threshold)
{
    philox_ctx cx;
    ctx_init(&cx, k0, k1, stream, threshold, (uint32_t)(block >> 32));
    size_t w = 0;
    for (; w + FD_GROUPS <= ngroups; w += FD_GROUPS, block += 16 * FD_GROUPS)
        keep_step(&cx, block, bits + w);
    for (; FD_GROUPS > 1 && w < ngroups; w++, block += 16) /* what is left of the last step */
        bits[w] = keep64(&cx, block);
}

FD_TARGET static void ENTRY(words)(uint32_t *out, size_t nblocks, uint64_t blk, uint32_t k0,
                                   uint32_t k1, uint32_t stream)
{
    const size_t step = 16 * FD_GROUPS;
    philox_ctx cx;
    ctx_init(&cx, k0, k1, stream, 0, (uint32_t)(blk >> 32));
    size_t j = 0;
    for (; j + step <= nblocks; j += step, blk += step, out += 4 * step) {
        if (__builtin_expect((uint32_t)blk > 0u - (uint32_t)step, 0)) { /* the low word wraps */
            words_tail(out, step, blk, k0, k1, stream);
            continue;
        }
        if (__builtin_expect((uint32_t)(blk >> 32) != cx.hi, 0))
            ctx_segment(&cx, (uint32_t)(blk >> 32));
        words_step_vec(&cx, first_product(blk), out);
    }
    /* what is left of the last step: whole groups that do not wrap, then the scalar tail */
    for (; FD_GROUPS > 1 && j + 16 <= nblocks && (uint32_t)blk <= 0xFFFFFFF0u;
         j += 16, blk += 16, out += 64) {
        if ((uint32_t)(blk >> 32) != cx.hi)
            ctx_segment(&cx, (uint32_t)(blk >> 32));
        words64_vec(&cx, first_product(blk), out);
    }
    if (j < nblocks)
        words_tail(out, nblocks - j, blk, k0, k1, stream);
}

/* ---- fused kernels: per step, the keep bits and then the 64 * FD_GROUPS elements ---- */

/* Raw group g holds keep-bit stream bits 64g .. 64g+63 (blocks run->block + 16g ..); with r != 0
 * the run's word w straddles raw groups w and w+1. */
#define SHIFTED(lo, hi) (r ? ((lo) >> r) | ((hi) << (64 - r)) : (lo))

/* The body of the fused kernels: GROUP(w, word) applies keep word `word` to the 64 elements of
 * word w, TAIL(w) the last n - 64w <= 64 (after bits[w] holds their keep bits). The next step's
 * Philox words are drawn before this step's elements are touched, so the out-of-order core
 * overlaps the arithmetic with the loads and stores. */
#define FUSED_LOOP(GROUP, TAIL)                                                                \
    philox_ctx cx;                                                                             \
    ctx_init(&cx, run->k0, run->k1, run->stream, run->threshold, (uint32_t)(run->block >> 32)); \
    const unsigned r = run->r;                                                                 \
    const size_t nw = (n + 63) / 64, nraw = (n + r + 63) / 64;                                 \
    const uint64_t blk = run->block;                                                           \
    uint64_t cur = keep64(&cx, blk); /* raw group w */                                         \
    size_t w = 0;                                                                              \
    for (; w + FD_GROUPS <= nw; w += FD_GROUPS) {                                              \
        uint64_t nx[FD_GROUPS] = {0}; /* raw groups w+1 .. w+FD_GROUPS */                      \
        if (w + FD_GROUPS < nraw)                                                              \
            keep_step(&cx, blk + 16 * (w + 1), nx);                                            \
        else if (w + 1 < nraw) /* nraw <= nw + 1: with FD_GROUPS <= 2 only the first */        \
            nx[0] = keep64(&cx, blk + 16 * (w + 1));                                           \
        uint64_t wd[FD_GROUPS];                                                                \
        for (int g = 0; g < FD_GROUPS; g++) {                                                  \
            wd[g] = SHIFTED(g ? nx[g - 1] : cur, nx[g]);                                       \
            bits[w + g] = wd[g];                                                               \
        }                                                                                      \
        cur = nx[FD_GROUPS - 1];                                                               \
        for (int g = 0; g < FD_GROUPS; g++) {                                                  \
            if (64 * (w + g) + 64 > n) { /* the partial last word */                           \
                TAIL(w + g);                                                                   \
                return;                                                                        \
            }                                                                                  \
            GROUP(w + g, wd[g]);                                                               \
        }                                                                                      \
    }                                                                                          \
    if (FD_GROUPS > 1 && w < nw) { /* what is left of the last step: one word (FD_GROUPS 2) */ \
        uint64_t nx = w + 1 < nraw ? keep64(&cx, blk + 16 * (w + 1)) : 0;                      \
        bits[w] = SHIFTED(cur, nx);                                                            \
        TAIL(w);                                                                               \
    }

/* ---- per-dtype value operations on the primitives ---- */

#define set1_f16 set1_f32 /* float16 is computed in float32 */
#define mask_f16 mask_f32 /* a chunk of halves has WF lanes */
FD_TARGET static inline VH vscale_f16(VH h, MF m, VF vs, int scaled)
{
    return scaled ? f2h(vscale_f32(h2f(h), m, vs, 1)) : zero_h(m, h);
}

/* alpha dropout: m ? v * a + b : d, two roundings */
FD_TARGET static inline VF vaffine_f32(VF v, MF m, VF va, VF vb, VF vd)
{
    return blend_f32(m, vd, add_f32(mul_f32(v, va), vb));
}

FD_TARGET static inline VD vaffine_f64(VD v, MD m, VD va, VD vb, VD vd)
{
    return blend_f64(m, vd, add_f64(mul_f64(v, va), vb));
}

FD_TARGET static inline VH vaffine_f16(VH h, MF m, VF va, VF vb, VF vd)
{
    return f2h(vaffine_f32(h2f(h), m, va, vb, vd));
}

/* ---- the loops of each dtype ---- */

#define DT _f32
#define T float
#define S float
#define V VF
#define VT VF
#define W WF
#include "dtype-inl.h"

#define DT _f64
#define T double
#define S double
#define V VD
#define VT VD
#define W WD
#include "dtype-inl.h"

#define DT _f16
#define T uint16_t
#define S float
#define V VF
#define VT VH
#define W WF
#include "dtype-inl.h"

/* ---- float16 loops without keep bits, computed in float32 ---- */

/* The roofline: y = x * s. */
FD_TARGET static void ENTRY(scale_copy_f16)(const uint16_t *x, uint16_t *y, size_t n, float s)
{
    const VF vs = set1_f32(s);
    size_t i = 0;
    for (; i + WF <= n; i += WF)
        store_f16(y + i, f2h(mul_f32(h2f(load_f16(x + i)), vs)));
    if (i < n)
        store_part_f16(y + i, n - i, f2h(mul_f32(h2f(load_part_f16(x + i, n - i)), vs)));
}

/* Gaussian dropout's noise (autovec-inl.h): y = x * (1 + s * z). */
FD_TARGET static void noise_f16(const uint16_t *x, uint16_t *y, const float *z, size_t n, float s)
{
    const VF vs = set1_f32(s), one = set1_f32(1.0f);
    size_t i = 0;
    for (; i + WF <= n; i += WF)
        store_f16(y + i, f2h(mul_f32(h2f(load_f16(x + i)),
                                     add_f32(one, mul_f32(vs, load_f32(z + i))))));
    if (i < n)
        store_part_f16(y + i, n - i,
                       f2h(mul_f32(h2f(load_part_f16(x + i, n - i)),
                                   add_f32(one, mul_f32(vs, load_part_f32(z + i, n - i))))));
}

/* The target implies POPCNT (SSE4.2), so this is one instruction a word. */
FD_TARGET static uint64_t ENTRY(popcount_words)(const uint64_t *v, size_t nw)
{
    uint64_t c = 0;
    for (size_t i = 0; i < nw; i++)
        c += (uint64_t)__builtin_popcountll(v[i]);
    return c;
}

/* A grid walk (kernels.h, fd_tgrid) around the file's inlined block transpose BLOCK(src, ss,
 * dst, ds). */
#define GRID(name, BLOCK)                                                                      \
    FD_TARGET static void name(const fd_tgrid *g)                                              \
    {                                                                                          \
        for (size_t b = 0; b < g->nblocks; b++) {                                              \
            const char *s = g->src + (ptrdiff_t)b * g->sblk;                                   \
            char *d = g->dst + (ptrdiff_t)b * g->dblk;                                         \
            for (size_t q = 0; q < g->ngroups; q++, s += g->sgrp, d += g->dgrp)                \
                BLOCK(s, g->ss, d, g->ds);                                                     \
        }                                                                                      \
    }

/* The table entries defined here and in autovec-inl.h (each file lists its transposes). */
#define FD_LOOP_ENTRIES                                                                        \
    .keep_bits = ENTRY(keep_bits), .apply_f32 = ENTRY(apply_f32),                              \
    .apply_f64 = ENTRY(apply_f64), .apply_f16 = ENTRY(apply_f16),                              \
    .fused_f32 = ENTRY(fused_f32), .fused_f64 = ENTRY(fused_f64),                              \
    .fused_f16 = ENTRY(fused_f16), .affine_f32 = ENTRY(affine_f32),                            \
    .affine_f64 = ENTRY(affine_f64), .affine_f16 = ENTRY(affine_f16),                          \
    .affine_bits_f32 = ENTRY(affine_bits_f32), .affine_bits_f64 = ENTRY(affine_bits_f64),      \
    .affine_bits_f16 = ENTRY(affine_bits_f16), .words = ENTRY(words),                          \
    .gauss_tile = ENTRY(gauss_tile), .scale_copy_f32 = ENTRY(scale_copy_f32),                  \
    .scale_copy_f64 = ENTRY(scale_copy_f64), .scale_copy_f16 = ENTRY(scale_copy_f16),          \
    FD_STREAM_ENTRIES .popcount_words = ENTRY(popcount_words)

#include "autovec-inl.h"

#ifdef FD_STREAM_STORES
/* The roofline with non-temporal stores (stream_*, aligned to the vector): elements up to the
 * first aligned one and the tail are scalar. x and y are aligned to their element, as every
 * table entry's arrays (should an output still never reach a vector boundary, it is copied
 * with regular stores). */
#define STREAM_COPY(DT, T, VT, W, VS, LOAD, STREAM, OP, ONE, REGULAR)                           \
    FD_TARGET static void ENTRY(stream_copy##DT)(const T *x, T *y, size_t n, VS s)             \
    {                                                                                          \
        size_t i = 0;                                                                          \
        for (; i < n && i < W && (uintptr_t)(y + i) % sizeof(VT); i++)                         \
            y[i] = ONE(x[i], s);                                                               \
        if ((uintptr_t)(y + i) % sizeof(VT)) {                                                 \
            REGULAR(x + i, y + i, n - i, s);                                                   \
            return;                                                                            \
        }                                                                                      \
        const V##VS##_ vs = set1_##VS(s);                                                      \
        for (; i + W <= n; i += W)                                                             \
            STREAM(y + i, OP(LOAD(x + i), vs));                                                \
        for (; i < n; i++)                                                                     \
            y[i] = ONE(x[i], s);                                                               \
        stream_fence();                                                                        \
    }
typedef VF Vfloat_;
typedef VD Vdouble_;
#define set1_float set1_f32
#define set1_double set1_f64
#define MUL_ONE(v, s) ((v) * (s))
#define HALF_ONE(h, s) fd_float_to_half(fd_half_to_float(h) * (s))
#define HALF_OP(h, vs) f2h(mul_f32(h2f(h), vs))
STREAM_COPY(_f32, float, VF, WF, float, load_f32, stream_f32, mul_f32, MUL_ONE,
            ENTRY(scale_copy_f32))
STREAM_COPY(_f64, double, VD, WD, double, load_f64, stream_f64, mul_f64, MUL_ONE,
            ENTRY(scale_copy_f64))
STREAM_COPY(_f16, uint16_t, VH, WF, float, load_f16, stream_f16, HALF_OP, HALF_ONE,
            ENTRY(scale_copy_f16))
#undef STREAM_COPY
#undef set1_float
#undef set1_double
#undef MUL_ONE
#undef HALF_ONE
#undef HALF_OP
/* Output of a tile made in a buffer, streamed out (kernels.h: stream_bytes): the bytes pass
 * through float vectors untouched (moves only, no arithmetic). */
FD_TARGET static void ENTRY(stream_bytes)(char *dst, const char *src, size_t nbytes)
{
    size_t head = (64 - (uintptr_t)dst % 64) % 64;
    if (head > nbytes)
        head = nbytes;
    memcpy(dst, src, head);
    size_t i = head;
    for (; i + 64 <= nbytes; i += 64)
        for (size_t b = 0; b < 64; b += sizeof(VF))
            stream_f32((float *)(dst + i + b), load_f32((const float *)(src + i + b)));
    memcpy(dst + i, src + i, nbytes - i);
}

FD_TARGET static void ENTRY(stream_fence)(void) { stream_fence(); }

#define FD_STREAM_ENTRIES                                                                      \
    .stream_copy_f32 = ENTRY(stream_copy_f32), .stream_copy_f64 = ENTRY(stream_copy_f64),      \
    .stream_copy_f16 = ENTRY(stream_copy_f16), .stream_bytes = ENTRY(stream_bytes),            \
    .stream_fence = ENTRY(stream_fence), .fused_stream_f32 = ENTRY(fused_stream_f32),          \
    .fused_stream_f64 = ENTRY(fused_stream_f64), .fused_stream_f16 = ENTRY(fused_stream_f16),  \
    .apply_stream_f32 = ENTRY(apply_stream_f32), .apply_stream_f64 = ENTRY(apply_stream_f64),  \
    .apply_stream_f16 = ENTRY(apply_stream_f16), .affine_stream_f32 = ENTRY(affine_stream_f32), \
    .affine_stream_f64 = ENTRY(affine_stream_f64),                                             \
    .affine_stream_f16 = ENTRY(affine_stream_f16),                                             \
    .affine_bits_stream_f32 = ENTRY(affine_bits_stream_f32),                                   \
    .affine_bits_stream_f64 = ENTRY(affine_bits_stream_f64),                                   \
    .affine_bits_stream_f16 = ENTRY(affine_bits_stream_f16),
#else
#define FD_STREAM_ENTRIES
#endif

#endif
