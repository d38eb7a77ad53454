/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11),
 * bit for bit as in Random123. Scalar version; the SIMD kernels vectorise the same round. */
#ifndef FASTDROP_PHILOX_H
#define FASTDROP_PHILOX_H

#include <stdint.h>

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

#endif
