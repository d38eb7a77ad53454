/* AVX2 path (F16C for float16): the primitives behind the shared loops (philox-inl.h,
 * loops-inl.h), Philox4x32-10 on 4 blocks per vector, one block per 64-bit lane. Compiled with a
 * target attribute, selected at run time.
 *
 * Speed notes (Zen 3 / Skylake class cores; keep bits are ALU-bound, so they are about op count):
 * - 64-bit-lane layout (philox-inl.h): vpmuludq takes the 32x32->64 product whole and a round
 *   is 2 vpmuludq + 2 vpsrlq + 4 vpxor per 4 blocks (vpmuludq reads only the low halves).
 * - (c1 ^ key) is formed off the multiply chain and hidden from the compiler's reassociation
 *   (XK), so the chain per round is vpmuludq -> vpsrlq -> vpxor.
 * - Rounds 1-3 are specialised (philox-inl.h): round 2 needs one product and a xor, round 3
 *   three xors less.
 * - Two quads (8 blocks) are interleaved: that keeps the 8 state vectors, the temporaries and
 *   the constants in the 16 ymm registers (four quads spill), and the out-of-order core overlaps
 *   consecutive pairs. So a Philox step is one group (FD_GROUPS 1).
 * - The last round is folded into the extraction: vshufps gathers the high (or low) halves of two
 *   quads' products into one vector of 8 words, the sign flip for the unsigned compare rides on
 *   the round key, and packs + one pshufb + vpmovmskb give 32 keep bits in element order.
 * - The forward (fused_*) and alpha dropout (affine_*) compute one group's bits and apply them
 *   to its 64 elements in the same loop, so the loads and stores overlap the Philox arithmetic.
 * - Keep bits become lane masks by and + compare against per-lane bit selectors (sel32). */
#include "isa.h"

#ifdef FD_X86
#include <immintrin.h>

#define FD_SFX _avx2
#define FD_TARGET __attribute__((target("avx2,f16c")))

/* ---- Philox primitives ---- */

typedef __m256i VI;
#define FD_LANES64 4

FD_TARGET static inline VI set1_32(uint32_t v) { return _mm256_set1_epi32((int)v); }
FD_TARGET static inline VI set1_64(uint64_t v) { return _mm256_set1_epi64x((long long)v); }
FD_TARGET static inline VI loadu_64(const uint64_t *p) { return _mm256_loadu_si256((const VI *)p); }

typedef struct {
    __m256i k0f, k1f; /* round 10 keys ^ 0x80000000 (the compare's sign flip) */
    __m256i flip, tflip, tr;
} philox_fin;

FD_TARGET static inline void fin_init(philox_fin *f, uint32_t k0, uint32_t k1, uint32_t threshold)
{
    f->flip = set1_32(0x80000000u);
    f->k0f = set1_32(k0 ^ 0x80000000u);
    f->k1f = set1_32(k1 ^ 0x80000000u);
    f->tflip = set1_32(threshold ^ 0x80000000u);
    /* bytes of a lane after the packs: word k of block s at 4k + s; element 4s + k */
    f->tr = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 4, 8, 12, 1,
                             5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
}

#include "philox-inl.h"

typedef struct {
    __m256i c0, c1, c2, c3;
} quad;

/* c ^ k as an opaque value: stops the compiler from reassociating (hi ^ c) ^ k, which would put
 * both xors on the multiply chain. */
#define XK(c, k) __extension__({ __m256i t_ = _mm256_xor_si256(c, k); __asm__("" : "+x"(t_)); t_; })

/* Rounds 1-3 (P = M0 * lo32(block) in every lane; c0 after round 1 is the constant A). */
#define R123(q, P, mj)                                                                         \
    do {                                                                                       \
        __m256i p0_ = _mm256_add_epi64(P, mj), p1_;                                            \
        __m256i c2_ = _mm256_xor_si256(_mm256_srli_epi64(p0_, 32), cx->k1_1);                  \
        p1_ = _mm256_mul_epu32(c2_, cx->m1);                                                   \
        q.c0 = _mm256_xor_si256(_mm256_srli_epi64(p1_, 32), cx->k0_2);                         \
        q.c1 = p1_;                                                                            \
        q.c2 = _mm256_xor_si256(p0_, cx->d2);                                                  \
        p0_ = _mm256_mul_epu32(q.c0, cx->m0);                                                  \
        p1_ = _mm256_mul_epu32(q.c2, cx->m1);                                                  \
        q.c0 = _mm256_xor_si256(_mm256_srli_epi64(p1_, 32), XK(q.c1, cx->k0_3));               \
        q.c1 = p1_;                                                                            \
        q.c2 = _mm256_xor_si256(_mm256_srli_epi64(p0_, 32), cx->e3);                           \
        q.c3 = p0_;                                                                            \
    } while (0)

