/* AVX-512 path (F + BW + VL, BMI2 for the bit interleave): the primitives behind the shared loops
 * (philox-inl.h, loops-inl.h), Philox4x32-10 on 8 blocks per vector, one block per 64-bit lane,
 * two vectors per 64-element group and two groups interleaved (FD_GROUPS 2). Compiled with a
 * target attribute, selected at run time; tests/simde/run.sh checks it bit for bit against the
 * scalar path on machines without AVX-512 (SIMDe emulation).
 *
 * The same scheme as avx2.c (see the notes there), with AVX-512's help:
 * - a round is 2 vpmuludq + 2 hi->lo moves + 2 vpternlogd (the 3-way xor hi ^ c ^ key) per
 *   8 blocks; the hi->lo moves alternate vpsrlq and vpshufd so they use different ports;
 * - 32 zmm registers hold two groups' state (16 vectors) without spills;
 * - the last round is folded into the extraction: vshufps packs two vectors' words into 16
 *   words of consecutive blocks, unsigned compares give 16-bit masks, pdep interleaves them;
 * - fused_* and affine_* compute two groups' bits and apply them to their 128 elements in the
 *   same loop;
 * - keep bits are the lane masks themselves (k registers), widened to vector masks for the
 *   AND that clears dropped lanes; only tails use masked loads and stores (FD_MASKED_MEMORY):
 *   the steady state has no masked memory operation, which some cores (Zen 4) run at a
 *   fraction of the plain rate. */
#include "isa.h"

#if defined(FD_AVX512_EMULATED)
/* tests/simde/run.sh builds this file against SIMDe's portable AVX-512: its shim header, included
 * first, supplies the intrinsics, so no target attribute */
#define FD_TARGET
#elif defined(FD_X86)
#include <immintrin.h>
#define FD_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,bmi2,f16c,avx2")))
/* the roofline's streaming copy: 256-bit accesses beat 512-bit ones on arrays that are not
 * 64-byte aligned (NumPy's large ones), ~8% measured on Sapphire Rapids */
#define FD_TARGET_COPY                                                                         \
    __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,bmi2,f16c,avx2,prefer-vector-width=256")))
#endif

#ifdef FD_TARGET /* compiled */
#define FD_SFX _avx512

/* ---- Philox primitives ---- */

typedef __m512i VI;
#define FD_LANES64 8

FD_TARGET static inline VI set1_32(uint32_t v) { return _mm512_set1_epi32((int)v); }
FD_TARGET static inline VI set1_64(uint64_t v) { return _mm512_set1_epi64((long long)v); }
FD_TARGET static inline VI loadu_64(const uint64_t *p) { return _mm512_loadu_si512(p); }

typedef struct {
    __m512i kf0, kf1; /* round 10 */
    __m512i t;        /* threshold */
} philox_fin;

FD_TARGET static inline void fin_init(philox_fin *f, uint32_t k0, uint32_t k1, uint32_t threshold)
{
    f->kf0 = set1_32(k0);
    f->kf1 = set1_32(k1);
    f->t = set1_32(threshold);
}

#include "philox-inl.h"

typedef struct {
    __m512i c0, c1, c2, c3;
} oct;

#define XOR3(a, b, c) _mm512_ternarylogic_epi32(a, b, c, 0x96)
#define HI_SRL(p) _mm512_srli_epi64(p, 32)
#define HI_SHUF(p) _mm512_shuffle_epi32(p, 0xF5) /* dwords 1,1,3,3 */

/* Rounds 1-3 (P = M0 * lo32(block) in every lane; c0 after round 1 is the constant A). */
#define R123(q, P, mj)                                                                         \
    do {                                                                                       \
        __m512i p0_ = _mm512_add_epi64(P, mj), p1_;                                            \
        __m512i c2_ = _mm512_xor_si512(HI_SRL(p0_), cx->k1_1);                                 \
        p1_ = _mm512_mul_epu32(c2_, cx->m1);                                                   \
        q.c0 = _mm512_xor_si512(HI_SHUF(p1_), cx->k0_2);                                       \
        q.c1 = p1_;                                                                            \
        q.c2 = _mm512_xor_si512(p0_, cx->d2);                                                  \
        p0_ = _mm512_mul_epu32(q.c0, cx->m0);                                                  \
        p1_ = _mm512_mul_epu32(q.c2, cx->m1);                                                  \
        q.c0 = XOR3(HI_SRL(p1_), q.c1, cx->k0_3);                                              \
        q.c1 = p1_;                                                                            \
        q.c2 = _mm512_xor_si512(HI_SHUF(p0_), cx->e3);                                         \
        q.c3 = p0_;                                                                            \
    } while (0)

