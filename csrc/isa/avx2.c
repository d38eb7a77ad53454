/* AVX2 path (F16C for float16): Philox4x32-10 on 4 blocks per vector, one block per 64-bit lane.
 * Compiled with a target attribute, selected at run time.
 *
 * Speed notes (Zen 3 / Skylake class cores; keep bits are ALU-bound, so they are about op count):
 * - 64-bit-lane layout: word k of a block sits in the low half of its 64-bit lane, so vpmuludq
 *   takes the 32x32->64 product whole and a round is 2 vpmuludq + 2 vpsrlq + 4 vpxor per 4 blocks.
 *   The high halves hold junk that never reaches a result (vpmuludq reads only low halves).
 * - (c1 ^ key) is formed off the multiply chain and hidden from the compiler's reassociation
 *   (XK), so the chain per round is vpmuludq -> vpsrlq -> vpxor.
 * - Rounds 1-3 are specialised: c2 = stream and c3 = 0 at the start, so round 1 leaves c0 and c1
 *   the same in every lane (while the high counter word is), round 2 needs one product and a
 *   xor, round 3 three xors less. The first products M0 * (lo + j) are additions.
 * - Two quads (8 blocks) are interleaved: that keeps the 8 state vectors, the temporaries and
 *   the constants in the 16 ymm registers (four quads spill), and the out-of-order core overlaps
 *   consecutive pairs.
 * - The last round is folded into the extraction: vshufps gathers the high (or low) halves of two
 *   quads' products into one vector of 8 words, the sign flip for the unsigned compare rides on
 *   the round key, and packs + one pshufb + vpmovmskb give 32 keep bits in element order.
 * - The forward (fused_*) and alpha dropout (affine_*) compute one group's bits and apply them
 *   to its 64 elements in the same loop, so the loads and stores overlap the Philox arithmetic. */
#include "kernels.h"
#include "philox.h"

#ifdef FD_X86
#include <immintrin.h>

#define FD_AVX2 __attribute__((target("avx2,f16c")))

typedef struct {
    __m256i m0, m1, mj[4];
    __m256i k1_1;      /* round 1: key k1 */
    __m256i k0_2;      /* round 2: c1 (constant) ^ k0 */
    __m256i d2, e3;    /* rounds 2, 3: terms that are constant while the high counter word is */
    __m256i k0_3;      /* round 3 */
    __m256i rk[12];    /* rounds 4..9 */
    __m256i k0f, k1f;  /* round 10 keys ^ 0x80000000 (the compare's sign flip) */
    __m256i flip, tflip, tr;
    uint32_t hi;       /* high counter word that d2, e3 belong to */
    uint32_t kk0[11], kk1[11], p1s_hi, stream, threshold; /* kk*[r]: key of round r */
} philox_ctx;

FD_AVX2 static inline void ctx_segment(philox_ctx *cx, uint32_t hi)
{
    /* round 1: c0 = hi(M1 * stream) ^ c1 ^ k0 = A in every lane, c1 = lo(M1 * stream) */
    uint32_t A = cx->p1s_hi ^ hi ^ cx->kk0[1];
    uint64_t pa = (uint64_t)FD_PHILOX_M0 * A;
    cx->hi = hi;
    cx->d2 = _mm256_set1_epi32((int)((uint32_t)(pa >> 32) ^ cx->kk1[2]));
    cx->e3 = _mm256_set1_epi32((int)((uint32_t)pa ^ cx->kk1[3]));
}

