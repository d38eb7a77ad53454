/* Portable vector path: the primitives behind the shared loops (philox-inl.h, loops-inl.h)
 * written once with the compilers' generic vector types (GCC / Clang vector_size), 16-byte
 * vectors and no target attribute, so the baseline ISA of the build gets them: SSE2 on x86-64,
 * NEON (Advanced SIMD) on aarch64, VSX on POWER, plain loops where there is no SIMD unit. The
 * default on CPUs without a dedicated path (x86-64 without AVX2, and every CPU that is neither
 * x86-64 nor aarch64); selectable as FASTDROP_ISA=vector everywhere.
 *
 * - Philox: the 64-bit-lane layout of philox-inl.h, 2 blocks per vector, a 64-element group in
 *   8 vectors, all interleaved. The one operation the compilers do not map well from C's vector
 *   extensions is the 32x32->64 multiply of the low halves (GCC 12 makes three multiplies of a
 *   masked 64-bit product): mul32() takes the baseline instruction where there is one (SSE2
 *   pmuludq, NEON umull) and the plain masked product elsewhere (same value).
 * - Keep bits: signed compares of sign-flipped words (the flip folded into round 10's keys)
 *   give lane masks of the dropped elements, and + or against per-lane bit selectors
 *   collect a 32-bit half per 4 vectors. The high word of a product moves down by a shuffle
 *   (one pshufd on SSE2) rather than a shift (a copy and a shift).
 * - float16: branch-free bit manipulation on 32-bit lanes, the same results as
 *   fd_half_to_float / fd_float_to_half (kernels.h) for every input.
 * - No block transposes and no streaming stores (NULL: the driver's plain paths). */
#include "isa.h"

#if defined(__GNUC__) || defined(__clang__) /* generic vector types */
#define FD_SFX _vector
#define FD_TARGET

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#endif

typedef uint64_t VI __attribute__((vector_size(16)));  /* 2 x 64: one Philox block a lane */
typedef uint32_t VU __attribute__((vector_size(16)));  /* 4 x 32 */
typedef int32_t VS __attribute__((vector_size(16)));   /* 4 x 32, comparison results */
typedef int64_t VS64 __attribute__((vector_size(16)));
#define FD_LANES64 2

/* 32-bit lane of the low half of 64-bit lane i */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define LO32(i) (2 * (i) + 1)
#else
#define LO32(i) (2 * (i))
#endif

#if defined(__clang__) || __GNUC__ >= 12
#define SHUF4(a, b, i0, i1, i2, i3) __builtin_shufflevector(a, b, i0, i1, i2, i3)
#else
#define SHUF4(a, b, i0, i1, i2, i3) __builtin_shuffle(a, b, (VU){i0, i1, i2, i3})
#endif

static inline VI set1_32(uint32_t v) { return (VI)(VU){v, v, v, v}; }
static inline VI set1_64(uint64_t v) { return (VI){v, v}; }