#define RN(q, K0, K1)                                                                          \
    do {                                                                                       \
        __m512i p0_ = _mm512_mul_epu32(q.c0, cx->m0), p1_ = _mm512_mul_epu32(q.c2, cx->m1);    \
        q.c0 = XOR3(HI_SRL(p1_), q.c1, K0);                                                    \
        q.c1 = p1_;                                                                            \
        q.c2 = XOR3(HI_SHUF(p0_), q.c3, K1);                                                   \
        q.c3 = p0_;                                                                            \
    } while (0)

#define SHUF(a, b, imm)                                                                        \
    _mm512_castps_si512(                                                                       \
        _mm512_shuffle_ps(_mm512_castsi512_ps(a), _mm512_castsi512_ps(b), imm))

/* Rounds 1-9 of ng (1 or 2) groups interleaved: group g starts at P + 16g * M0, its two
 * vectors in q[2g], q[2g + 1]. */
FD_TARGET static inline __attribute__((always_inline)) void rounds9(const philox_ctx *cx,
                                                                   __m512i P, int ng, oct *q)
{
    const __m512i Q = _mm512_add_epi64(P, _mm512_set1_epi64((long long)(16ull * FD_PHILOX_M0)));
    for (int g = 0; g < ng; g++) {
        R123(q[2 * g], g ? Q : P, cx->mj[0]);
        R123(q[2 * g + 1], g ? Q : P, cx->mj[1]);
    }
#pragma GCC unroll 6
    for (int r = 0; r < 6; r++)
        for (int v = 0; v < 2 * ng; v++)
            RN(q[v], cx->rk[2 * r], cx->rk[2 * r + 1]);
}

/* Round 10 of a group's two vectors: w[k] = word k of its 16 blocks, in block order. */
FD_TARGET static inline void round10(const philox_ctx *cx, oct a, oct b, __m512i w[4])
{
    __m512i p0a = _mm512_mul_epu32(a.c0, cx->m0), p1a = _mm512_mul_epu32(a.c2, cx->m1);
    __m512i p0b = _mm512_mul_epu32(b.c0, cx->m0), p1b = _mm512_mul_epu32(b.c2, cx->m1);
    w[0] = XOR3(SHUF(p1a, p1b, 0xDD), SHUF(a.c1, b.c1, 0x88), cx->fin.kf0);
    w[2] = XOR3(SHUF(p0a, p0b, 0xDD), SHUF(a.c3, b.c3, 0x88), cx->fin.kf1);
    w[1] = SHUF(p1a, p1b, 0x88);
    w[3] = SHUF(p0a, p0b, 0x88);
}

/* A group's 64 keep bits (element 4j + k = word k of block j): compares, then pdep. */
FD_TARGET static inline uint64_t final64(const philox_ctx *cx, oct a, oct b)
{
    __m512i w[4];
    round10(cx, a, b, w);
    uint64_t m0 = _mm512_cmpge_epu32_mask(w[0], cx->fin.t);
    uint64_t m1 = _mm512_cmpge_epu32_mask(w[1], cx->fin.t);
    uint64_t m2 = _mm512_cmpge_epu32_mask(w[2], cx->fin.t);
    uint64_t m3 = _mm512_cmpge_epu32_mask(w[3], cx->fin.t);
    return _pdep_u64(m0, 0x1111111111111111ull) | _pdep_u64(m1, 0x2222222222222222ull) |
           _pdep_u64(m2, 0x4444444444444444ull) | _pdep_u64(m3, 0x8888888888888888ull);
}

/* A group's 64 words stored in order (out[4j + k] = word k of block j): the four word vectors
 * transposed with unpacks within 128-bit lanes, then a 4x4 transpose of the lanes. */