FD_AVX2 static void ctx_init(philox_ctx *cx, uint32_t k0, uint32_t k1, uint32_t stream,
                             uint32_t threshold, uint32_t hi)
{
    cx->kk0[1] = k0;
    cx->kk1[1] = k1;
    for (int r = 2; r <= 10; r++) {
        cx->kk0[r] = cx->kk0[r - 1] + FD_PHILOX_W0;
        cx->kk1[r] = cx->kk1[r - 1] + FD_PHILOX_W1;
    }
    uint64_t p1s = (uint64_t)FD_PHILOX_M1 * stream;
    cx->stream = stream;
    cx->threshold = threshold;
    cx->p1s_hi = (uint32_t)(p1s >> 32);
    cx->m0 = _mm256_set1_epi64x(FD_PHILOX_M0);
    cx->m1 = _mm256_set1_epi64x(FD_PHILOX_M1);
    /* quads of a group: blocks {0,1,4,5}, {2,3,6,7}, {8,9,12,13}, {10,11,14,15}, so that the
     * vshufps of a pair puts four consecutive blocks in each 128-bit lane */
    static const int js[4][4] = {{0, 1, 4, 5}, {2, 3, 6, 7}, {8, 9, 12, 13}, {10, 11, 14, 15}};
    for (int q = 0; q < 4; q++)
        cx->mj[q] = _mm256_setr_epi64x((long long)((uint64_t)FD_PHILOX_M0 * js[q][0]),
                                       (long long)((uint64_t)FD_PHILOX_M0 * js[q][1]),
                                       (long long)((uint64_t)FD_PHILOX_M0 * js[q][2]),
                                       (long long)((uint64_t)FD_PHILOX_M0 * js[q][3]));
    cx->k1_1 = _mm256_set1_epi32((int)cx->kk1[1]);
    cx->k0_2 = _mm256_set1_epi32((int)((uint32_t)p1s ^ cx->kk0[2]));
    cx->k0_3 = _mm256_set1_epi32((int)cx->kk0[3]);
    for (int r = 4; r <= 9; r++) {
        cx->rk[2 * (r - 4)] = _mm256_set1_epi32((int)cx->kk0[r]);
        cx->rk[2 * (r - 4) + 1] = _mm256_set1_epi32((int)cx->kk1[r]);
    }
    cx->flip = _mm256_set1_epi32((int)0x80000000u);
    cx->k0f = _mm256_set1_epi32((int)(cx->kk0[10] ^ 0x80000000u));
    cx->k1f = _mm256_set1_epi32((int)(cx->kk1[10] ^ 0x80000000u));
    cx->tflip = _mm256_set1_epi32((int)(threshold ^ 0x80000000u));
    /* bytes of a lane after the packs: word k of block s at 4k + s; element 4s + k */
    cx->tr = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 4, 8, 12, 1,
                              5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    ctx_segment(cx, hi);
}

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

/* 32 keep bits of blocks blk .. blk+7 (h = 0) or blk+8 .. blk+15 (h = 1); the 8 blocks must not
 * carry into the high counter word, which must be cx->hi. */
FD_AVX2 static inline uint32_t keep32(const philox_ctx *cx, __m256i P, int h)
{
    quad a, b;
    R123(a, P, cx->mj[2 * h]);
    R123(b, P, cx->mj[2 * h + 1]);
#pragma GCC unroll 8
    for (int r = 0; r < 6; r++) {
        RN(a, cx->rk[2 * r], cx->rk[2 * r + 1]);
        RN(b, cx->rk[2 * r], cx->rk[2 * r + 1]);
    }
    /* round 10 and the compare: dropped = (t ^ flip) > (word ^ flip), signed */
    __m256i p0a = _mm256_mul_epu32(a.c0, cx->m0), p1a = _mm256_mul_epu32(a.c2, cx->m1);
    __m256i p0b = _mm256_mul_epu32(b.c0, cx->m0), p1b = _mm256_mul_epu32(b.c2, cx->m1);
    __m256i w0 = _mm256_xor_si256(SHUF(p1a, p1b, 0xDD), XK(SHUF(a.c1, b.c1, 0x88), cx->k0f));
    __m256i w2 = _mm256_xor_si256(SHUF(p0a, p0b, 0xDD), XK(SHUF(a.c3, b.c3, 0x88), cx->k1f));
    __m256i w1 = _mm256_xor_si256(SHUF(p1a, p1b, 0x88), cx->flip);
    __m256i w3 = _mm256_xor_si256(SHUF(p0a, p0b, 0x88), cx->flip);
    __m256i d01 = _mm256_packs_epi32(_mm256_cmpgt_epi32(cx->tflip, w0),
                                     _mm256_cmpgt_epi32(cx->tflip, w1));
    __m256i d23 = _mm256_packs_epi32(_mm256_cmpgt_epi32(cx->tflip, w2),
                                     _mm256_cmpgt_epi32(cx->tflip, w3));
    __m256i d = _mm256_shuffle_epi8(_mm256_packs_epi16(d01, d23), cx->tr);
    return ~(uint32_t)_mm256_movemask_epi8(d);
}