#define RN(q, K0, K1)                                                                          \
    do {                                                                                       \
        __m256i p0_ = _mm256_mul_epu32(q.c0, cx->m0), p1_ = _mm256_mul_epu32(q.c2, cx->m1);    \
        q.c0 = _mm256_xor_si256(_mm256_srli_epi64(p1_, 32), XK(q.c1, K0));                     \
        q.c1 = p1_;                                                                            \
        q.c2 = _mm256_xor_si256(_mm256_srli_epi64(p0_, 32), XK(q.c3, K1));                     \
        q.c3 = p0_;                                                                            \
    } while (0)

#define SHUF(a, b, imm)                                                                        \
    _mm256_castps_si256(                                                                       \
        _mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), imm))

/* Rounds 1-9 of blocks blk .. blk+7 (h = 0) or blk+8 .. blk+15 (h = 1), two quads interleaved. */
FD_TARGET static inline __attribute__((always_inline)) void rounds9(const philox_ctx *cx,
                                                                   __m256i P, int h, quad *qa,
                                                                   quad *qb)
{
    quad a, b;
    R123(a, P, cx->mj[2 * h]);
    R123(b, P, cx->mj[2 * h + 1]);
#pragma GCC unroll 8
    for (int r = 0; r < 6; r++) {
        RN(a, cx->rk[2 * r], cx->rk[2 * r + 1]);
        RN(b, cx->rk[2 * r], cx->rk[2 * r + 1]);
    }
    *qa = a;
    *qb = b;
}

/* 32 keep bits of blocks blk .. blk+7 (h = 0) or blk+8 .. blk+15 (h = 1). */
FD_TARGET static inline uint32_t keep32(const philox_ctx *cx, __m256i P, int h)
{
    quad a, b;
    rounds9(cx, P, h, &a, &b);
    /* round 10 and the compare: dropped = (t ^ flip) > (word ^ flip), signed */
    const philox_fin *f = &cx->fin;
    __m256i p0a = _mm256_mul_epu32(a.c0, cx->m0), p1a = _mm256_mul_epu32(a.c2, cx->m1);
    __m256i p0b = _mm256_mul_epu32(b.c0, cx->m0), p1b = _mm256_mul_epu32(b.c2, cx->m1);
    __m256i w0 = _mm256_xor_si256(SHUF(p1a, p1b, 0xDD), XK(SHUF(a.c1, b.c1, 0x88), f->k0f));
    __m256i w2 = _mm256_xor_si256(SHUF(p0a, p0b, 0xDD), XK(SHUF(a.c3, b.c3, 0x88), f->k1f));
    __m256i w1 = _mm256_xor_si256(SHUF(p1a, p1b, 0x88), f->flip);
    __m256i w3 = _mm256_xor_si256(SHUF(p0a, p0b, 0x88), f->flip);
    __m256i d01 = _mm256_packs_epi32(_mm256_cmpgt_epi32(f->tflip, w0),
                                     _mm256_cmpgt_epi32(f->tflip, w1));
    __m256i d23 = _mm256_packs_epi32(_mm256_cmpgt_epi32(f->tflip, w2),
                                     _mm256_cmpgt_epi32(f->tflip, w3));
    __m256i d = _mm256_shuffle_epi8(_mm256_packs_epi16(d01, d23), f->tr);
    return ~(uint32_t)_mm256_movemask_epi8(d);
}

FD_TARGET static inline uint64_t keep64_vec(const philox_ctx *cx, __m256i P)
{
    uint64_t lo = keep32(cx, P, 0);
    return lo | (uint64_t)keep32(cx, P, 1) << 32;
}

/* The words of blocks blk .. blk+7 (h = 0) or blk+8 .. blk+15 (h = 1), stored in order at out
 * (32 words: out[4j + k] = word k of block j). Round 10 gives the four words of 8 blocks in four
 * vectors (word k of blocks 0..7), transposed to block order with unpacks and lane permutes. */