FD_TARGET static inline void final_words(const philox_ctx *cx, oct a, oct b, uint32_t *out)
{
    __m512i w[4];
    round10(cx, a, b, w);
    __m512i lo01 = _mm512_unpacklo_epi32(w[0], w[1]), hi01 = _mm512_unpackhi_epi32(w[0], w[1]);
    __m512i lo23 = _mm512_unpacklo_epi32(w[2], w[3]), hi23 = _mm512_unpackhi_epi32(w[2], w[3]);
    __m512i bA = _mm512_unpacklo_epi64(lo01, lo23); /* lane L: block 4L */
    __m512i bB = _mm512_unpackhi_epi64(lo01, lo23); /* 4L + 1 */
    __m512i bC = _mm512_unpacklo_epi64(hi01, hi23); /* 4L + 2 */
    __m512i bD = _mm512_unpackhi_epi64(hi01, hi23); /* 4L + 3 */
    __m512i t0 = _mm512_shuffle_i32x4(bA, bB, 0x44), t1 = _mm512_shuffle_i32x4(bC, bD, 0x44);
    __m512i t2 = _mm512_shuffle_i32x4(bA, bB, 0xEE), t3 = _mm512_shuffle_i32x4(bC, bD, 0xEE);
    _mm512_storeu_si512((void *)out, _mm512_shuffle_i32x4(t0, t1, 0x88));
    _mm512_storeu_si512((void *)(out + 16), _mm512_shuffle_i32x4(t0, t1, 0xDD));
    _mm512_storeu_si512((void *)(out + 32), _mm512_shuffle_i32x4(t2, t3, 0x88));
    _mm512_storeu_si512((void *)(out + 48), _mm512_shuffle_i32x4(t2, t3, 0xDD));
}

FD_TARGET static inline uint64_t keep64_vec(const philox_ctx *cx, __m512i P)
{
    oct q[2];
    rounds9(cx, P, 1, q);
    return final64(cx, q[0], q[1]);
}

FD_TARGET static inline void words64_vec(const philox_ctx *cx, __m512i P, uint32_t *out)
{
    oct q[2];
    rounds9(cx, P, 1, q);
    final_words(cx, q[0], q[1], out);
}

/* A Philox step is two groups (see the notes above). */
#define FD_GROUPS 2

FD_TARGET static inline void keep_step_vec(const philox_ctx *cx, __m512i P, uint64_t *out)
{
    oct q[4];
    rounds9(cx, P, 2, q);
    out[0] = final64(cx, q[0], q[1]);
    out[1] = final64(cx, q[2], q[3]);
}

FD_TARGET static inline void words_step_vec(const philox_ctx *cx, __m512i P, uint32_t *out)
{
    oct q[4];
    rounds9(cx, P, 2, q);
    final_words(cx, q[0], q[1], out);
    final_words(cx, q[2], q[3], out + 64);
}

/* ---- data primitives: 16 floats, 8 doubles or 16 halves a chunk; masks are k registers ---- */

typedef __m512 VF;
typedef __m512d VD;
typedef __m256i VH;
typedef __mmask16 MF;
typedef __mmask8 MD;
#define WF 16
#define WD 8
#define FD_MASKED_MEMORY 1

FD_TARGET static inline VF load_f32(const float *p) { return _mm512_loadu_ps(p); }
FD_TARGET static inline VD load_f64(const double *p) { return _mm512_loadu_pd(p); }
FD_TARGET static inline VH load_f16(const uint16_t *p) { return _mm256_loadu_si256((const VH *)p); }
FD_TARGET static inline void store_f32(float *p, VF v) { _mm512_storeu_ps(p, v); }
FD_TARGET static inline void store_f64(double *p, VD v) { _mm512_storeu_pd(p, v); }
FD_TARGET static inline void store_f16(uint16_t *p, VH v) { _mm256_storeu_si256((VH *)p, v); }
/* non-temporal stores: p aligned to the vector */
#define FD_STREAM_STORES 1
FD_TARGET static inline void stream_f32(float *p, VF v) { _mm512_stream_ps(p, v); }
FD_TARGET static inline void stream_f64(double *p, VD v) { _mm512_stream_pd(p, v); }
FD_TARGET static inline void stream_f16(uint16_t *p, VH v) { _mm256_stream_si256((VH *)p, v); }
FD_TARGET static inline void stream_fence(void) { _mm_sfence(); }

/* Realignment for streaming stores to an output that starts `off` lanes before a vector
 * boundary: realign(prev, cur) = lanes off .. W-1 of prev, then lanes 0 .. off-1 of cur. */