FD_AVX2 __attribute__((noinline, cold)) static uint64_t keep64_carry(const philox_ctx *cx,
                                                                    uint64_t blk)
{
    uint64_t word = 0;
    for (unsigned j = 0; j < 16; j++) {
        uint64_t bj = blk + j;
        uint32_t c[4] = {(uint32_t)bj, (uint32_t)(bj >> 32), cx->stream, 0};
        fd_philox4x32_10(c, cx->kk0[1], cx->kk1[1]);
        for (unsigned k = 0; k < 4; k++)
            word |= (uint64_t)(c[k] >= cx->threshold) << (4 * j + k);
    }
    return word;
}

/* The group's 64 keep bits, bit j = element 4 * blk + j (blocks blk .. blk+15). */
FD_AVX2 static inline __attribute__((always_inline)) uint64_t keep64(philox_ctx *cx,
                                                                    uint64_t blk)
{
    if (__builtin_expect((uint32_t)blk > 0xFFFFFFF0u, 0)) /* the low word wraps in the group */
        return keep64_carry(cx, blk);
    if (__builtin_expect((uint32_t)(blk >> 32) != cx->hi, 0))
        ctx_segment(cx, (uint32_t)(blk >> 32));
    __m256i P = _mm256_set1_epi64x((long long)((uint64_t)FD_PHILOX_M0 * (uint32_t)blk));
    uint64_t lo = keep32(cx, P, 0);
    return lo | (uint64_t)keep32(cx, P, 1) << 32;
}

FD_AVX2 static void keep_bits_avx2(uint64_t *bits, size_t ngroups, uint64_t block, uint32_t k0,
                                   uint32_t k1, uint32_t stream, uint32_t threshold)
{
    philox_ctx cx;
    ctx_init(&cx, k0, k1, stream, threshold, (uint32_t)(block >> 32));
    for (size_t w = 0; w < ngroups; w++, block += 16)
        bits[w] = keep64(&cx, block);
}

/* ---- raw words (structured kernels) ---- */

/* The words of blocks blk .. blk+7 (h = 0) or blk+8 .. blk+15 (h = 1), stored in order at out
 * (32 words: out[4j + k] = word k of block j); no carry into the high counter word, which must
 * be cx->hi. The rounds are keep32's; round 10 gives the four words of 8 blocks in four
 * vectors (word k of blocks 0..7), transposed to block order with unpacks and lane permutes. */