FD_TARGET static inline void words32(const philox_ctx *cx, __m256i P, int h, uint32_t *out)
{
    quad a, b;
    rounds9(cx, P, h, &a, &b);
    const philox_fin *f = &cx->fin;
    __m256i p0a = _mm256_mul_epu32(a.c0, cx->m0), p1a = _mm256_mul_epu32(a.c2, cx->m1);
    __m256i p0b = _mm256_mul_epu32(b.c0, cx->m0), p1b = _mm256_mul_epu32(b.c2, cx->m1);
    /* k0f, k1f carry the compare's sign flip: undo it with flip */
    __m256i w0 = _mm256_xor_si256(SHUF(p1a, p1b, 0xDD),
                                  XK(SHUF(a.c1, b.c1, 0x88), _mm256_xor_si256(f->k0f, f->flip)));
    __m256i w2 = _mm256_xor_si256(SHUF(p0a, p0b, 0xDD),
                                  XK(SHUF(a.c3, b.c3, 0x88), _mm256_xor_si256(f->k1f, f->flip)));
    __m256i w1 = SHUF(p1a, p1b, 0x88), w3 = SHUF(p0a, p0b, 0x88);
    /* 128-bit lane L of wk: word k of blocks 4L .. 4L+3 */
    __m256i lo01 = _mm256_unpacklo_epi32(w0, w1), hi01 = _mm256_unpackhi_epi32(w0, w1);
    __m256i lo23 = _mm256_unpacklo_epi32(w2, w3), hi23 = _mm256_unpackhi_epi32(w2, w3);
    __m256i bA = _mm256_unpacklo_epi64(lo01, lo23); /* blocks 0 | 4 */
    __m256i bB = _mm256_unpackhi_epi64(lo01, lo23); /* blocks 1 | 5 */
    __m256i bC = _mm256_unpacklo_epi64(hi01, hi23); /* blocks 2 | 6 */
    __m256i bD = _mm256_unpackhi_epi64(hi01, hi23); /* blocks 3 | 7 */
    _mm256_storeu_si256((__m256i *)out, _mm256_permute2x128_si256(bA, bB, 0x20));
    _mm256_storeu_si256((__m256i *)(out + 8), _mm256_permute2x128_si256(bC, bD, 0x20));
    _mm256_storeu_si256((__m256i *)(out + 16), _mm256_permute2x128_si256(bA, bB, 0x31));
    _mm256_storeu_si256((__m256i *)(out + 24), _mm256_permute2x128_si256(bC, bD, 0x31));
}

FD_TARGET static inline void words64_vec(const philox_ctx *cx, __m256i P, uint32_t *out)
{
    words32(cx, P, 0, out);
    words32(cx, P, 1, out + 32);
}

/* A Philox step is one group (see the notes above). */
#define FD_GROUPS 1

FD_TARGET static inline void keep_step_vec(const philox_ctx *cx, __m256i P, uint64_t *out)
{
    out[0] = keep64_vec(cx, P);
}

FD_TARGET static inline void words_step_vec(const philox_ctx *cx, __m256i P, uint32_t *out)
{
    words64_vec(cx, P, out);
}

/* ---- data primitives: 8 floats, 4 doubles or 8 halves a chunk ---- */

typedef __m256 VF;
typedef __m256d VD;
typedef __m128i VH;
typedef __m256i MF; /* all-ones 32-bit lanes where kept */
typedef __m256i MD; /* all-ones 64-bit lanes where kept */
#define WF 8
#define WD 4

FD_TARGET static inline VF load_f32(const float *p) { return _mm256_loadu_ps(p); }
FD_TARGET static inline VD load_f64(const double *p) { return _mm256_loadu_pd(p); }
FD_TARGET static inline VH load_f16(const uint16_t *p) { return _mm_loadu_si128((const VH *)p); }
FD_TARGET static inline void store_f32(float *p, VF v) { _mm256_storeu_ps(p, v); }
FD_TARGET static inline void store_f64(double *p, VD v) { _mm256_storeu_pd(p, v); }
FD_TARGET static inline void store_f16(uint16_t *p, VH v) { _mm_storeu_si128((VH *)p, v); }
/* non-temporal stores: p aligned to the vector */
#define FD_STREAM_STORES 1
FD_TARGET static inline void stream_f32(float *p, VF v) { _mm256_stream_ps(p, v); }
FD_TARGET static inline void stream_f64(double *p, VD v) { _mm256_stream_pd(p, v); }
FD_TARGET static inline void stream_f16(uint16_t *p, VH v) { _mm_stream_si128((VH *)p, v); }
FD_TARGET static inline void stream_fence(void) { _mm_sfence(); }

/* Realignment for streaming stores to an output that starts `off` lanes before a vector
 * boundary: realign(prev, cur) = lanes off .. W-1 of prev, then lanes 0 .. off-1 of cur. On
 * 32-bit lanes (a double is two): one permute of each vector and a blend. */
