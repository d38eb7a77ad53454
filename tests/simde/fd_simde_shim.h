/* Force-included (-include) before csrc/isa/avx512.c by tests/simde/run.sh: SIMDe's portable
 * AVX-512 under the native intrinsic names, plus fill-ins for the few intrinsics older SIMDe
 * releases lack (each only when SIMDe does not define it). The fill-ins touch only the lanes
 * their mask selects, like the real masked loads and stores, so AddressSanitizer catches a
 * kernel whose tail mask is wrong. float16 conversions use csrc/kernels.h's fd_half_to_float /
 * fd_float_to_half (bit-exact F16C semantics, checked natively by the AVX2 path's tests). */
#ifndef FD_SIMDE_SHIM_H
#define FD_SIMDE_SHIM_H

#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <stdint.h>
#include <string.h>

#include "kernels.h"

#define FD_AVX512_EMULATED 1

/* mask types: older SIMDe has only the simde__mmask* names */
#if !defined(__mmask16) && !defined(_IMMINTRIN_H_INCLUDED) && !defined(__IMMINTRIN_H)
#define __mmask8 simde__mmask8
#define __mmask16 simde__mmask16
#define __mmask32 simde__mmask32
#define __mmask64 simde__mmask64
#endif

#define FD_SHIM static inline __attribute__((unused))

#ifndef _pdep_u64
FD_SHIM uint64_t fd_shim_pdep_u64(uint64_t src, uint64_t mask)
{
    uint64_t out = 0;
    for (uint64_t bb = 1; mask; bb += bb) {
        if (src & bb)
            out |= mask & -mask;
        mask &= mask - 1;
    }
    return out;
}
#define _pdep_u64(a, m) fd_shim_pdep_u64(a, m)
#endif

#ifndef _pext_u64
FD_SHIM uint64_t fd_shim_pext_u64(uint64_t src, uint64_t mask)
{
    uint64_t out = 0;
    for (uint64_t bb = 1; mask; bb += bb) {
        if (src & mask & -mask)
            out |= bb;
        mask &= mask - 1;
    }
    return out;
}
#define _pext_u64(a, m) fd_shim_pext_u64(a, m)
#endif

#ifndef _mm512_cmplt_epu32_mask
#define _mm512_cmplt_epu32_mask(a, b) ((simde__mmask16)~simde_mm512_cmpge_epu32_mask(a, b))
#endif

#ifndef _mm512_shuffle_epi32
FD_SHIM simde__m512i fd_shim_shuffle_epi32(simde__m512i a, int imm)
{
    uint32_t in[16], out[16];
    simde_mm512_storeu_si512((void *)in, a);
    for (int i = 0; i < 16; i++)
        out[i] = in[(i & ~3) + ((imm >> (2 * (i & 3))) & 3)];
    return simde_mm512_loadu_si512((const void *)out);
}
#define _mm512_shuffle_epi32(a, imm) fd_shim_shuffle_epi32(a, (int)(imm))
#endif

/* 128-bit lane shuffles of float vectors (the transposes): the integer one on the same bits */
#ifndef _mm512_shuffle_f32x4
#define _mm512_shuffle_f32x4(a, b, imm)                                                        \
    simde_mm512_castsi512_ps(simde_mm512_shuffle_i32x4(simde_mm512_castps_si512(a),            \
                                                       simde_mm512_castps_si512(b), imm))
#endif
#ifndef _mm512_shuffle_f64x2
#define _mm512_shuffle_f64x2(a, b, imm)                                                        \
    simde_mm512_castsi512_pd(simde_mm512_shuffle_i32x4(simde_mm512_castpd_si512(a),            \
                                                       simde_mm512_castpd_si512(b), imm))
#endif

/* masked loads: lanes outside k are zero and never read */
#define FD_SHIM_MASKZ_LOADU(NAME, VT, ET, N, LOADU)                                           \
    FD_SHIM VT fd_shim_##NAME(uint64_t k, const void *p)                                      \
    {                                                                                          \
        ET v[N];                                                                               \
        memset(v, 0, sizeof v);                                                                \
        for (int i = 0; i < N; i++)                                                            \
            if ((k >> i) & 1)                                                                  \
                memcpy(&v[i], (const char *)p + i * sizeof(ET), sizeof(ET));                   \
        return LOADU(v);                                                                       \
    }
/* masked stores: lanes outside k are never written */
#define FD_SHIM_MASK_STOREU(NAME, VT, ET, N, STOREU)                                          \
    FD_SHIM void fd_shim_##NAME(void *p, uint64_t k, VT a)                                    \
    {                                                                                          \
        ET v[N];                                                                               \
        STOREU(v, a);                                                                          \
        for (int i = 0; i < N; i++)                                                            \
            if ((k >> i) & 1)                                                                  \
                memcpy((char *)p + i * sizeof(ET), &v[i], sizeof(ET));                         \
    }

#define FD_SHIM_LD512(v) simde_mm512_loadu_si512((const void *)(v))
#define FD_SHIM_LD256(v) simde_mm256_loadu_si256((const void *)(v))
#define FD_SHIM_ST512(p, a) simde_mm512_storeu_si512((void *)(p), a)
#define FD_SHIM_ST256(p, a) simde_mm256_storeu_si256((void *)(p), a)