FD_AVX2 static inline void words32(const philox_ctx *cx, __m256i P, int h, uint32_t *out)
{
    quad a, b;
    R123(a, P, cx->mj[2 * h]);
    R123(b, P, cx->mj[2 * h + 1]);
#pragma GCC unroll 8
    for (int r = 0; r < 6; r++) {
        RN(a, cx->rk[2 * r], cx->rk[2 * r + 1]);
        RN(b, cx->rk[2 * r], cx->rk[2 * r + 1]);
    }
    __m256i p0a = _mm256_mul_epu32(a.c0, cx->m0), p1a = _mm256_mul_epu32(a.c2, cx->m1);
    __m256i p0b = _mm256_mul_epu32(b.c0, cx->m0), p1b = _mm256_mul_epu32(b.c2, cx->m1);
    /* k0f, k1f carry the compare's sign flip: undo it with flip */
    __m256i w0 = _mm256_xor_si256(SHUF(p1a, p1b, 0xDD),
                                  XK(SHUF(a.c1, b.c1, 0x88), _mm256_xor_si256(cx->k0f, cx->flip)));
    __m256i w2 = _mm256_xor_si256(SHUF(p0a, p0b, 0xDD),
                                  XK(SHUF(a.c3, b.c3, 0x88), _mm256_xor_si256(cx->k1f, cx->flip)));
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

FD_AVX2 __attribute__((noinline, cold)) static void words_tail(uint32_t *out, size_t nblocks,
                                                              uint64_t blk, uint32_t k0,
                                                              uint32_t k1, uint32_t stream)
{
    for (size_t j = 0; j < nblocks; j++) {
        uint64_t bj = blk + j;
        uint32_t c[4] = {(uint32_t)bj, (uint32_t)(bj >> 32), stream, 0};
        fd_philox4x32_10(c, k0, k1);
        memcpy(out + 4 * j, c, 16);
    }
}

FD_AVX2 static void words_avx2(uint32_t *out, size_t nblocks, uint64_t blk, uint32_t k0,
                               uint32_t k1, uint32_t stream)
{
    philox_ctx cx;
    ctx_init(&cx, k0, k1, stream, 0, (uint32_t)(blk >> 32));
    size_t j = 0;
    for (; j + 16 <= nblocks; j += 16, blk += 16, out += 64) {
        if (__builtin_expect((uint32_t)blk > 0xFFFFFFF0u, 0)) { /* the low word wraps */
            words_tail(out, 16, blk, k0, k1, stream);
            continue;
        }
        if (__builtin_expect((uint32_t)(blk >> 32) != cx.hi, 0))
            ctx_segment(&cx, (uint32_t)(blk >> 32));
        __m256i P = _mm256_set1_epi64x((long long)((uint64_t)FD_PHILOX_M0 * (uint32_t)blk));
        words32(&cx, P, 0, out);
        words32(&cx, P, 1, out + 32);
    }
    if (j < nblocks)
        words_tail(out, nblocks - j, blk, k0, k1, stream);
}

/* ---- apply ---- */

#define BIT(bits, i) (((bits)[(i) >> 6] >> ((i) & 63)) & 1u)

/* bit j of each 32-bit lane's selector: lane k of chunk c selects bit 8c + k of a 32-bit half */
static const uint32_t sel32[4][8] __attribute__((aligned(32))) = {
    {1u << 0, 1u << 1, 1u << 2, 1u << 3, 1u << 4, 1u << 5, 1u << 6, 1u << 7},
    {1u << 8, 1u << 9, 1u << 10, 1u << 11, 1u << 12, 1u << 13, 1u << 14, 1u << 15},
    {1u << 16, 1u << 17, 1u << 18, 1u << 19, 1u << 20, 1u << 21, 1u << 22, 1u << 23},
    {1u << 24, 1u << 25, 1u << 26, 1u << 27, 1u << 28, 1u << 29, 1u << 30, 1u << 31}};

/* All-ones 32-bit lanes where bit 8c + k of `half` (broadcast) is set, k = lane. */
FD_AVX2 static inline __m256i lanes8(__m256i half, int c)
{
    const __m256i sel = _mm256_load_si256((const __m256i *)sel32[c]);
    return _mm256_cmpeq_epi32(_mm256_and_si256(half, sel), sel);
}

/* All-ones 32-bit lanes where bit j of byte `b` is set (8 lanes). */
FD_AVX2 static inline __m256i lanes_from_byte(uint32_t b)
{
    return lanes8(_mm256_set1_epi32((int)(b & 0xffu)), 0);
}

/* All-ones 64-bit lanes where bit j of the nibble `b` is set (4 lanes). */
FD_AVX2 static inline __m256i lanes_from_nibble(uint32_t b)
{
    const __m256i sel = _mm256_setr_epi64x(1, 2, 4, 8);
    return _mm256_cmpeq_epi64(_mm256_and_si256(_mm256_set1_epi64x(b & 0xfu), sel), sel);
}

FD_AVX2 static inline void group_f32(const float *x, float *y, uint64_t word, __m256 vs, int scaled)
{
    __m256i h[2] = {_mm256_set1_epi32((int)(uint32_t)word), _mm256_set1_epi32((int)(word >> 32))};
    for (int c = 0; c < 8; c++) {
        __m256 m = _mm256_castsi256_ps(lanes8(h[c >> 2], c & 3));
        __m256 v = _mm256_loadu_ps(x + 8 * c);
        if (scaled)
            v = _mm256_mul_ps(v, vs);
        _mm256_storeu_ps(y + 8 * c, _mm256_and_ps(m, v));
    }
}

FD_AVX2 static inline void group_f64(const double *x, double *y, uint64_t word, __m256d vs,
                                     int scaled)
{
    const __m256i sel = _mm256_setr_epi64x(1, 2, 4, 8);
    __m256i b = _mm256_set1_epi64x((long long)word);
    for (int c = 0; c < 16; c++) {
        __m256i s = _mm256_slli_epi64(sel, 4 * c);
        __m256d m = _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(b, s), s));
        __m256d v = _mm256_loadu_pd(x + 4 * c);
        if (scaled)
            v = _mm256_mul_pd(v, vs);
        _mm256_storeu_pd(y + 4 * c, _mm256_and_pd(m, v));
    }
}

