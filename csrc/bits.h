/* Packed-bit helpers shared by the structured kernels (bit i of a packed mask = bit i%8 of
 * byte i/8 = bit i%64 of little-endian word i/64, as in the core). Header-only. */
#ifndef FASTDROP_BITS_H
#define FASTDROP_BITS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>


/* 64 bits of a packed byte mask starting at bit pos; bits past nbytes read as 0. */
static inline uint64_t load_bits(const uint8_t *m, size_t nbytes, size_t pos)
{
    size_t byte = pos >> 3;
    unsigned sh = (unsigned)(pos & 7);
    uint64_t v = 0;
    if (byte + 8 <= nbytes)
        memcpy(&v, m + byte, 8);
    else if (byte < nbytes)
        memcpy(&v, m + byte, nbytes - byte);
    v >>= sh;
    if (sh && byte + 8 < nbytes)
        v |= (uint64_t)m[byte + 8] << (64 - sh);
    return v;
}

/* 64 bits of a word array starting at bit pos (the caller keeps pos + 64 within nwords words
 * or accepts reading the following word, which must exist). */
static inline uint64_t word_bits(const uint64_t *w, size_t nwords, size_t pos)
{
    size_t i = pos >> 6;
    unsigned sh = (unsigned)(pos & 63);
    uint64_t v = w[i] >> sh;
    if (sh && i + 1 < nwords)
        v |= w[i + 1] << (64 - sh);
    return v;
}

/* dst |= the low len (<= 64) bits of v, placed at bit pos. */
static inline void or_bits(uint64_t *dst, size_t pos, uint64_t v, unsigned len)
{
    if (len < 64)
        v &= (1ull << len) - 1;
    size_t w = pos >> 6;
    unsigned sh = (unsigned)(pos & 63);
    dst[w] |= v << sh;
    if (sh && sh + len > 64)
        dst[w + 1] |= v >> (64 - sh);
}

static inline void set_run(uint64_t *dst, size_t pos, size_t len)
{
    while (len) {
        unsigned l = len < 64 ? (unsigned)len : 64;
        or_bits(dst, pos, ~0ull, l);
        pos += l;
        len -= l;
    }
}

static inline unsigned popcount64(uint64_t v)
{
    v = v - ((v >> 1) & 0x5555555555555555ull);
    v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
    v = (v + (v >> 4)) & 0x0F0F0F0F0F0F0F0Full;
    return (unsigned)((v * 0x0101010101010101ull) >> 56);
}

static inline uint64_t low_mask(size_t l) { return l >= 64 ? ~0ull : (1ull << l) - 1; }

#endif