typedef __m512i rx_f32;
typedef __m512i rx_f64;
typedef __m256i rx_f16;
FD_TARGET static inline void realign_init_f32(rx_f32 *r, size_t off)
{
    *r = _mm512_add_epi32(_mm512_set1_epi32((int)off),
                          _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}
FD_TARGET static inline void realign_init_f64(rx_f64 *r, size_t off)
{
    *r = _mm512_add_epi64(_mm512_set1_epi64((long long)off), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
}
FD_TARGET static inline void realign_init_f16(rx_f16 *r, size_t off)
{
    *r = _mm256_add_epi16(_mm256_set1_epi16((short)off),
                          _mm256_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}
FD_TARGET static inline VF realign_f32(VF prev, VF cur, const rx_f32 *r)
{
    return _mm512_permutex2var_ps(prev, *r, cur);
}
FD_TARGET static inline VD realign_f64(VD prev, VD cur, const rx_f64 *r)
{
    return _mm512_permutex2var_pd(prev, *r, cur);
}
FD_TARGET static inline VH realign_f16(VH prev, VH cur, const rx_f16 *r)
{
    return _mm256_permutex2var_epi16(prev, *r, cur);
}

/* the first k <= W lanes; the others are never read or written */
FD_TARGET static inline VF load_part_f32(const float *p, size_t k)
{
    return _mm512_maskz_loadu_ps((__mmask16)((1u << k) - 1), p);
}

FD_TARGET static inline VD load_part_f64(const double *p, size_t k)
{
    return _mm512_maskz_loadu_pd((__mmask8)((1u << k) - 1), p);
}

FD_TARGET static inline VH load_part_f16(const uint16_t *p, size_t k)
{
    return _mm256_maskz_loadu_epi16((__mmask16)((1u << k) - 1), p);
}

FD_TARGET static inline void store_part_f32(float *p, size_t k, VF v)
{
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << k) - 1), v);
}

FD_TARGET static inline void store_part_f64(double *p, size_t k, VD v)
{
    _mm512_mask_storeu_pd(p, (__mmask8)((1u << k) - 1), v);
}

FD_TARGET static inline void store_part_f16(uint16_t *p, size_t k, VH v)
{
    _mm256_mask_storeu_epi16(p, (__mmask16)((1u << k) - 1), v);
}

FD_TARGET static inline VF set1_f32(float s) { return _mm512_set1_ps(s); }
FD_TARGET static inline VD set1_f64(double s) { return _mm512_set1_pd(s); }
FD_TARGET static inline VF mul_f32(VF a, VF b) { return _mm512_mul_ps(a, b); }
FD_TARGET static inline VD mul_f64(VD a, VD b) { return _mm512_mul_pd(a, b); }
FD_TARGET static inline VF add_f32(VF a, VF b) { return _mm512_add_ps(a, b); }
FD_TARGET static inline VD add_f64(VD a, VD b) { return _mm512_add_pd(a, b); }
FD_TARGET static inline VF h2f(VH h) { return _mm512_cvtph_ps(h); }