FD_AVX2 static inline __m128i f16x8(__m128i h, __m256i m, __m256 vs, int scaled)
{
    if (scaled) {
        __m256 v = _mm256_mul_ps(_mm256_cvtph_ps(h), vs);
        return _mm256_cvtps_ph(_mm256_and_ps(_mm256_castsi256_ps(m), v),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    /* narrow the 32-bit lane mask to 16-bit lanes */
    __m128i m16 = _mm_packs_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
    return _mm_and_si128(m16, h);
}

FD_AVX2 static inline void group_f16(const uint16_t *x, uint16_t *y, uint64_t word, __m256 vs,
                                     int scaled)
{
    __m256i h[2] = {_mm256_set1_epi32((int)(uint32_t)word), _mm256_set1_epi32((int)(word >> 32))};
    for (int c = 0; c < 8; c++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(x + 8 * c));
        _mm_storeu_si128((__m128i *)(y + 8 * c), f16x8(v, lanes8(h[c >> 2], c & 3), vs, scaled));
    }
}

FD_AVX2 static void apply_f32_avx2(const float *x, float *y, const uint64_t *bits, size_t n,
                                   float s, int scaled)
{
    const __m256 vs = _mm256_set1_ps(scaled ? s : 1.0f);
    size_t i = 0;
    if (scaled) {
        for (; i + 64 <= n; i += 64)
            group_f32(x + i, y + i, bits[i >> 6], vs, 1);
    } else {
        for (; i + 64 <= n; i += 64)
            group_f32(x + i, y + i, bits[i >> 6], vs, 0);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 m = _mm256_castsi256_ps(lanes_from_byte((uint32_t)(bits[i >> 6] >> (i & 63))));
        __m256 v = _mm256_loadu_ps(x + i);
        if (scaled)
            v = _mm256_mul_ps(v, vs);
        _mm256_storeu_ps(y + i, _mm256_and_ps(m, v));
    }
    for (; i < n; i++)
        y[i] = BIT(bits, i) ? (scaled ? x[i] * s : x[i]) : 0.0f;
}

FD_AVX2 static void apply_f64_avx2(const double *x, double *y, const uint64_t *bits, size_t n,
                                   double s, int scaled)
{
    const __m256d vs = _mm256_set1_pd(scaled ? s : 1.0);
    size_t i = 0;
    if (scaled) {
        for (; i + 64 <= n; i += 64)
            group_f64(x + i, y + i, bits[i >> 6], vs, 1);
    } else {
        for (; i + 64 <= n; i += 64)
            group_f64(x + i, y + i, bits[i >> 6], vs, 0);
    }
    for (; i + 4 <= n; i += 4) {
        __m256d m = _mm256_castsi256_pd(lanes_from_nibble((uint32_t)(bits[i >> 6] >> (i & 63))));
        __m256d v = _mm256_loadu_pd(x + i);
        if (scaled)
            v = _mm256_mul_pd(v, vs);
        _mm256_storeu_pd(y + i, _mm256_and_pd(m, v));
    }
    for (; i < n; i++)
        y[i] = BIT(bits, i) ? (scaled ? x[i] * s : x[i]) : 0.0;
}

FD_AVX2 static void apply_f16_avx2(const uint16_t *x, uint16_t *y, const uint64_t *bits, size_t n,
                                   float s, int scaled)
{
    const __m256 vs = _mm256_set1_ps(s);
    size_t i = 0;
    if (scaled) {
        for (; i + 64 <= n; i += 64)
            group_f16(x + i, y + i, bits[i >> 6], vs, 1);
    } else {
        for (; i + 64 <= n; i += 64)
            group_f16(x + i, y + i, bits[i >> 6], vs, 0);
    }
    for (; i + 8 <= n; i += 8) {
        __m256i m = lanes_from_byte((uint32_t)(bits[i >> 6] >> (i & 63)));
        __m128i h = _mm_loadu_si128((const __m128i *)(x + i));
        _mm_storeu_si128((__m128i *)(y + i), f16x8(h, m, vs, scaled));
    }
    for (; i < n; i++)
        y[i] = BIT(bits, i) ? (scaled ? fd_float_to_half(fd_half_to_float(x[i]) * s) : x[i]) : 0;
}

/* ---- alpha dropout: y = keep ? x * a + b : d ---- */

FD_AVX2 static inline void affine_group_f32(const float *x, float *y, uint64_t word, __m256 va,
                                            __m256 vb, __m256 vd)
{
    __m256i h[2] = {_mm256_set1_epi32((int)(uint32_t)word), _mm256_set1_epi32((int)(word >> 32))};
    for (int c = 0; c < 8; c++) {
        __m256 m = _mm256_castsi256_ps(lanes8(h[c >> 2], c & 3));
        __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * c), va), vb);
        _mm256_storeu_ps(y + 8 * c, _mm256_blendv_ps(vd, v, m));
    }
}

