/* The vector Philox4x32-10 context of the SIMD files, written once. Included by csrc/isa/avx2.c
 * and avx512.c after their primitives:
 *   VI                 an integer vector of FD_LANES64 64-bit lanes (one Philox block per lane);
 *   set1_32, set1_64   broadcasts; loadu_64 loads FD_LANES64 uint64_t;
 *   philox_fin         the ISA's round-10 / compare constants, set by fin_init(fin, key0, key1,
 *                      threshold) from round 10's keys.
 * The file then defines its rounds on this context (see the notes in avx2.c).
 *
 * Layout: word k of a block sits in the low half of its 64-bit lane, so a 32x32->64 multiply
 * takes the product whole; the high halves hold junk that never reaches a result. A 64-element
 * group is 16 blocks in FD_NVEC vectors, vector v holding blocks 2L * (v / 2) + {0, 1, 4, 5, 8,
 * 9, ...} + 2 * (v % 2) (L lanes), so that vshufps of a pair of vectors puts four consecutive
 * blocks in each 128-bit lane. Rounds 1-3 are specialised: c2 = stream and c3 = 0 at the start,
 * so round 1 leaves c0 and c1 the same in every lane (while the high counter word is), round 2
 * needs one product and a xor, round 3 three xors less; the first products M0 * (lo + j) are
 * additions (mj). */
#ifndef FASTDROP_PHILOX_INL_H
#define FASTDROP_PHILOX_INL_H

#include "philox.h"

#define FD_NVEC (16 / FD_LANES64) /* vectors per 16-block group */

typedef struct {
    VI m0, m1, mj[FD_NVEC]; /* mj[v]: M0 * (block offset of each lane of vector v) */
    VI k1_1;        /* round 1: key k1 */
    VI k0_2;        /* round 2: c1 (constant) ^ k0 */
    VI d2, e3;      /* rounds 2, 3: terms that are constant while the high counter word is */
    VI k0_3;        /* round 3 */
    VI rk[12];      /* rounds 4..9 */
    philox_fin fin; /* round 10 and the keep compare */
    uint32_t hi;    /* high counter word that d2, e3 belong to */
    uint32_t kk0[11], kk1[11], p1s_hi, stream, threshold; /* kk*[r]: key of round r */
} philox_ctx;

FD_TARGET static inline void ctx_segment(philox_ctx *cx, uint32_t hi)
{
    /* round 1: c0 = hi(M1 * stream) ^ c1 ^ k0 = A in every lane, c1 = lo(M1 * stream) */
    uint32_t A = cx->p1s_hi ^ hi ^ cx->kk0[1];
    uint64_t pa = (uint64_t)FD_PHILOX_M0 * A;
    cx->hi = hi;
    cx->d2 = set1_32((uint32_t)(pa >> 32) ^ cx->kk1[2]);
    cx->e3 = set1_32((uint32_t)pa ^ cx->kk1[3]);
}

FD_TARGET static void ctx_init(philox_ctx *cx, uint32_t k0, uint32_t k1, uint32_t stream,
                               uint32_t threshold, uint32_t hi)
{
    cx->kk0[1] = k0;
    cx->kk1[1] = k1;
    for (int r = 2; r <= 10; r++) {
        cx->kk0[r] = cx->kk0[r - 1] + FD_PHILOX_W0;
        cx->kk1[r] = cx->kk1[r - 1] + FD_PHILOX_W1;
    }
    uint64_t p1s = (uint64_t)FD_PHILOX_M1 * stream;
    cx->p1s_hi = (uint32_t)(p1s >> 32);
    cx->stream = stream;
    cx->threshold = threshold;
    cx->m0 = set1_64(FD_PHILOX_M0);
    cx->m1 = set1_64(FD_PHILOX_M1);
    for (int v = 0; v < FD_NVEC; v++) {
        uint64_t j[FD_LANES64];
        for (int i = 0; i < FD_LANES64; i++)
            j[i] = (uint64_t)FD_PHILOX_M0 *
                   (uint64_t)(2 * FD_LANES64 * (v / 2) + 4 * (i / 2) + (i & 1) + 2 * (v % 2));
        cx->mj[v] = loadu_64(j);
    }
    cx->k1_1 = set1_32(cx->kk1[1]);
    cx->k0_2 = set1_32((uint32_t)p1s ^ cx->kk0[2]);
    cx->k0_3 = set1_32(cx->kk0[3]);
    for (int r = 4; r <= 9; r++) {
        cx->rk[2 * (r - 4)] = set1_32(cx->kk0[r]);
        cx->rk[2 * (r - 4) + 1] = set1_32(cx->kk1[r]);
    }
    fin_init(&cx->fin, cx->kk0[10], cx->kk1[10], threshold);
    ctx_segment(cx, hi);
}

/* The scalar definition, out of line, for the rare groups whose low counter word wraps. */
FD_TARGET __attribute__((noinline, cold)) static uint64_t keep64_carry(const philox_ctx *cx,
                                                                      uint64_t blk)
{
    return fd_philox_keep64(blk, cx->kk0[1], cx->kk1[1], cx->stream, cx->threshold);
}

FD_TARGET __attribute__((noinline, cold)) static void words_tail(uint32_t *out, size_t nblocks,
                                                                uint64_t blk, uint32_t k0,
                                                                uint32_t k1, uint32_t stream)
{
    fd_philox_words(out, nblocks, blk, k0, k1, stream);
}

#endif
