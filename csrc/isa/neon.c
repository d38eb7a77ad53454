/* NEON path (AArch64 Advanced SIMD, baseline on every aarch64 CPU: no target attribute, no CPU
 * check): the primitives behind the shared loops (philox-inl.h, loops-inl.h), Philox4x32-10 on
 * 16 blocks a step. Compiled to a name-only table elsewhere; tests/simde/run.sh checks it bit
 * for bit against the scalar path on x86 under SIMDe's NEON emulation, tests/cross/run.sh
 * natively for aarch64 under qemu-user.
 *
 * - The context (philox-inl.h) is the 64-bit-lane one, 2 blocks per uint64x2_t; the rounds run
 *   on 32-bit lanes, 4 blocks per uint32x4_t ("quad"): umull + umull2 take the four 32x32->64
 *   products of a word, uzp1 / uzp2 split them into low and high words in block order, so a
 *   round is 4 multiplies, 4 unzips and 4 xors per 4 blocks. Round 1's products M0 * (lo + j)
 *   come from the context's 64-bit sums, unzipped the same way.
 * - The four quads of a 64-element group are interleaved (FD_GROUPS 1): 16 state vectors and
 *   the constants nearly fit the 32 registers (GCC 12 spills a dozen vectors a group).
 * - Keep bits: unsigned compares (cmhs), and + or against per-lane bit selectors, one addv per
 *   two quads (32 bits). Words: vst4q stores a quad's four word vectors interleaved, which is
 *   block order.
 * - Data: 4 floats, 2 doubles or 4 halves a chunk; lane masks by cmtst of the broadcast keep
 *   bits against selectors; float16 by fcvtl / fcvtn (round to nearest even, as F16C).
 * - Block transposes of 8x8 16-bit, 8x8 float32 (four 4x4) and 4x4 float64 (four 2x2) with
 *   trn1 / trn2. No streaming stores (NULL). */
#include "isa.h"

#if defined(FD_NEON_EMULATED)
/* tests/simde/run.sh: SIMDe's portable NEON under the native names (its shim, included first) */
#define FD_NEON 1
#elif defined(__aarch64__) && defined(__ARM_NEON) &&                                          \
    !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
#include <arm_neon.h>
#define FD_NEON 1
#endif

#ifdef FD_NEON
#define FD_SFX _neon
#define FD_TARGET

/* ---- Philox primitives ---- */

typedef uint64x2_t VI;
#define FD_LANES64 2

static inline VI set1_32(uint32_t v) { return vreinterpretq_u64_u32(vdupq_n_u32(v)); }
static inline VI set1_64(uint64_t v) { return vdupq_n_u64(v); }
static inline VI loadu_64(const uint64_t *p) { return vld1q_u64(p); }

typedef struct {
    uint32x4_t k0, k1; /* round 10 keys */
    uint32x4_t t;      /* threshold */
} philox_fin;

static inline void fin_init(philox_fin *f, uint32_t k0, uint32_t k1, uint32_t threshold)
{
    f->k0 = vdupq_n_u32(k0);
    f->k1 = vdupq_n_u32(k1);
    f->t = vdupq_n_u32(threshold);
}

#include "philox-inl.h"

#define U32(v) vreinterpretq_u32_u64(v)

typedef struct {
    uint32x4_t c0, c1, c2, c3;
} quad;

/* hi, lo: the high and low words of a[b] * m for the quad's four blocks b, in order */
#define MULHILO(a, m, hi, lo)                                                                  \
    do {                                                                                       \
        uint32x4_t l_ = U32(vmull_u32(vget_low_u32(a), vget_low_u32(m)));                      \
        uint32x4_t h_ = U32(vmull_high_u32(a, m));                                             \
        hi = vuzp2q_u32(l_, h_);                                                               \
        lo = vuzp1q_u32(l_, h_);                                                               \
    } while (0)