FD_AVX2 static inline void affine_group_f64(const double *x, double *y, uint64_t word,
                                            __m256d va, __m256d vb, __m256d vd)
{
    const __m256i sel = _mm256_setr_epi64x(1, 2, 4, 8);
    __m256i b = _mm256_set1_epi64x((long long)word);
    for (int c = 0; c < 16; c++) {
        __m256i s = _mm256_slli_epi64(sel, 4 * c);
        __m256d m = _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(b, s), s));
        __m256d v = _mm256_add_pd(_mm256_mul_pd(_mm256_loadu_pd(x + 4 * c), va), vb);
        _mm256_storeu_pd(y + 4 * c, _mm256_blendv_pd(vd, v, m));
    }
}

FD_AVX2 static inline __m128i affine_f16x8(__m128i h, __m256i m, __m256 va, __m256 vb, __m256 vd)
{
    __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtph_ps(h), va), vb);
    return _mm256_cvtps_ph(_mm256_blendv_ps(vd, v, _mm256_castsi256_ps(m)),
                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

FD_AVX2 static inline void affine_group_f16(const uint16_t *x, uint16_t *y, uint64_t word,
                                            __m256 va, __m256 vb, __m256 vd)
{
    __m256i h[2] = {_mm256_set1_epi32((int)(uint32_t)word), _mm256_set1_epi32((int)(word >> 32))};
    for (int c = 0; c < 8; c++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(x + 8 * c));
        _mm_storeu_si128((__m128i *)(y + 8 * c),
                         affine_f16x8(v, lanes8(h[c >> 2], c & 3), va, vb, vd));
    }
}

