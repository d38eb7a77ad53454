/* The AVX2 16x16 block transpose of 16-bit elements (whole 32-byte rows), included by avx2.c
 * and avx512.c (which has no wider 16-bit block) under their FD_TARGET. Only unpacks and lane
 * permutes: every bit pattern moves unchanged. */
#ifndef FASTDROP_U16X16_INL_H
#define FASTDROP_U16X16_INL_H

/* Rows s[0..7] (16 x 16-bit each) to out[j]: column j of the rows in the low 128-bit lane,
 * column j + 8 in the high one (the SSE2 8x8 transpose in each lane). */
FD_TARGET static inline void u16_8x16_lanes(const char *s, ptrdiff_t ss, __m256i out[8])
{
#define LD(k) _mm256_loadu_si256((const __m256i *)(s + (k) * ss))
    __m256i r0 = LD(0), r1 = LD(1), r2 = LD(2), r3 = LD(3), r4 = LD(4), r5 = LD(5), r6 = LD(6),
            r7 = LD(7);
#undef LD
    __m256i a0 = _mm256_unpacklo_epi16(r0, r1), a1 = _mm256_unpackhi_epi16(r0, r1);
    __m256i a2 = _mm256_unpacklo_epi16(r2, r3), a3 = _mm256_unpackhi_epi16(r2, r3);
    __m256i a4 = _mm256_unpacklo_epi16(r4, r5), a5 = _mm256_unpackhi_epi16(r4, r5);
    __m256i a6 = _mm256_unpacklo_epi16(r6, r7), a7 = _mm256_unpackhi_epi16(r6, r7);
    __m256i b0 = _mm256_unpacklo_epi32(a0, a2), b1 = _mm256_unpackhi_epi32(a0, a2);
    __m256i b2 = _mm256_unpacklo_epi32(a1, a3), b3 = _mm256_unpackhi_epi32(a1, a3);
    __m256i b4 = _mm256_unpacklo_epi32(a4, a6), b5 = _mm256_unpackhi_epi32(a4, a6);
    __m256i b6 = _mm256_unpacklo_epi32(a5, a7), b7 = _mm256_unpackhi_epi32(a5, a7);
    out[0] = _mm256_unpacklo_epi64(b0, b4);
    out[1] = _mm256_unpackhi_epi64(b0, b4);
    out[2] = _mm256_unpacklo_epi64(b1, b5);
    out[3] = _mm256_unpackhi_epi64(b1, b5);
    out[4] = _mm256_unpacklo_epi64(b2, b6);
    out[5] = _mm256_unpackhi_epi64(b2, b6);
    out[6] = _mm256_unpacklo_epi64(b3, b7);
    out[7] = _mm256_unpackhi_epi64(b3, b7);
}

FD_TARGET static inline void u16_16x16(const char *s, ptrdiff_t ss, char *d, ptrdiff_t ds)
{
    __m256i x[8], y[8];
    u16_8x16_lanes(s, ss, x);
    u16_8x16_lanes(s + 8 * ss, ss, y);
    for (int j = 0; j < 8; j++) {
        _mm256_storeu_si256((__m256i *)(d + j * ds), _mm256_permute2x128_si256(x[j], y[j], 0x20));
        _mm256_storeu_si256((__m256i *)(d + (j + 8) * ds),
                            _mm256_permute2x128_si256(x[j], y[j], 0x31));
    }
}

#endif