/* Rounds 1-3 of quad u (blocks 4u .. 4u + 3 of the group): the context's vectors 2u, 2u + 1
 * hold M0 * (lo + j) for those blocks as 64-bit sums (philox-inl.h, FD_LANES64 2). */
#define R123(q, P, u)                                                                          \
    do {                                                                                       \
        uint32x4_t pa_ = U32(vaddq_u64(P, cx->mj[2 * (u)]));                                  \
        uint32x4_t pb_ = U32(vaddq_u64(P, cx->mj[2 * (u) + 1]));                              \
        uint32x4_t h0_ = vuzp2q_u32(pa_, pb_), l0_ = vuzp1q_u32(pa_, pb_), h1_, l1_;           \
        uint32x4_t c2_ = veorq_u32(h0_, U32(cx->k1_1));                                        \
        MULHILO(c2_, m1, h1_, l1_);                                                            \
        q.c0 = veorq_u32(h1_, U32(cx->k0_2));                                                  \
        q.c1 = l1_;                                                                            \
        q.c2 = veorq_u32(l0_, U32(cx->d2));                                                    \
        MULHILO(q.c0, m0, h0_, l0_);                                                           \
        MULHILO(q.c2, m1, h1_, l1_);                                                           \
        q.c0 = veorq_u32(h1_, veorq_u32(q.c1, U32(cx->k0_3)));                                 \
        q.c1 = l1_;                                                                            \
        q.c2 = veorq_u32(h0_, U32(cx->e3));                                                    \
        q.c3 = l0_;                                                                            \
    } while (0)

#define RN(q, K0, K1)                                                                          \
    do {                                                                                       \
        uint32x4_t h0_, l0_, h1_, l1_;                                                         \
        MULHILO(q.c0, m0, h0_, l0_);                                                           \
        MULHILO(q.c2, m1, h1_, l1_);                                                           \
        q.c0 = veorq_u32(h1_, veorq_u32(q.c1, K0));                                            \
        q.c1 = l1_;                                                                            \
        q.c2 = veorq_u32(h0_, veorq_u32(q.c3, K1));                                            \
        q.c3 = l0_;                                                                            \
    } while (0)

/* Rounds 1-9 of the four quads of a group. */
static inline __attribute__((always_inline)) void rounds9(const philox_ctx *cx, VI P, quad q[4])
{
    const uint32x4_t m0 = vdupq_n_u32(FD_PHILOX_M0), m1 = vdupq_n_u32(FD_PHILOX_M1);
    R123(q[0], P, 0);
    R123(q[1], P, 1);
    R123(q[2], P, 2);
    R123(q[3], P, 3);
#pragma GCC unroll 6
    for (int r = 0; r < 6; r++) {
        const uint32x4_t k0 = U32(cx->rk[2 * r]), k1 = U32(cx->rk[2 * r + 1]);
        RN(q[0], k0, k1);
        RN(q[1], k0, k1);
        RN(q[2], k0, k1);
        RN(q[3], k0, k1);
    }
}

/* Round 10 of a quad: w[k] = word k of its four blocks. */
static inline void round10(const philox_ctx *cx, quad q, uint32x4_t w[4])
{
    const uint32x4_t m0 = vdupq_n_u32(FD_PHILOX_M0), m1 = vdupq_n_u32(FD_PHILOX_M1);
    uint32x4_t h0, l0, h1, l1;
    MULHILO(q.c0, m0, h0, l0);
    MULHILO(q.c2, m1, h1, l1);
    w[0] = veorq_u32(h1, veorq_u32(q.c1, cx->fin.k0));
    w[1] = l1;
    w[2] = veorq_u32(h0, veorq_u32(q.c3, cx->fin.k1));
    w[3] = l0;
}

/* sel[h][k], lane b: bit 16h + 4b + k (quad 2i + h of a 32-bit half, block b, word k) */
#define SELQ(h, k) {1u << (16 * (h) + (k)), 1u << (16 * (h) + 4 + (k)),                        \
                    1u << (16 * (h) + 8 + (k)), 1u << (16 * (h) + 12 + (k))}