/* The partial last group (n < 64 elements, its keep bits in bits[0]). */
FD_AVX2 static void affine_tail_f32(const float *x, float *y, const uint64_t *bits, size_t n,
                                    float a, float b, float d)
{
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b), vd = _mm256_set1_ps(d);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 m = _mm256_castsi256_ps(lanes_from_byte((uint32_t)(bits[0] >> i)));
        __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), va), vb);
        _mm256_storeu_ps(y + i, _mm256_blendv_ps(vd, v, m));
    }
    for (; i < n; i++)
        y[i] = BIT(bits, i) ? x[i] * a + b : d;
}

FD_AVX2 static void affine_tail_f64(const double *x, double *y, const uint64_t *bits, size_t n,
                                    double a, double b, double d)
{
    const __m256d va = _mm256_set1_pd(a), vb = _mm256_set1_pd(b), vd = _mm256_set1_pd(d);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d m = _mm256_castsi256_pd(lanes_from_nibble((uint32_t)(bits[0] >> i)));
        __m256d v = _mm256_add_pd(_mm256_mul_pd(_mm256_loadu_pd(x + i), va), vb);
        _mm256_storeu_pd(y + i, _mm256_blendv_pd(vd, v, m));
    }
    for (; i < n; i++)
        y[i] = BIT(bits, i) ? x[i] * a + b : d;
}

FD_AVX2 static void affine_tail_f16(const uint16_t *x, uint16_t *y, const uint64_t *bits, size_t n,
                                    float a, float b, float d)
{
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b), vd = _mm256_set1_ps(d);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(x + i));
        _mm_storeu_si128((__m128i *)(y + i),
                         affine_f16x8(h, lanes_from_byte((uint32_t)(bits[0] >> i)), va, vb, vd));
    }
    const uint16_t dh = fd_float_to_half(d);
    for (; i < n; i++)
        y[i] = BIT(bits, i) ? fd_float_to_half(fd_half_to_float(x[i]) * a + b) : dh;
}

/* ---- fused kernels: per group, the bits and then the 64 elements ---- */

/* Loop body shared by the fused kernels: GROUP(x, y, word) applies keep word `word` to 64
 * elements, TAIL(x, y, bits, m) the last m < 64 (bits[0] holds their keep bits). Raw group g
 * holds stream bits 64g .. 64g+63; with r != 0 the run's word w straddles raw groups w and w+1. */
#define FUSED_LOOP(GROUP, TAIL)                                                                \
    philox_ctx cx;                                                                             \
    ctx_init(&cx, run->k0, run->k1, run->stream, run->threshold, (uint32_t)(run->block >> 32)); \
    const unsigned r = run->r;                                                                 \
    const size_t nw = (n + 63) / 64, nraw = (n + r + 63) / 64;                                 \
    uint64_t blk = run->block;                                                                 \
    uint64_t cur = keep64(&cx, blk);                                                           \
    size_t w = 0;                                                                              \
    for (; w < nw; w++) {                                                                      \
        uint64_t word = cur;                                                                   \
        if (w + 1 < nraw) {                                                                    \
            blk += 16;                                                                         \
            cur = keep64(&cx, blk);                                                            \
            if (r)                                                                             \
                word = (word >> r) | (cur << (64 - r));                                        \
        } else if (r) {                                                                        \
            word >>= r;                                                                        \
        }                                                                                      \
        bits[w] = word;                                                                        \
        if (64 * w + 64 > n)                                                                   \
            break;                                                                             \
        GROUP(x + 64 * w, y + 64 * w, word);                                                   \
    }                                                                                          \
    if (w < nw) /* a partial last group */                                                     \
        TAIL(x + 64 * w, y + 64 * w, bits + w, n - 64 * w)

