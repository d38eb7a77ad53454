/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11),
 * bit for bit as in Random123. Scalar version; the SIMD kernels (csrc/isa/) vectorise the same
 * round. */
#ifndef FASTDROP_PHILOX_H
#define FASTDROP_PHILOX_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FD_PHILOX_M0 0xD2511F53u
#define FD_PHILOX_M1 0xCD9E8D57u
#define FD_PHILOX_W0 0x9E3779B9u /* golden ratio */
#define FD_PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */
#define FD_PHILOX_ROUNDS 10

static inline void fd_philox4x32_round(uint32_t c[4], uint32_t k0, uint32_t k1)
{
    uint64_t p0 = (uint64_t)FD_PHILOX_M0 * c[0];
    uint64_t p1 = (uint64_t)FD_PHILOX_M1 * c[2];
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k0;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k1;
    c[0] = n0;
    c[1] = (uint32_t)p1;
    c[2] = n2;
    c[3] = (uint32_t)p0;
}

/* In place: ctr <- Philox4x32-10(ctr, key). */
static inline void fd_philox4x32_10(uint32_t ctr[4], uint32_t k0, uint32_t k1)
{
    for (int r = 0; r < FD_PHILOX_ROUNDS; r++) {
        if (r) {
            k0 += FD_PHILOX_W0;
            k1 += FD_PHILOX_W1;
        }
        fd_philox4x32_round(ctr, k0, k1);
    }
}

/* The keep bits of one 64-element group, Philox blocks blk .. blk + 15 on counter word c2 =
 * stream: bit 4j + k is set when word k of block blk + j is >= threshold (kept). The definition
 * the SIMD paths match; they fall back to it when the low counter word wraps inside a group. */
static inline uint64_t fd_philox_keep64(uint64_t blk, uint32_t k0, uint32_t k1, uint32_t stream,
                                        uint32_t threshold)
{
    uint64_t word = 0;
    for (unsigned j = 0; j < 16; j++) {
        uint64_t bj = blk + j;
        uint32_t c[4] = {(uint32_t)bj, (uint32_t)(bj >> 32), stream, 0};
        fd_philox4x32_10(c, k0, k1);
        for (unsigned k = 0; k < 4; k++)
            word |= (uint64_t)(c[k] >= threshold) << (4 * j + k);
    }
    return word;
}

/* The raw words of blocks blk .. blk + nblocks - 1, 4 per block in order. */
static inline void fd_philox_words(uint32_t *out, size_t nblocks, uint64_t blk, uint32_t k0,
                                   uint32_t k1, uint32_t stream)
{
    for (size_t j = 0; j < nblocks; j++) {
        uint64_t bj = blk + j;
        uint32_t c[4] = {(uint32_t)bj, (uint32_t)(bj >> 32), stream, 0};
        fd_philox4x32_10(c, k0, k1);
        memcpy(out + 4 * j, c, 16);
    }
}

#endif