static inline VI loadu_64(const uint64_t *p)
{
    VI v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* the high half of each 64-bit lane moved to the low half (the high half keeps junk, which never
 * reaches a result): a shuffle rather than a shift, so that SSE2 takes one pshufd instead of a
 * copy and a shift */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HI(p) ((VI)SHUF4((VU)(p), (VU)(p), 0, 0, 2, 2))
#else
#define HI(p) ((VI)SHUF4((VU)(p), (VU)(p), 1, 1, 3, 3))
#endif

/* the low 32 bits of each 64-bit lane of a times those of m (m's high halves are zero) */
static inline VI mul32(VI a, VI m)
{
#if defined(__SSE2__)
    return (VI)_mm_mul_epu32((__m128i)a, (__m128i)m);
#elif defined(__ARM_NEON) && defined(__aarch64__)
    return (VI)vmull_u32(vmovn_u64((uint64x2_t)a), vmovn_u64((uint64x2_t)m));
#else
    return (a & 0xFFFFFFFFull) * m;
#endif
}

/* The keep compare is signed on words with the sign bit flipped (dropped: t' > w'), as SSE2 has
 * no unsigned compare: the flip rides on round 10's keys for words 0 and 2. */
typedef struct {
    VI k0f, k1f; /* round 10 keys ^ 0x80000000 */
    VI flip;
    VS tflip;    /* threshold ^ 0x80000000 */
} philox_fin;

static inline void fin_init(philox_fin *f, uint32_t k0, uint32_t k1, uint32_t threshold)
{
    const int32_t t = (int32_t)(threshold ^ 0x80000000u);
    f->k0f = set1_32(k0 ^ 0x80000000u);
    f->k1f = set1_32(k1 ^ 0x80000000u);
    f->flip = set1_32(0x80000000u);
    f->tflip = (VS){t, t, t, t};
}

#include "philox-inl.h"

/* Vectors per Philox batch: the whole group, 16 blocks (on SSE2 the state does not fit the 16
 * registers, but the spills overlap the multiplies: ~7% faster than two batches of 8 blocks). */
#define NB 8

typedef struct {
    VI c0, c1, c2, c3;
} state;

/* Rounds 1-9 of vectors v0 .. v0 + NB - 1 of a group (P = M0 * lo32(block) in every lane). */
static inline __attribute__((always_inline)) void rounds9(const philox_ctx *cx, VI P, int v0,
                                                          state q[NB])
{
#pragma GCC unroll 8
    for (int v = 0; v < NB; v++) { /* rounds 1-3 (philox-inl.h) */
        VI p0 = P + cx->mj[v0 + v], p1;
        VI c2 = HI(p0) ^ cx->k1_1;
        p1 = mul32(c2, cx->m1);
        q[v].c0 = HI(p1) ^ cx->k0_2;
        q[v].c1 = p1;
        q[v].c2 = p0 ^ cx->d2;
        p0 = mul32(q[v].c0, cx->m0);
        p1 = mul32(q[v].c2, cx->m1);
        q[v].c0 = HI(p1) ^ (q[v].c1 ^ cx->k0_3);
        q[v].c1 = p1;
        q[v].c2 = HI(p0) ^ cx->e3;
        q[v].c3 = p0;
    }
#pragma GCC unroll 6
    for (int r = 0; r < 6; r++) {
#pragma GCC unroll 8
        for (int v = 0; v < NB; v++) {
            VI p0 = mul32(q[v].c0, cx->m0), p1 = mul32(q[v].c2, cx->m1);
            q[v].c0 = HI(p1) ^ (q[v].c1 ^ cx->rk[2 * r]);
            q[v].c1 = p1;
            q[v].c2 = HI(p0) ^ (q[v].c3 ^ cx->rk[2 * r + 1]);
            q[v].c3 = p0;
        }
    }
}

/* Round 10: w[k] = word k of the vector's two blocks (in the low halves of the 64-bit lanes),
 * each with its sign bit flipped (flipped = 1) or not. */
static inline void round10(const philox_ctx *cx, const state *q, VU w[4], int flipped)
{
    VI p0 = mul32(q->c0, cx->m0), p1 = mul32(q->c2, cx->m1);
    const VI f = flipped ? (VI){0, 0} : cx->fin.flip;
    w[0] = (VU)(HI(p1) ^ q->c1 ^ (cx->fin.k0f ^ f));
    w[1] = (VU)(flipped ? p1 ^ cx->fin.flip : p1);
    w[2] = (VU)(HI(p0) ^ q->c3 ^ (cx->fin.k1f ^ f));
    w[3] = (VU)(flipped ? p0 ^ cx->fin.flip : p0);
}

/* sel[v][k]: bit 8v + 4i + k in the low half of 64-bit lane i (block 2v + i, word k) */
#define SEL(v, k, i) (1u << (8 * (v) + 4 * (i) + (k)))
#define SELV(v, k)                                                                             \
    {LO32(0) == 0 ? SEL(v, k, 0) : 0, LO32(0) == 1 ? SEL(v, k, 0) : 0,                         \
     LO32(1) == 2 ? SEL(v, k, 1) : 0, LO32(1) == 3 ? SEL(v, k, 1) : 0}
#define SELK(v) {SELV(v, 0), SELV(v, 1), SELV(v, 2), SELV(v, 3)}
static const VU sel_bits[4][4] = {SELK(0), SELK(1), SELK(2), SELK(3)};

/* The 64 keep bits of a group, NB vectors at a time. */
static inline uint64_t keep64_vec(const philox_ctx *cx, VI P)
{
    VU acc[2] = {{0, 0, 0, 0}, {0, 0, 0, 0}}; /* dropped bits 0-31, 32-63 */
#pragma GCC unroll 4
    for (int b = 0; b < 8 / NB; b++) {
        state q[NB];
        rounds9(cx, P, NB * b, q);
#pragma GCC unroll 8
        for (int v = 0; v < NB; v++) {
            const int g = NB * b + v; /* the vector in the group: blocks 2g, 2g + 1 */
            VU w[4];
            round10(cx, &q[v], w, 1);
            for (int k = 0; k < 4; k++)
                acc[g >> 2] |= (VU)(cx->fin.tflip > (VS)w[k]) & sel_bits[g & 3][k];
        }
    }
    uint64_t lo = acc[0][LO32(0)] | acc[0][LO32(1)];
    return ~(lo | (uint64_t)(acc[1][LO32(0)] | acc[1][LO32(1)]) << 32);
}

/* The words of a group stored in order (out[4j + k] = word k of block j), NB vectors at a time. */
static inline void words64_vec(const philox_ctx *cx, VI P, uint32_t *out)
{
    for (int b = 0; b < 8 / NB; b++) {
        state q[NB];
        rounds9(cx, P, NB * b, q);
#pragma GCC unroll 8
        for (int v = 0; v < NB; v++) {
            const int g = NB * b + v;
            VU w[4];
            round10(cx, &q[v], w, 0);
            /* (word 0, word 1) and (word 2, word 3) of block 2g, then of block 2g + 1 */
            VU lo = SHUF4(w[0], w[1], LO32(0), 4 + LO32(0), LO32(1), 4 + LO32(1));
            VU hi = SHUF4(w[2], w[3], LO32(0), 4 + LO32(0), LO32(1), 4 + LO32(1));
            VU b0 = SHUF4(lo, hi, 0, 1, 4, 5), b1 = SHUF4(lo, hi, 2, 3, 6, 7);
            memcpy(out + 8 * g, &b0, 16);
            memcpy(out + 8 * g + 4, &b1, 16);
        }
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

typedef float VF __attribute__((vector_size(16)));
typedef double VD __attribute__((vector_size(16)));
typedef uint16_t VH __attribute__((vector_size(8)));
typedef VS MF;   /* all-ones 32-bit lanes where kept */
typedef VS64 MD; /* all-ones 64-bit lanes where kept */
#define WF 4
#define WD 2

#define LOADSTORE(DT, T, V)                                                                    \
    static inline V load##DT(const T *p)                                                       \
    {                                                                                          \
        V v;                                                                                   \
        memcpy(&v, p, sizeof v);                                                               \
        return v;                                                                              \
    }                                                                                          \
    static inline void store##DT(T *p, V v) { memcpy(p, &v, sizeof v); }
LOADSTORE(_f32, float, VF)
LOADSTORE(_f64, double, VD)
LOADSTORE(_f16, uint16_t, VH)
#undef LOADSTORE

static inline VF set1_f32(float s) { return (VF){s, s, s, s}; }
static inline VD set1_f64(double s) { return (VD){s, s}; }
static inline VF mul_f32(VF a, VF b) { return a * b; }
static inline VD mul_f64(VD a, VD b) { return a * b; }
static inline VF add_f32(VF a, VF b) { return a + b; }
static inline VD add_f64(VD a, VD b) { return a + b; }

#if defined(__clang__) || __GNUC__ >= 9
#define CONVERT(v, T) __builtin_convertvector(v, T)
#else
#error "the portable vector path needs __builtin_convertvector (GCC 9 or Clang)"
#endif

/* half -> float, as fd_half_to_float: exponent rebias; subnormals through an exact float
 * subtraction (2^-14 * (1 + m/1024) - 2^-14); infinities and NaNs (made quiet) kept. */
static inline VF h2f(VH h)
{
    const VU hu = CONVERT(h, VU);
    VU o = (hu & 0x7fffu) << 13;
    const VU e = o & 0x0f800000u;
    const VU inf = (VU)(e == 0x0f800000u), zero = (VU)(e == 0u);
    o += 0x38000000u;             /* (127 - 15) << 23 */
    o += inf & 0x38000000u;        /* inf / NaN: exponent all ones */
    VF sub = (VF)(o + 0x00800000u) - (VF)(VU){0x38800000u, 0x38800000u, 0x38800000u, 0x38800000u};
    o = (zero & (VU)sub) | (~zero & o);
    o |= inf & (VU)((hu & 0x3ffu) != 0u) & 0x400000u; /* NaN: quiet */
    return (VF)(o | (hu & 0x8000u) << 16);
}

/* float -> half, round to nearest even, as fd_float_to_half: normals by integer rounding,
 * results below 2^-14 through a float addition of 0.5 (whose ulp is the half subnormal ulp:
 * the hardware rounds to nearest even), overflow to inf, NaN made quiet keeping the top payload
 * bits. */
static inline VH f2h(VF v)
{
    const VU x = (VU)v;
    const VU sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    const VS sax = (VS)ax;
    VU r = ax - 0x38000000u;
    r = (r + 0xfffu + ((r >> 13) & 1u)) >> 13;
    const VU sub = (VU)((VF)ax + 0.5f) - 0x3f000000u;
    const VU small = (VU)(sax < 0x38800000), big = (VU)(sax >= 0x477ff000);
    const VU nan = (VU)(sax > 0x7f800000);
    r = (small & sub) | (~small & r);
    r = (big & 0x7c00u) | (~big & r);
    r = (nan & (0x7e00u | ((ax >> 13) & 0x3ffu))) | (~nan & r);
    return CONVERT(r | sign, VH);
}

/* bit selectors: lane k of chunk c selects bit 4c + k of a 32-bit half (c = 0..7) */
#define S4(c) {1u << (4 * (c)), 2u << (4 * (c)), 4u << (4 * (c)), 8u << (4 * (c))}
static const VU sel_f32[8] = {S4(0), S4(1), S4(2), S4(3), S4(4), S4(5), S4(6), S4(7)};
#undef S4
/* chunk c of float64 (c = 0..15): bits 2c, 2c + 1 of a 32-bit half, in both halves of a lane */
#define S2(c) {1u << (2 * (c)), 1u << (2 * (c)), 2u << (2 * (c)), 2u << (2 * (c))}
static const VU sel_f64[16] = {S2(0), S2(1), S2(2),  S2(3),  S2(4),  S2(5),  S2(6),  S2(7),
                               S2(8), S2(9), S2(10), S2(11), S2(12), S2(13), S2(14), S2(15)};
#undef S2

/* Lanes of chunk c (bits 4c .. 4c + 3 of word): the 32-bit half broadcast (shared between the
 * chunks of a group), and + compare against the chunk's selectors. */
static inline MF mask_f32(uint64_t word, int c)
{
    const uint32_t h = (uint32_t)(word >> (32 * (c >> 3)));
    const VU half = {h, h, h, h}, sel = sel_f32[c & 7];
    return (MF)((half & sel) == sel);
}

/* Lanes of chunk c (bits 2c, 2c + 1 of word): both 32-bit halves of a 64-bit lane alike. */
static inline MD mask_f64(uint64_t word, int c)
{
    const uint32_t h = (uint32_t)(word >> (32 * (c >> 4)));
    const VU half = {h, h, h, h}, sel = sel_f64[c & 15];
    return (MD)((half & sel) == sel);
}

static inline VF vscale_f32(VF v, MF m, VF vs, int scaled)
{
    return (VF)((VU)m & (VU)(scaled ? v * vs : v));
}

static inline VD vscale_f64(VD v, MD m, VD vs, int scaled)
{
    return (VD)((VI)m & (VI)(scaled ? v * vs : v));
}

static inline VF blend_f32(MF m, VF d, VF v) { return (VF)(((VU)m & (VU)v) | (~(VU)m & (VU)d)); }
static inline VD blend_f64(MD m, VD d, VD v) { return (VD)(((VI)m & (VI)v) | (~(VI)m & (VI)d)); }

/* the 32-bit lane mask narrowed to 16-bit lanes */
static inline VH zero_h(MF m, VH h) { return CONVERT((VU)m, VH) & h; }

#include "loops-inl.h"

/* ---- the table ---- */

static int cpu_any(void) { return 1; }

const fd_kernels fd_kernels_vector = {
    .name = "vector",
    .supported = cpu_any,
    FD_LOOP_ENTRIES,
};
#else
const fd_kernels fd_kernels_vector = {.name = "vector"}; /* no generic vectors: not built */
#endif