FD_AVX2 static void fused_f32_avx2(const float *x, float *y, uint64_t *bits, size_t n,
                                   const fd_philox_run *run, float s, int scaled)
{
    const __m256 vs = _mm256_set1_ps(scaled ? s : 1.0f);
#define GROUP(xp, yp, wd) (scaled ? group_f32(xp, yp, wd, vs, 1) : group_f32(xp, yp, wd, vs, 0))
#define TAIL(xp, yp, bp, m) apply_f32_avx2(xp, yp, bp, m, s, scaled)
    FUSED_LOOP(GROUP, TAIL);
#undef GROUP
#undef TAIL
}

FD_AVX2 static void fused_f64_avx2(const double *x, double *y, uint64_t *bits, size_t n,
                                   const fd_philox_run *run, double s, int scaled)
{
    const __m256d vs = _mm256_set1_pd(scaled ? s : 1.0);
#define GROUP(xp, yp, wd) (scaled ? group_f64(xp, yp, wd, vs, 1) : group_f64(xp, yp, wd, vs, 0))
#define TAIL(xp, yp, bp, m) apply_f64_avx2(xp, yp, bp, m, s, scaled)
    FUSED_LOOP(GROUP, TAIL);
#undef GROUP
#undef TAIL
}

FD_AVX2 static void fused_f16_avx2(const uint16_t *x, uint16_t *y, uint64_t *bits, size_t n,
                                   const fd_philox_run *run, float s, int scaled)
{
    const __m256 vs = _mm256_set1_ps(s);
#define GROUP(xp, yp, wd) (scaled ? group_f16(xp, yp, wd, vs, 1) : group_f16(xp, yp, wd, vs, 0))
#define TAIL(xp, yp, bp, m) apply_f16_avx2(xp, yp, bp, m, s, scaled)
    FUSED_LOOP(GROUP, TAIL);
#undef GROUP
#undef TAIL
}

FD_AVX2 static void affine_f32_avx2(const float *x, float *y, uint64_t *bits, size_t n,
                                    const fd_philox_run *run, float a, float b, float d)
{
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b), vd = _mm256_set1_ps(d);
#define GROUP(xp, yp, wd) affine_group_f32(xp, yp, wd, va, vb, vd)
#define TAIL(xp, yp, bp, m) affine_tail_f32(xp, yp, bp, m, a, b, d)
    FUSED_LOOP(GROUP, TAIL);
#undef GROUP
#undef TAIL
}

FD_AVX2 static void affine_f64_avx2(const double *x, double *y, uint64_t *bits, size_t n,
                                    const fd_philox_run *run, double a, double b, double d)
{
    const __m256d va = _mm256_set1_pd(a), vb = _mm256_set1_pd(b), vd = _mm256_set1_pd(d);
#define GROUP(xp, yp, wd) affine_group_f64(xp, yp, wd, va, vb, vd)
#define TAIL(xp, yp, bp, m) affine_tail_f64(xp, yp, bp, m, a, b, d)
    FUSED_LOOP(GROUP, TAIL);
#undef GROUP
#undef TAIL
}

FD_AVX2 static void affine_f16_avx2(const uint16_t *x, uint16_t *y, uint64_t *bits, size_t n,
                                    const fd_philox_run *run, float a, float b, float d)
{
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b), vd = _mm256_set1_ps(d);
#define GROUP(xp, yp, wd) affine_group_f16(xp, yp, wd, va, vb, vd)
#define TAIL(xp, yp, bp, m) affine_tail_f16(xp, yp, bp, m, a, b, d)
    FUSED_LOOP(GROUP, TAIL);
#undef GROUP
#undef TAIL
}

const fd_kernels fd_kernels_avx2 = {
    .keep_bits = keep_bits_avx2,
    .apply_f32 = apply_f32_avx2,
    .apply_f64 = apply_f64_avx2,
    .apply_f16 = apply_f16_avx2,
    .fused_f32 = fused_f32_avx2,
    .fused_f64 = fused_f64_avx2,
    .fused_f16 = fused_f16_avx2,
    .affine_f32 = affine_f32_avx2,
    .affine_f64 = affine_f64_avx2,
    .affine_f16 = affine_f16_avx2,
    .words = words_avx2,
};
#endif