static const uint32_t sel_keep[2][4][4] = {{SELQ(0, 0), SELQ(0, 1), SELQ(0, 2), SELQ(0, 3)},
                                           {SELQ(1, 0), SELQ(1, 1), SELQ(1, 2), SELQ(1, 3)}};
#undef SELQ

/* The keep bits of quads 2i and 2i + 1 (32 bits). */
static inline uint32_t keep32(const philox_ctx *cx, quad a, quad b)
{
    uint32x4_t wa[4], wb[4], acc = vdupq_n_u32(0);
    round10(cx, a, wa);
    round10(cx, b, wb);
    for (int k = 0; k < 4; k++) {
        acc = vorrq_u32(acc, vandq_u32(vcgeq_u32(wa[k], cx->fin.t), vld1q_u32(sel_keep[0][k])));
        acc = vorrq_u32(acc, vandq_u32(vcgeq_u32(wb[k], cx->fin.t), vld1q_u32(sel_keep[1][k])));
    }
    return vaddvq_u32(acc); /* the bits are disjoint: the sum is the or */
}

static inline uint64_t keep64_vec(const philox_ctx *cx, VI P)
{
    quad q[4];
    rounds9(cx, P, q);
    uint64_t lo = keep32(cx, q[0], q[1]);
    return lo | (uint64_t)keep32(cx, q[2], q[3]) << 32;
}

static inline void words64_vec(const philox_ctx *cx, VI P, uint32_t *out)
{
    quad q[4];
    rounds9(cx, P, q);
    for (int u = 0; u < 4; u++) {
        uint32x4x4_t w;
        round10(cx, q[u], w.val);
        vst4q_u32(out + 16 * u, w); /* out[4b + k] = w[k][b] */
    }
}

#define FD_GROUPS 1

static inline void keep_step_vec(const philox_ctx *cx, VI P, uint64_t *out)
{
    out[0] = keep64_vec(cx, P);
}

static inline void words_step_vec(const philox_ctx *cx, VI P, uint32_t *out)
{
    words64_vec(cx, P, out);
}

/* ---- data primitives: 4 floats, 2 doubles or 4 halves a chunk ---- */

typedef float32x4_t VF;
typedef float64x2_t VD;
typedef uint16x4_t VH;
typedef uint32x4_t MF; /* all-ones 32-bit lanes where kept */
typedef uint64x2_t MD; /* all-ones 64-bit lanes where kept */
#define WF 4
#define WD 2

static inline VF load_f32(const float *p) { return vld1q_f32(p); }
static inline VD load_f64(const double *p) { return vld1q_f64(p); }
static inline VH load_f16(const uint16_t *p) { return vld1_u16(p); }
static inline void store_f32(float *p, VF v) { vst1q_f32(p, v); }
static inline void store_f64(double *p, VD v) { vst1q_f64(p, v); }
static inline void store_f16(uint16_t *p, VH v) { vst1_u16(p, v); }
static inline VF set1_f32(float s) { return vdupq_n_f32(s); }
static inline VD set1_f64(double s) { return vdupq_n_f64(s); }
static inline VF mul_f32(VF a, VF b) { return vmulq_f32(a, b); }
static inline VD mul_f64(VD a, VD b) { return vmulq_f64(a, b); }
static inline VF add_f32(VF a, VF b) { return vaddq_f32(a, b); }
static inline VD add_f64(VD a, VD b) { return vaddq_f64(a, b); }
static inline VF h2f(VH h) { return vcvt_f32_f16(vreinterpret_f16_u16(h)); }
static inline VH f2h(VF v) { return vreinterpret_u16_f16(vcvt_f16_f32(v)); }