FD_TARGET static inline VH f2h(VF v)
{
    return _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

FD_TARGET static inline MF mask_f32(uint64_t word, int c) { return (MF)(word >> (16 * c)); }
FD_TARGET static inline MD mask_f64(uint64_t word, int c) { return (MD)(word >> (8 * c)); }

/* Dropped lanes are cleared with an AND against the mask as a vector, not by a zero-masked
 * multiply: the compiler folds the load into a masked multiply (vmulps zmm{k}{z}, zmm, [mem]),
 * which streams from memory at ~0.6x the unmasked rate on Zen 4 (two 256-bit halves); the AND
 * form costs the same on Intel. */
FD_TARGET static inline VF vscale_f32(VF v, MF m, VF vs, int scaled)
{
    return _mm512_and_ps(_mm512_castsi512_ps(_mm512_movm_epi32(m)), scaled ? _mm512_mul_ps(v, vs) : v);
}

FD_TARGET static inline VD vscale_f64(VD v, MD m, VD vs, int scaled)
{
    return _mm512_and_pd(_mm512_castsi512_pd(_mm512_movm_epi64(m)), scaled ? _mm512_mul_pd(v, vs) : v);
}

FD_TARGET static inline VF blend_f32(MF m, VF d, VF v) { return _mm512_mask_blend_ps(m, d, v); }
FD_TARGET static inline VD blend_f64(MD m, VD d, VD v) { return _mm512_mask_blend_pd(m, d, v); }
FD_TARGET static inline VH zero_h(MF m, VH h)
{
    return _mm256_and_si256(_mm256_movm_epi16(m), h); /* (not a zero-masked load, as above) */
}

#include "loops-inl.h"

/* ---- block transposes for the panel copies: 16x16 float32, 8x8 float64, and the AVX2 16x16
 * 16-bit block ---- */

FD_TARGET static inline void f32_16x16(const char *s, ptrdiff_t ss, char *d, ptrdiff_t ds)
{
    __m512 r[16], t[16], u[16];
    for (int k = 0; k < 16; k++)
        r[k] = _mm512_loadu_ps((const float *)(s + k * ss));
    for (int k = 0; k < 16; k += 2) {
        t[k] = _mm512_unpacklo_ps(r[k], r[k + 1]);
        t[k + 1] = _mm512_unpackhi_ps(r[k], r[k + 1]);
    }
    /* u[4k + j]: rows 4k..4k+3 of columns j, j + 4, j + 8, j + 12 (one per 128-bit lane) */
    for (int k = 0; k < 16; k += 4) {
        u[k + 0] = _mm512_shuffle_ps(t[k], t[k + 2], 0x44);
        u[k + 1] = _mm512_shuffle_ps(t[k], t[k + 2], 0xEE);
        u[k + 2] = _mm512_shuffle_ps(t[k + 1], t[k + 3], 0x44);
        u[k + 3] = _mm512_shuffle_ps(t[k + 1], t[k + 3], 0xEE);
    }
    for (int j = 0; j < 4; j++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88);  /* lanes 0, 2 */
        __m512 v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);  /* lanes 1, 3 */
        __m512 w0 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
        __m512 w1 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
        _mm512_storeu_ps((float *)(d + (j + 0) * ds), _mm512_shuffle_f32x4(v0, w0, 0x88));
        _mm512_storeu_ps((float *)(d + (j + 8) * ds), _mm512_shuffle_f32x4(v0, w0, 0xDD));
        _mm512_storeu_ps((float *)(d + (j + 4) * ds), _mm512_shuffle_f32x4(v1, w1, 0x88));
        _mm512_storeu_ps((float *)(d + (j + 12) * ds), _mm512_shuffle_f32x4(v1, w1, 0xDD));
    }
}

FD_TARGET static inline void f64_8x8(const char *s, ptrdiff_t ss, char *d, ptrdiff_t ds)
{
    __m512d r[8], t[8], u[8];
    for (int k = 0; k < 8; k++)
        r[k] = _mm512_loadu_pd((const double *)(s + k * ss));
    for (int k = 0; k < 8; k += 2) {
        t[k] = _mm512_unpacklo_pd(r[k], r[k + 1]);     /* columns 0, 2, 4, 6 */
        t[k + 1] = _mm512_unpackhi_pd(r[k], r[k + 1]); /* columns 1, 3, 5, 7 */
    }
    /* u[4h + j]: rows 4h..4h+3 (two per lane) of columns c and c + 4, c = (0, 2, 1, 3)[j] */
    for (int k = 0; k < 8; k += 4) {
        u[k + 0] = _mm512_shuffle_f64x2(t[k], t[k + 2], 0x88);
        u[k + 1] = _mm512_shuffle_f64x2(t[k], t[k + 2], 0xDD);
        u[k + 2] = _mm512_shuffle_f64x2(t[k + 1], t[k + 3], 0x88);
        u[k + 3] = _mm512_shuffle_f64x2(t[k + 1], t[k + 3], 0xDD);
    }
    static const int col[4] = {0, 2, 1, 3};
    for (int j = 0; j < 4; j++) {
        _mm512_storeu_pd((double *)(d + col[j] * ds), _mm512_shuffle_f64x2(u[j], u[4 + j], 0x88));
        _mm512_storeu_pd((double *)(d + (col[j] + 4) * ds),
                         _mm512_shuffle_f64x2(u[j], u[4 + j], 0xDD));
    }
}

#include "u16x16-inl.h"

GRID(ENTRY(transpose_u16), u16_16x16)
GRID(ENTRY(transpose_f32), f32_16x16)
GRID(ENTRY(transpose_f64), f64_8x8)

/* ---- the table ---- */

static int cpu_avx512(void)
{
#ifdef FD_AVX512_EMULATED
    return 1; /* any CPU runs the emulation */
#else
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("bmi2") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
#endif
}

const fd_kernels fd_kernels_avx512 = {
    .name = "avx512",
    .supported = cpu_avx512,
    FD_LOOP_ENTRIES,
    .transpose = {{ENTRY(transpose_u16), 16},
                  {ENTRY(transpose_f32), 16},
                  {ENTRY(transpose_f64), 8}},
};
#else
const fd_kernels fd_kernels_avx512 = {.name = "avx512"}; /* not in this build */
#endif