/* non-temporal stores: the same values as a store (the caching hint is not emulated) */
#ifndef _mm512_stream_ps
#define _mm512_stream_ps(p, v) simde_mm512_storeu_ps(p, v)
#endif
#ifndef _mm512_stream_pd
#define _mm512_stream_pd(p, v) simde_mm512_storeu_pd(p, v)
#endif

#ifndef _mm512_maskz_loadu_ps
FD_SHIM_MASKZ_LOADU(maskz_loadu_ps, simde__m512, float, 16, simde_mm512_loadu_ps)
#define _mm512_maskz_loadu_ps(k, p) fd_shim_maskz_loadu_ps(k, p)
#endif
#ifndef _mm512_maskz_loadu_pd
FD_SHIM_MASKZ_LOADU(maskz_loadu_pd, simde__m512d, double, 8, simde_mm512_loadu_pd)
#define _mm512_maskz_loadu_pd(k, p) fd_shim_maskz_loadu_pd(k, p)
#endif
#ifndef _mm512_maskz_loadu_epi32
FD_SHIM_MASKZ_LOADU(maskz_loadu_epi32, simde__m512i, uint32_t, 16, FD_SHIM_LD512)
#define _mm512_maskz_loadu_epi32(k, p) fd_shim_maskz_loadu_epi32(k, p)
#endif
#ifndef _mm512_maskz_loadu_epi16
FD_SHIM_MASKZ_LOADU(maskz_loadu_epi16, simde__m512i, uint16_t, 32, FD_SHIM_LD512)
#define _mm512_maskz_loadu_epi16(k, p) fd_shim_maskz_loadu_epi16(k, p)
#endif
#ifndef _mm256_maskz_loadu_epi16
FD_SHIM_MASKZ_LOADU(mm256_maskz_loadu_epi16, simde__m256i, uint16_t, 16, FD_SHIM_LD256)
#define _mm256_maskz_loadu_epi16(k, p) fd_shim_mm256_maskz_loadu_epi16(k, p)
#endif
#ifndef _mm512_mask_storeu_ps
FD_SHIM_MASK_STOREU(mask_storeu_ps, simde__m512, float, 16, simde_mm512_storeu_ps)
#define _mm512_mask_storeu_ps(p, k, a) fd_shim_mask_storeu_ps(p, k, a)
#endif
#ifndef _mm512_mask_storeu_pd
FD_SHIM_MASK_STOREU(mask_storeu_pd, simde__m512d, double, 8, simde_mm512_storeu_pd)
#define _mm512_mask_storeu_pd(p, k, a) fd_shim_mask_storeu_pd(p, k, a)
#endif
#ifndef _mm512_mask_storeu_epi32
FD_SHIM_MASK_STOREU(mask_storeu_epi32, simde__m512i, uint32_t, 16, FD_SHIM_ST512)
#define _mm512_mask_storeu_epi32(p, k, a) fd_shim_mask_storeu_epi32(p, k, a)
#endif
#ifndef _mm512_mask_storeu_epi16
FD_SHIM_MASK_STOREU(mask_storeu_epi16, simde__m512i, uint16_t, 32, FD_SHIM_ST512)
#define _mm512_mask_storeu_epi16(p, k, a) fd_shim_mask_storeu_epi16(p, k, a)
#endif
#ifndef _mm256_mask_storeu_epi16
FD_SHIM_MASK_STOREU(mm256_mask_storeu_epi16, simde__m256i, uint16_t, 16, FD_SHIM_ST256)
#define _mm256_mask_storeu_epi16(p, k, a) fd_shim_mm256_mask_storeu_epi16(p, k, a)
#endif

#ifndef _mm512_cvtph_ps
FD_SHIM simde__m512 fd_shim_cvtph_ps(simde__m256i h)
{
    uint16_t in[16];
    float out[16];
    simde_mm256_storeu_si256((void *)in, h);
    for (int i = 0; i < 16; i++)
        out[i] = fd_half_to_float(in[i]);
    return simde_mm512_loadu_ps(out);
}
#define _mm512_cvtph_ps(h) fd_shim_cvtph_ps(h)
#endif

#ifndef _mm512_cvtps_ph
/* only round-to-nearest-even is supported (all fastdrop uses) */
FD_SHIM simde__m256i fd_shim_cvtps_ph(simde__m512 v, int rounding)
{
    float in[16];
    uint16_t out[16];
    (void)rounding;
    simde_mm512_storeu_ps(in, v);
    for (int i = 0; i < 16; i++)
        out[i] = fd_float_to_half(in[i]);
    return simde_mm256_loadu_si256((const void *)out);
}
#define _mm512_cvtps_ph(v, r) fd_shim_cvtps_ph(v, r)
#endif

#ifndef _MM_FROUND_TO_NEAREST_INT
#define _MM_FROUND_TO_NEAREST_INT 0
#endif
#ifndef _MM_FROUND_NO_EXC
#define _MM_FROUND_NO_EXC 8
#endif

#endif