/* lane k of chunk c selects bit 4c + k of a 32-bit half (c = 0..7) */
#define S4(c) {1u << (4 * (c)), 2u << (4 * (c)), 4u << (4 * (c)), 8u << (4 * (c))}
static const uint32_t sel_f32[8][4] = {S4(0), S4(1), S4(2), S4(3), S4(4), S4(5), S4(6), S4(7)};
#undef S4

/* Lanes of chunk c (bits 4c .. 4c + 3 of word): the 32-bit half broadcast (shared between the
 * chunks of a group), cmtst against the chunk's selectors. */
static inline MF mask_f32(uint64_t word, int c)
{
    const uint32x4_t half = vdupq_n_u32((uint32_t)(word >> (32 * (c >> 3))));
    return vtstq_u32(half, vld1q_u32(sel_f32[c & 7]));
}

/* Lanes of chunk c (bits 2c, 2c + 1 of word). */
static inline MD mask_f64(uint64_t word, int c)
{
    const uint64_t sel[2] = {1ull << (2 * c), 2ull << (2 * c)};
    return vtstq_u64(vdupq_n_u64(word), vld1q_u64(sel));
}

static inline VF vscale_f32(VF v, MF m, VF vs, int scaled)
{
    VF r = scaled ? vmulq_f32(v, vs) : v;
    return vreinterpretq_f32_u32(vandq_u32(m, vreinterpretq_u32_f32(r)));
}

static inline VD vscale_f64(VD v, MD m, VD vs, int scaled)
{
    VD r = scaled ? vmulq_f64(v, vs) : v;
    return vreinterpretq_f64_u64(vandq_u64(m, vreinterpretq_u64_f64(r)));
}

static inline VF blend_f32(MF m, VF d, VF v) { return vbslq_f32(m, v, d); }
static inline VD blend_f64(MD m, VD d, VD v) { return vbslq_f64(m, v, d); }

/* the 32-bit lane mask narrowed to 16-bit lanes */
static inline VH zero_h(MF m, VH h) { return vand_u16(vmovn_u32(m), h); }

#include "loops-inl.h"

/* ---- block transposes for the panel copies: trn1 / trn2 at 16, 32 and 64 bits ---- */

#define LD16(k) vld1q_u16((const uint16_t *)(s + (k) * ss))
#define ST16(k, v) vst1q_u16((uint16_t *)(d + (k) * ds), v)
#define T16(f, a, b) f##_u16(a, b)
#define T32(f, a, b) vreinterpretq_u16_u32(f##_u32(vreinterpretq_u32_u16(a), vreinterpretq_u32_u16(b)))
#define T64(f, a, b) vreinterpretq_u16_u64(f##_u64(vreinterpretq_u64_u16(a), vreinterpretq_u64_u16(b)))

/* 8x8 of 16-bit elements (16-byte rows) */
static inline void u16_8x8(const char *s, ptrdiff_t ss, char *d, ptrdiff_t ds)
{
    uint16x8_t r0 = LD16(0), r1 = LD16(1), r2 = LD16(2), r3 = LD16(3), r4 = LD16(4),
               r5 = LD16(5), r6 = LD16(6), r7 = LD16(7);
    uint16x8_t a0 = T16(vtrn1q, r0, r1), a1 = T16(vtrn2q, r0, r1);
    uint16x8_t a2 = T16(vtrn1q, r2, r3), a3 = T16(vtrn2q, r2, r3);
    uint16x8_t a4 = T16(vtrn1q, r4, r5), a5 = T16(vtrn2q, r4, r5);
    uint16x8_t a6 = T16(vtrn1q, r6, r7), a7 = T16(vtrn2q, r6, r7);
    uint16x8_t b0 = T32(vtrn1q, a0, a2), b2 = T32(vtrn2q, a0, a2);
    uint16x8_t b1 = T32(vtrn1q, a1, a3), b3 = T32(vtrn2q, a1, a3);
    uint16x8_t b4 = T32(vtrn1q, a4, a6), b6 = T32(vtrn2q, a4, a6);
    uint16x8_t b5 = T32(vtrn1q, a5, a7), b7 = T32(vtrn2q, a5, a7);
    ST16(0, T64(vtrn1q, b0, b4));
    ST16(4, T64(vtrn2q, b0, b4));
    ST16(1, T64(vtrn1q, b1, b5));
    ST16(5, T64(vtrn2q, b1, b5));
    ST16(2, T64(vtrn1q, b2, b6));
    ST16(6, T64(vtrn2q, b2, b6));
    ST16(3, T64(vtrn1q, b3, b7));
    ST16(7, T64(vtrn2q, b3, b7));
}