typedef struct {
    __m256i idx, take_cur;
} rx_f32;
typedef rx_f32 rx_f64;
typedef struct {
    __m128i from_prev, from_cur;
} rx_f16;
FD_TARGET static inline void realign_init_f32(rx_f32 *r, size_t off)
{
    __m256i i = _mm256_add_epi32(_mm256_set1_epi32((int)off), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    r->idx = _mm256_and_si256(i, _mm256_set1_epi32(7));
    r->take_cur = _mm256_cmpgt_epi32(i, _mm256_set1_epi32(7));
}
FD_TARGET static inline void realign_init_f64(rx_f64 *r, size_t off) { realign_init_f32(r, 2 * off); }
FD_TARGET static inline void realign_init_f16(rx_f16 *r, size_t off)
{
    __m128i b = _mm_add_epi8(_mm_set1_epi8((char)(2 * off)),
                             _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    __m128i cur = _mm_cmpgt_epi8(b, _mm_set1_epi8(15)); /* b <= 31: no signed overflow */
    r->from_prev = _mm_or_si128(b, cur);                              /* 0x80+: zero */
    r->from_cur = _mm_or_si128(_mm_sub_epi8(b, _mm_set1_epi8(16)), _mm_andnot_si128(cur, _mm_set1_epi8(-128)));
}
FD_TARGET static inline VF realign_f32(VF prev, VF cur, const rx_f32 *r)
{
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(prev, r->idx),
                            _mm256_permutevar8x32_ps(cur, r->idx), _mm256_castsi256_ps(r->take_cur));
}
FD_TARGET static inline VD realign_f64(VD prev, VD cur, const rx_f64 *r)
{
    return _mm256_castps_pd(realign_f32(_mm256_castpd_ps(prev), _mm256_castpd_ps(cur), r));
}
FD_TARGET static inline VH realign_f16(VH prev, VH cur, const rx_f16 *r)
{
    return _mm_or_si128(_mm_shuffle_epi8(prev, r->from_prev), _mm_shuffle_epi8(cur, r->from_cur));
}
FD_TARGET static inline VF set1_f32(float s) { return _mm256_set1_ps(s); }
FD_TARGET static inline VD set1_f64(double s) { return _mm256_set1_pd(s); }
FD_TARGET static inline VF mul_f32(VF a, VF b) { return _mm256_mul_ps(a, b); }
FD_TARGET static inline VD mul_f64(VD a, VD b) { return _mm256_mul_pd(a, b); }
FD_TARGET static inline VF add_f32(VF a, VF b) { return _mm256_add_ps(a, b); }
FD_TARGET static inline VD add_f64(VD a, VD b) { return _mm256_add_pd(a, b); }
FD_TARGET static inline VF h2f(VH h) { return _mm256_cvtph_ps(h); }

FD_TARGET static inline VH f2h(VF v)
{
    return _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/* bit j of each 32-bit lane's selector: lane k of chunk c selects bit 8c + k of a 32-bit half */
static const uint32_t sel32[4][8] __attribute__((aligned(32))) = {
    {1u << 0, 1u << 1, 1u << 2, 1u << 3, 1u << 4, 1u << 5, 1u << 6, 1u << 7},
    {1u << 8, 1u << 9, 1u << 10, 1u << 11, 1u << 12, 1u << 13, 1u << 14, 1u << 15},
    {1u << 16, 1u << 17, 1u << 18, 1u << 19, 1u << 20, 1u << 21, 1u << 22, 1u << 23},
    {1u << 24, 1u << 25, 1u << 26, 1u << 27, 1u << 28, 1u << 29, 1u << 30, 1u << 31}};

/* Lanes of chunk c (bits 8c .. 8c+7 of word): the 32-bit half broadcast (the compiler shares
 * it between the chunks of a group), and + compare against the chunk's selectors. */
FD_TARGET static inline MF mask_f32(uint64_t word, int c)
{
    const __m256i half = _mm256_set1_epi32((int)(uint32_t)(word >> (32 * (c >> 2))));
    const __m256i sel = _mm256_load_si256((const __m256i *)sel32[c & 3]);
    return _mm256_cmpeq_epi32(_mm256_and_si256(half, sel), sel);
}

/* Lanes of chunk c (bits 4c .. 4c+3 of word). */
FD_TARGET static inline MD mask_f64(uint64_t word, int c)
{
    const __m256i s = _mm256_slli_epi64(_mm256_setr_epi64x(1, 2, 4, 8), 4 * c);
    return _mm256_cmpeq_epi64(_mm256_and_si256(_mm256_set1_epi64x((long long)word), s), s);
}

FD_TARGET static inline VF vscale_f32(VF v, MF m, VF vs, int scaled)
{
    return _mm256_and_ps(_mm256_castsi256_ps(m), scaled ? _mm256_mul_ps(v, vs) : v);
}

FD_TARGET static inline VD vscale_f64(VD v, MD m, VD vs, int scaled)
{
    return _mm256_and_pd(_mm256_castsi256_pd(m), scaled ? _mm256_mul_pd(v, vs) : v);
}

FD_TARGET static inline VF blend_f32(MF m, VF d, VF v)
{
    return _mm256_blendv_ps(d, v, _mm256_castsi256_ps(m));
}

FD_TARGET static inline VD blend_f64(MD m, VD d, VD v)
{
    return _mm256_blendv_pd(d, v, _mm256_castsi256_pd(m));
}

/* the 32-bit lane mask narrowed to 16-bit lanes */
FD_TARGET static inline VH zero_h(MF m, VH h)
{
    return _mm_and_si128(_mm_packs_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1)),
                         h);
}