/* 4x4 of 32-bit elements */
static inline void f32_4x4(const char *s, ptrdiff_t ss, char *d, ptrdiff_t ds)
{
    uint32x4_t r0 = vld1q_u32((const uint32_t *)s), r1 = vld1q_u32((const uint32_t *)(s + ss));
    uint32x4_t r2 = vld1q_u32((const uint32_t *)(s + 2 * ss));
    uint32x4_t r3 = vld1q_u32((const uint32_t *)(s + 3 * ss));
    uint64x2_t t0 = vreinterpretq_u64_u32(vtrn1q_u32(r0, r1));
    uint64x2_t t1 = vreinterpretq_u64_u32(vtrn2q_u32(r0, r1));
    uint64x2_t t2 = vreinterpretq_u64_u32(vtrn1q_u32(r2, r3));
    uint64x2_t t3 = vreinterpretq_u64_u32(vtrn2q_u32(r2, r3));
    vst1q_u64((uint64_t *)d, vtrn1q_u64(t0, t2));
    vst1q_u64((uint64_t *)(d + ds), vtrn1q_u64(t1, t3));
    vst1q_u64((uint64_t *)(d + 2 * ds), vtrn2q_u64(t0, t2));
    vst1q_u64((uint64_t *)(d + 3 * ds), vtrn2q_u64(t1, t3));
}

/* 2x2 of 64-bit elements */
static inline void f64_2x2(const char *s, ptrdiff_t ss, char *d, ptrdiff_t ds)
{
    uint64x2_t r0 = vld1q_u64((const uint64_t *)s), r1 = vld1q_u64((const uint64_t *)(s + ss));
    vst1q_u64((uint64_t *)d, vtrn1q_u64(r0, r1));
    vst1q_u64((uint64_t *)(d + ds), vtrn2q_u64(r0, r1));
}

/* A 2h x 2h block as four h x h ones (element size es): block (i, j) goes to (j, i). */
#define QUADS(name, BLOCK, h, es)                                                              \
    static inline void name(const char *s, ptrdiff_t ss, char *d, ptrdiff_t ds)                \
    {                                                                                          \
        BLOCK(s, ss, d, ds);                                                                   \
        BLOCK(s + (h) * (es), ss, d + (h) * ds, ds);                                           \
        BLOCK(s + (h) * ss, ss, d + (h) * (es), ds);                                           \
        BLOCK(s + (h) * ss + (h) * (es), ss, d + (h) * ds + (h) * (es), ds);                   \
    }
QUADS(f32_8x8, f32_4x4, 4, 4)
QUADS(f64_4x4, f64_2x2, 2, 8)
#undef QUADS

GRID(ENTRY(transpose_u16), u16_8x8)
GRID(ENTRY(transpose_f32), f32_8x8)
GRID(ENTRY(transpose_f64), f64_4x4)

/* ---- the table ---- */

static int cpu_neon(void) { return 1; } /* baseline on aarch64 */

const fd_kernels fd_kernels_neon = {
    .name = "neon",
    .supported = cpu_neon,
    FD_LOOP_ENTRIES,
    .transpose = {{ENTRY(transpose_u16), 8},
                  {ENTRY(transpose_f32), 8},
                  {ENTRY(transpose_f64), 4}},
};
#else
const fd_kernels fd_kernels_neon = {.name = "neon"}; /* not in this build */
#endif