#include "loops-inl.h"

/* ---- block transposes for the panel copies: 8x8 float32, 4x4 float64, 16x16 16-bit ---- */

FD_TARGET static inline void f32_8x8(const char *s, ptrdiff_t ss, char *d, ptrdiff_t ds)
{
    __m256 r0 = _mm256_loadu_ps((const float *)(s + 0 * ss));
    __m256 r1 = _mm256_loadu_ps((const float *)(s + 1 * ss));
    __m256 r2 = _mm256_loadu_ps((const float *)(s + 2 * ss));
    __m256 r3 = _mm256_loadu_ps((const float *)(s + 3 * ss));
    __m256 r4 = _mm256_loadu_ps((const float *)(s + 4 * ss));
    __m256 r5 = _mm256_loadu_ps((const float *)(s + 5 * ss));
    __m256 r6 = _mm256_loadu_ps((const float *)(s + 6 * ss));
    __m256 r7 = _mm256_loadu_ps((const float *)(s + 7 * ss));
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    /* u[4k + j]: rows 4k..4k+3 of columns j and j + 4 (one per 128-bit lane) */
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps((float *)(d + 0 * ds), _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps((float *)(d + 1 * ds), _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps((float *)(d + 2 * ds), _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps((float *)(d + 3 * ds), _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps((float *)(d + 4 * ds), _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps((float *)(d + 5 * ds), _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps((float *)(d + 6 * ds), _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps((float *)(d + 7 * ds), _mm256_permute2f128_ps(u3, u7, 0x31));
}

FD_TARGET static inline void f64_4x4(const char *s, ptrdiff_t ss, char *d, ptrdiff_t ds)
{
    __m256d r0 = _mm256_loadu_pd((const double *)(s + 0 * ss));
    __m256d r1 = _mm256_loadu_pd((const double *)(s + 1 * ss));
    __m256d r2 = _mm256_loadu_pd((const double *)(s + 2 * ss));
    __m256d r3 = _mm256_loadu_pd((const double *)(s + 3 * ss));
    __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
    __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
    _mm256_storeu_pd((double *)(d + 0 * ds), _mm256_permute2f128_pd(t0, t2, 0x20));
    _mm256_storeu_pd((double *)(d + 1 * ds), _mm256_permute2f128_pd(t1, t3, 0x20));
    _mm256_storeu_pd((double *)(d + 2 * ds), _mm256_permute2f128_pd(t0, t2, 0x31));
    _mm256_storeu_pd((double *)(d + 3 * ds), _mm256_permute2f128_pd(t1, t3, 0x31));
}

#include "u16x16-inl.h"

GRID(ENTRY(transpose_u16), u16_16x16)
GRID(ENTRY(transpose_f32), f32_8x8)
GRID(ENTRY(transpose_f64), f64_4x4)

/* ---- the table ---- */

static int cpu_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
}

const fd_kernels fd_kernels_avx2 = {
    .name = "avx2",
    .supported = cpu_avx2,
    FD_LOOP_ENTRIES,
    .transpose = {{ENTRY(transpose_u16), 16},
                  {ENTRY(transpose_f32), 8},
                  {ENTRY(transpose_f64), 4}},
};
#else
const fd_kernels fd_kernels_avx2 = {.name = "avx2"}; /* not in this build */
#endif
